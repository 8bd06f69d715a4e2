// Package voucherpay pays for tap portions with SmartNow vouchers. A
// code (from the QR/barcode scanner, the signed MQTT command voucher.scan
// or the dashboard; all three call Service.Scan) is validated with
// SmartNow for this machine and locked to it for the hold plus the longest
// pour; the offer (smartnow.Apply against the line's PLU) prices the
// line's portion. Fully covered, the portion pours at once, booked with
// the voucher's references; the SmartNow sink redeems it from the outbox
// (durably, pro rata for a portion that ended short). Not fully covered,
// the line's MDB terminal asks the remainder within the hold (the
// terminal takes the armed voucher with TakeVoucher); a line without a
// terminal refuses. docs/clouds.md, "Vouchers at the tap".
package voucherpay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// Wall is what vouchers need of the wall core.
type Wall interface {
	Authorise(line int, r device.Request) (string, error)
	PortionPrice(line int, vol flow.Vol) (int64, error)
	CanPour(line int) string
	Report(ev device.Event)
}

// Validator asks SmartNow about a voucher (smartnow.Client).
type Validator interface {
	Validate(ctx context.Context, code, deviceID string, lock time.Duration, demand int64) (smartnow.Voucher, error)
}

// Options configure the voucher service.
type Options struct {
	Config config.SmartNow
	// PLUs maps each line to its PLU; Terminal lists the lines an MDB
	// terminal sells (a partial voucher is paid there).
	PLUs     map[int]int
	Terminal []int
	// LongestPour is added to the hold for SmartNow's lock: a pour armed at
	// the end of the hold may run this long (auth timeout, max duration,
	// settle time of the slowest line).
	LongestPour time.Duration
	Wall        Wall
	SmartNow    Validator
	// Pending says whether a record paid with code still waits for the
	// SmartNow sink (not redeemed yet): the code is refused until then.
	Pending func(code string) (bool, error)
	// Journal keeps the offline pours durably (the store); nil keeps
	// them in memory only.
	Journal Journal
	Now     func() time.Time
	Log     *slog.Logger
}

// Service arms lines with vouchers. It is safe for concurrent use.
type Service struct {
	o    Options
	lock time.Duration

	// scan runs one scan at a time: the checks that a code and a line are
	// free and the arm or pour that takes them are one step, so the
	// scanner and a dashboard user cannot both spend one code. Scans come
	// at human pace; one waits at most for the other's validate.
	scan sync.Mutex

	mu    sync.Mutex
	armed map[int]arm          // by line, waiting for the terminal
	inUse map[string]time.Time // code → until: armed or pouring here
	// offline pours within the last hour, and codes seen offline.
	offlinePours []time.Time
	offlineSeen  map[string]bool
	// guesses are the recent refusals per source (guesses.go).
	guesses map[string]*guesser
}

// arm is a voucher waiting for the terminal's remainder.
type arm struct {
	v     terminalsale.Voucher
	until time.Time
	via   string
}

// Bounds on what is remembered: more codes than this in use or seen
// offline at once drops the oldest.
const maxCodes = 4096

// New builds the service; Run expires arms.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Pending == nil {
		o.Pending = func(string) (bool, error) { return false, nil }
	}
	return &Service{o: o, lock: o.Config.VoucherHold.Duration + o.LongestPour,
		armed: map[int]arm{}, inUse: map[string]time.Time{}, offlineSeen: map[string]bool{},
		guesses: map[string]*guesser{}}
}

// Lock is how long SmartNow locks a validated voucher to this machine.
func (s *Service) Lock() time.Duration { return s.lock }

// ErrRefused wraps every refusal Scan reports as voucher_refused.
var ErrRefused = errors.New("voucher refused")

// refusal reports a voucher_refused event and returns its error.
func (s *Service) refusal(line int, code, reason string) error {
	detail := reason
	if code != "" {
		detail = Mask(code) + ": " + reason
	}
	s.o.Wall.Report(device.Event{Type: device.EventVoucherRefused, Line: line, Reason: reason, Detail: detail})
	return fmt.Errorf("%w: %s", ErrRefused, reason)
}

