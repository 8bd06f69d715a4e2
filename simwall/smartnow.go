package simwall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/scannersim"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/smartnow"
)

// The vouchers `tapagent sim --smartnow` seeds, with fixed codes so that
// a scenario, the dashboard and `voucher.scan` can use them.
const (
	// SimDiscountCode takes SimDiscountCents off any product.
	SimDiscountCode  = "SIM-DISCOUNT"
	SimDiscountCents = 200
	// SimFreeCode takes SimFreeCents off: a whole portion on the default
	// wall, which pours without payment.
	SimFreeCode  = "SIM-FREE"
	SimFreeCents = 2000
	// SimGiftCode is a gift voucher worth SimGiftCents.
	SimGiftCode  = "SIM-GIFT"
	SimGiftCents = 1000
	// SimFirstLineCode is a discount valid only for the first line's PLU.
	SimFirstLineCode = "SIM-LINE1"
	// SimVoucherCodes names them for the help text.
	SimVoucherCodes = SimDiscountCode + ", " + SimFreeCode + ", " + SimGiftCode + ", " + SimFirstLineCode
)

// simSmartNow is the SmartNow emulator a simulated run delivers to, and
// the simulated QR scanner on scanner_line.
type simSmartNow struct {
	srv     *snemu.Server
	url     string
	stop    func()
	scanner *scannersim.Scanner
}

// simHostname is the machine's hostname in SmartNow: the configured one,
// else one made from the device id.
func simHostname(cfg *config.Config) string {
	if cfg.SmartNow.Hostname != "" {
		return cfg.SmartNow.Hostname
	}
	return fmt.Sprintf("tapagent-%d", cfg.Device.ID)
}

// startSmartNow starts the sim/smartnow emulator on loopback, seeds the
// machine (the config's hostname), its assortment from the lines (PLU,
// name, price) and the vouchers above, and points [smartnow] at it with
// vouchers on, in place of any [smartnow] url configured.
func startSmartNow(ctx context.Context, cfg *config.Config, log *slog.Logger) (*simSmartNow, error) {
	host := simHostname(cfg)
	id := max(cfg.SmartNow.MachineID, 1)
	products := make([]snemu.Product, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		products = append(products, snemu.Product{PLU: int64(l.PLU), Name: l.Product, Price: l.Price, Machine: id})
	}
	srv, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: id, Name: cfg.Device.Name, Hostname: host, Active: 1}},
		Products: products, Log: log})
	if err != nil {
		return nil, fmt.Errorf("smartnow emulator: %w", err)
	}
	url, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smartnow emulator: %w", err)
	}
	s := &simSmartNow{srv: srv, url: url, stop: stop}
	sn := &cfg.SmartNow
	sn.URL, sn.Hostname, sn.MachineID, sn.Vouchers = url, host, id, true
	if sn.Username == "" {
		sn.Username, sn.Password = "tapagent", "tapagent" // the emulator's default user
	}
	if sn.CommandPoll == config.Base().SmartNow.CommandPoll {
		// A bench run lasts a minute: commands queued by the scenario are
		// fetched within 2 s, not at the shipped 15 s.
		sn.CommandPoll.Duration = 2 * time.Second
	}
	if sn.ScannerLine == 0 && len(cfg.Lines) > 0 {
		sn.ScannerLine = cfg.Lines[0].ID
	}
	if err := s.seed(ctx, cfg); err != nil {
		stop()
		return nil, err
	}
	if sn.Scanner == "" {
		if err := s.plugScanner(cfg); err != nil {
			stop()
			return nil, err
		}
	}
	return s, nil
}

// seed makes a discount and a gift campaign and the fixed-code vouchers,
// through the emulator's own API as an operator would.
func (s *simSmartNow) seed(ctx context.Context, cfg *config.Config) error {
	c := smartnow.NewClient(smartnow.Config{BaseURL: s.url, Username: cfg.SmartNow.Username, Password: cfg.SmartNow.Password,
		Timeout: 5 * time.Second})
	discount, err := s.campaign(ctx, c, "Simulated discount", smartnow.CampaignDiscount, SimDiscountCents)
	if err != nil {
		return err
	}
	gift, err := s.campaign(ctx, c, "Simulated gift", smartnow.CampaignGift, SimGiftCents)
	if err != nil {
		return err
	}
	first := ""
	if len(cfg.Lines) > 0 {
		first = fmt.Sprint(cfg.Lines[0].PLU)
	}
	for _, v := range []snemu.VoucherRequest{
		{Campaign: &discount, Type: smartnow.CampaignDiscount, Value: ptr(int64(SimDiscountCents)), Code: SimDiscountCode},
		{Campaign: &discount, Type: smartnow.CampaignDiscount, Value: ptr(int64(SimFreeCents)), Code: SimFreeCode},
		{Campaign: &gift, Type: smartnow.CampaignGift, Value: ptr(int64(SimGiftCents)), Code: SimGiftCode},
		{Campaign: &discount, Type: smartnow.CampaignDiscount, Value: ptr(int64(SimDiscountCents)), Code: SimFirstLineCode,
			ValidationRules: []snemu.Rule{{Field: "product", Value: first}}},
	} {
		if _, err := s.create(ctx, c, "/voucher", v); err != nil && !errors.Is(err, smartnow.ErrMalformed) {
			return fmt.Errorf("smartnow emulator: voucher %s: %w", v.Code, err)
		}
	}
	return seedMachine(ctx, c, cfg)
}