// Scan is what a scanned, sent or typed code does on a line: validated
// with SmartNow and priced, it pours at once, arms the line for the
// terminal's remainder, or is refused with the reason (voucher_refused).
// via names where it came from (scanner, mqtt, web:user, scenario): the
// source whose refused codes are counted (guesses.go). A caller gone
// before the scan (a cancelled ctx) is refused; once asked, SmartNow is
// asked under the service's own deadline ([smartnow] timeout), so a
// dropped request changes nothing.
func (s *Service) Scan(ctx context.Context, line int, raw, via string) error {
	s.scan.Lock()
	defer s.scan.Unlock()
	if err := ctx.Err(); err != nil {
		return s.refusal(line, "", "the request was cancelled: "+err.Error())
	}
	code, err := CleanCode(raw)
	if err != nil {
		return s.refusal(line, "", err.Error())
	}
	if why := s.guessLocked(via, s.o.Now()); why != "" {
		return s.refusal(line, code, why)
	}
	plu, ok := s.o.PLUs[line]
	if !ok {
		return s.refusal(line, code, fmt.Sprintf("no line %d", line))
	}
	if why := s.busy(line, code); why != "" {
		return s.refusal(line, code, why)
	}
	if why := s.o.Wall.CanPour(line); why != "" {
		return s.refusal(line, code, why)
	}
	portion := flow.Vol(s.o.Config.VoucherPortionML*10 + 0.5)
	original, err := s.o.Wall.PortionPrice(line, portion)
	if err != nil {
		return s.refusal(line, code, err.Error())
	}
	v, err := s.validate(ctx, code, original)
	if unreachable(err) {
		return s.offline(line, code, portion, original, via, err)
	}
	if err != nil {
		return s.refused(line, code, via, err)
	}
	offer, err := smartnow.Apply(v, plu, original)
	if err != nil {
		return s.refusal(line, code, reason(err))
	}
	ref := storage.Ref{Voucher: code, VoucherType: v.CampaignType, OriginalPrice: strconv.FormatInt(original, 10)}
	if offer.Price == 0 {
		return s.pour(line, code, v.CampaignType, portion, ref, fmt.Sprintf("%s: %s fully covered", via, describe(v, offer)))
	}
	if !slices.Contains(s.o.Terminal, line) {
		return s.refusal(line, code, fmt.Sprintf("the voucher covers %d of %d and line %d has no card terminal for the rest", original-offer.Price, original, line))
	}
	return s.arm(line, code, via, terminalsale.Voucher{Code: code, Type: v.CampaignType, Original: original, Price: offer.Price, Portion: portion}, describe(v, offer))
}

// validate asks SmartNow about code under the service's own deadline,
// detached from the caller's (ctx's values are kept). A reply about
// another code is malformed, whatever the Validator is.
func (s *Service) validate(ctx context.Context, code string, demand int64) (smartnow.Voucher, error) {
	timeout := s.o.Config.Timeout.Duration
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	v, err := s.o.SmartNow.Validate(vctx, code, s.o.Config.Hostname, s.lock, demand)
	if err == nil && v.Code != "" && v.Code != code {
		return smartnow.Voucher{}, fmt.Errorf("%w: the reply is about voucher %s, not %s", smartnow.ErrMalformed, Mask(v.Code), Mask(code))
	}
	return v, err
}

// defaultTimeout bounds a validate when [smartnow] timeout is unset (the
// configuration's default).
const defaultTimeout = 10 * time.Second

// refused reports SmartNow's refusal of code; a refusal (unknown, not
// valid) counts against the source, whose lockout, once it starts, is
// reported as a voucher_refused of its own.
func (s *Service) refused(line int, code, via string, err error) error {
	var ref *smartnow.Refusal
	if !errors.As(err, &ref) {
		return s.refusal(line, code, reason(err))
	}
	now := s.o.Now()
	if lock := s.guessRefused(via, now); lock > 0 {
		s.o.Log.Warn("voucher codes refused repeatedly; source locked out", "via", via, "for", lock)
		s.o.Wall.Report(device.Event{Type: device.EventVoucherRefused, Line: line, Reason: "too many unknown or invalid codes",
			Detail: fmt.Sprintf("%d codes from %s refused within %s: no codes taken from it for %s", GuessesPerWindow, via, GuessWindow, lock)})
	}
	return s.refusal(line, code, reason(err))
}

// busy says why a code or line cannot take a voucher now: the line armed
// already, the code armed or pouring here, or its last pour here not yet
// redeemed in SmartNow (it would validate as unused again).
func (s *Service) busy(line int, code string) string {
	s.mu.Lock()
	now := s.o.Now()
	until, used := s.inUse[code]
	a, armed := s.armed[line]
	s.mu.Unlock()
	switch {
	case used && now.Before(until):
		return "this voucher is in use here already (one voucher, one pour)"
	case armed && now.Before(a.until):
		return fmt.Sprintf("line %d is armed by another voucher already", line)
	}
	pending, err := s.o.Pending(code)
	switch {
	case err != nil:
		return "outbox not readable: " + err.Error()
	case pending:
		return "this voucher's last pour here is not redeemed in SmartNow yet"
	}
	return ""
}

// pour opens the line for a fully covered portion booked with ref.
func (s *Service) pour(line int, code, kind string, portion flow.Vol, ref storage.Ref, detail string) error {
	s.use(code, s.o.Now().Add(s.lock))
	id, err := s.o.Wall.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: portion}, Ref: ref})
	if err != nil {
		s.release(code)
		return s.refusal(line, code, err.Error())
	}
	s.o.Wall.Report(device.Event{Type: device.EventVoucherAccepted, Line: line, PourID: id, Kind: kind,
		Detail: Mask(code) + " " + detail})
	return nil
}

// arm keeps the line armed for the terminal's remainder until the hold
// ends.
func (s *Service) arm(line int, code, via string, v terminalsale.Voucher, offer string) error {
	until := s.o.Now().Add(s.o.Config.VoucherHold.Duration)
	s.mu.Lock()
	s.armed[line] = arm{v: v, until: until, via: via}
	s.mu.Unlock()
	s.use(code, until)
	s.o.Wall.Report(device.Event{Type: device.EventVoucherAccepted, Line: line, Amount: v.Price, Kind: v.Type,
		Detail: fmt.Sprintf("%s %s: %s; pay %d at the card terminal within %s", Mask(code), via, offer, v.Price, s.o.Config.VoucherHold.Duration)})
	return nil
}

// TakeVoucher hands the terminal the voucher armed for line, once: its
// VEND REQUEST asks the remainder (terminalsale.Vouchers). The code stays
// in use for SmartNow's lock, whatever the vend does.
func (s *Service) TakeVoucher(line int) (terminalsale.Voucher, bool) {
	s.mu.Lock()
	a, ok := s.armed[line]
	now := s.o.Now()
	if ok {
		delete(s.armed, line)
	}
	s.mu.Unlock()
	if !ok {
		return terminalsale.Voucher{}, false
	}
	if !now.Before(a.until) {
		s.release(a.v.Code)
		s.expired(line)
		return terminalsale.Voucher{}, false
	}
	s.use(a.v.Code, now.Add(s.lock))
	return a.v, true
}

// Sweep expires arms whose hold has passed (voucher_expired) and forgets
// codes no longer in use. Run calls it every second.
func (s *Service) Sweep() {
	now := s.o.Now()
	var expired []int
	s.mu.Lock()
	for l, a := range s.armed {
		if !now.Before(a.until) {
			expired = append(expired, l)
			delete(s.armed, l)
			delete(s.inUse, a.v.Code)
		}
	}
	for c, until := range s.inUse {
		if !now.Before(until) {
			delete(s.inUse, c)
		}
	}
	cut := now.Add(-time.Hour)
	s.offlinePours = slices.DeleteFunc(s.offlinePours, func(t time.Time) bool { return t.Before(cut) })
	s.mu.Unlock()
	slices.Sort(expired)
	for _, l := range expired {
		s.expired(l)
	}
}

// expired reports a line's arm gone unpaid.
func (s *Service) expired(line int) {
	s.o.Wall.Report(device.Event{Type: device.EventVoucherExpired, Line: line,
		Detail: fmt.Sprintf("not paid at the card terminal within %s; the voucher stays unredeemed", s.o.Config.VoucherHold.Duration)})
}