func (s *simSmartNow) campaign(ctx context.Context, c *smartnow.Client, name, typ string, value int64) (int64, error) {
	id, err := s.create(ctx, c, "/campaign", snemu.CampaignRequest{Name: name, Type: typ, TotalVouchers: ptr(int64(0)),
		VoucherValue: &value})
	if err != nil {
		return 0, fmt.Errorf("smartnow emulator: campaign %q: %w", name, err)
	}
	return id, nil
}

// create POSTs body to path and returns the new resource's id (a
// voucher's id is a string, which it reports as ErrMalformed).
func (s *simSmartNow) create(ctx context.Context, c *smartnow.Client, path string, body any) (int64, error) {
	status, raw, err := c.Call(ctx, http.MethodPost, path, body)
	if err != nil {
		return 0, err
	}
	if status != http.StatusCreated {
		return 0, &smartnow.HTTPError{Status: status, Path: path, Message: smartnow.DecodeMessage(raw)}
	}
	created, err := smartnow.DecodeCreated(raw)
	return created.ID, err
}

// summarise puts the emulator and its redemptions into the summary.
func (s *simSmartNow) summarise(sum *Summary) {
	if s != nil {
		sum.Clouds = append(sum.Clouds, fmt.Sprintf("SmartNow emulator %s: %s, %s, %s redeemed", s.url,
			flow.Count(len(s.srv.RevenueTransactions()), "revenue transaction", "revenue transactions"),
			flow.Count(len(s.srv.Logs()), "log", "logs"), flow.Count(s.redeemed(), "voucher", "vouchers")))
	}
}

// plugScanner puts a simulated QR scanner on a pseudo-terminal named
// <data_dir>/scanner and points [smartnow] scanner at it: the agent opens
// it by name through transport, as a real one.
func (s *simSmartNow) plugScanner(cfg *config.Config) error {
	if err := os.MkdirAll(cfg.Device.DataDir, 0o750); err != nil {
		return fmt.Errorf("simulated scanner: %w", err)
	}
	path := filepath.Join(cfg.Device.DataDir, "scanner")
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		_ = os.Remove(path) // a link a killed run left behind
	}
	sc, err := scannersim.New(path)
	if err != nil {
		return fmt.Errorf("simulated scanner: %w", err)
	}
	s.scanner, cfg.SmartNow.Scanner = sc, path
	return nil
}

// close stops the emulator and unplugs the scanner.
func (s *simSmartNow) close() {
	if s != nil {
		if s.scanner != nil {
			s.scanner.Close()
		}
		s.stop()
	}
}

// terminators are a scenario's names for what a scanner ends a code with.
var terminators = map[string]string{"": scannersim.CR, "cr": scannersim.CR, "crlf": scannersim.CRLF, "lf": scannersim.LF}

// redeemed counts the voucher redemptions SmartNow recorded.
func (s *simSmartNow) redeemed() int {
	n := 0
	for _, v := range s.srv.Vouchers() {
		n += int(v.TotalRedemptionCount)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// voucher plays a scenario's voucher step: the code scanned at the line,
// through the one path the scanner, MQTT and the dashboard take.
func (r *runner) voucher(st sim.Step) error {
	v := r.asm.Vouchers()
	if v == nil {
		return errors.New("no vouchers: run with --smartnow, or set [smartnow] url and vouchers")
	}
	if st.Via == "scanner" {
		return r.typeVoucher(st)
	}
	ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
	defer cancel()
	if err := v.Scan(ctx, st.Line, st.Code, "scenario"); err != nil {
		return fmt.Errorf("%w: %w", errReported, err) // the agent reported voucher_refused
	}
	return nil
}

// typeVoucher types a scenario's code on the simulated scanner: the agent
// reads it from the port, in real time.
func (r *runner) typeVoucher(st sim.Step) error {
	if r.sn == nil || r.sn.scanner == nil {
		return errors.New("no simulated scanner: run with --smartnow and no [smartnow] scanner")
	}
	if st.Line != r.cfg.SmartNow.ScannerLine {
		return fmt.Errorf("the scanner arms line %d (scanner_line)", r.cfg.SmartNow.ScannerLine)
	}
	return r.sn.scanner.Type(st.Code, terminators[st.Terminator])
}