// Run sweeps until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

func (s *Service) use(code string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inUse) >= maxCodes {
		dropOldest(s.inUse)
	}
	s.inUse[code] = until
}

func (s *Service) release(code string) {
	s.mu.Lock()
	delete(s.inUse, code)
	s.mu.Unlock()
}

func dropOldest(m map[string]time.Time) {
	var oldest string
	var at time.Time
	for c, t := range m {
		if oldest == "" || t.Before(at) {
			oldest, at = c, t
		}
	}
	delete(m, oldest)
}

// offline is a voucher SmartNow could not be asked about: refused (the
// default), or with offline = "accept" poured as fully covered and booked
// for the sink to validate and redeem later, at most offline_max an hour
// and once per code.
func (s *Service) offline(line int, code string, portion flow.Vol, original int64, via string, cause error) error {
	s.o.Log.Info("smartnow unreachable for a voucher", "line", line, "err", cause)
	if s.o.Config.Offline != "accept" {
		return s.refusal(line, code, ReasonUnreachable)
	}
	s.mu.Lock()
	now := s.o.Now()
	cut := now.Add(-time.Hour)
	s.offlinePours = slices.DeleteFunc(s.offlinePours, func(t time.Time) bool { return t.Before(cut) })
	why := ""
	switch {
	case s.offlineSeen[code]:
		why = ReasonUnreachable + "; this voucher was used offline already"
	case len(s.offlinePours) >= s.o.Config.OfflineMax:
		why = fmt.Sprintf("%s; %d offline voucher pours this hour is the limit", ReasonUnreachable, s.o.Config.OfflineMax)
	default:
		if len(s.offlineSeen) >= maxCodes {
			clear(s.offlineSeen) // bounded; the hourly limit still holds
		}
		s.offlineSeen[code] = true
		s.offlinePours = append(s.offlinePours, now)
	}
	s.mu.Unlock()
	if why != "" {
		return s.refusal(line, code, why)
	}
	if err := s.recordOffline(now, code); err != nil {
		return s.refusal(line, code, ReasonUnreachable+"; the offline pour could not be recorded: "+err.Error())
	}
	// The sink checks the product rules when it validates, later.
	ref := storage.Ref{Voucher: code, OriginalPrice: strconv.FormatInt(original, 10), VoucherOffline: "1"}
	return s.pour(line, code, "", portion, ref, via+": SmartNow unreachable, poured offline (validated and redeemed later)")
}

// ReasonUnreachable is the refusal while SmartNow cannot be reached.
const ReasonUnreachable = "SmartNow unreachable"

// unreachable says whether err means SmartNow could not be asked: a
// network error, a timeout or a 5xx (not a refusal, nor a 4xx, nor a
// cancelled request: the service's own deadline is the only deadline a
// validate has, so a context.Canceled is a stop, never an outage).
func unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ref *smartnow.Refusal
	if errors.As(err, &ref) || errors.Is(err, smartnow.ErrMalformed) {
		return false
	}
	var he *smartnow.HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500
	}
	return true
}

// reason is a refusal's reason for people.
func reason(err error) string {
	var ref *smartnow.Refusal
	if errors.As(err, &ref) {
		return ref.Reason
	}
	var he *smartnow.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("SmartNow answered HTTP %d: %s", he.Status, he.Message)
	}
	return err.Error()
}

// describe is the offer for the accepted event.
func describe(v smartnow.Voucher, o smartnow.Offer) string {
	return fmt.Sprintf("%s, %d off %d", v.CampaignType, o.Original-o.Price, o.Original)
}

// Mask hides a code but its last 4 characters, for events and logs.
func Mask(code string) string { return smartnow.MaskCode(code) }

// MaxCode is the longest code taken (a scanner line's cap too).
const MaxCode = 64

// CleanCode checks a code: 1 to MaxCode printable ASCII characters, no
// spaces (surrounding ones are trimmed).
func CleanCode(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("empty code")
	case len(s) > MaxCode:
		return "", fmt.Errorf("code longer than %d characters", MaxCode)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", errors.New("unreadable code (not printable ASCII)")
		}
	}
	return s, nil
}
