package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/transport"
	"github.com/tapagent/tapagent/ttg"
)

const cardUsage = `tapagent card COMMAND --config FILE [--port DEV] [flags]

  read                     UID (hex and decimal), type, name, credit, servings, expiry
  issue --type N --name S [--credit C] [--servings-limit N] [--expires YYYY-MM-DD] [--alcohol]
                           create tapagent's application on a card (types: 1 PRE, 2 BILL,
                           3 ADMIN, 4 STAFF, 6 INSTALL, 7 MANAGER, 10 CLEAN, 11 ONLINE PRE,
                           12 ONLINE BILL)
  topup --amount C         add credit (minor units) to a prepaid card
  upgrade                  add the last-pour file (file 4) to a card issued without it
                           (issuer key); nothing else on the card changes
  erase                    remove tapagent's application
  format                   delete every application on the card (PICC master key)
  settle --uid HEX [--paid|--unpaid|--collect]
                           show the card journal's unsettled charge for a card (no
                           flag), or resolve it: paid (nothing more to collect), unpaid
                           (written off), collect (charged at the card's next tap);
                           logged as card_charge_staff_settled. No reader needed; goes
                           through the running agent (its local API), else its database

The card is waited for on the reader of [reader] (or --port). Keys come from [cards].
Each action books the card-purchase record for the server in the data directory; actions
the TTG API has no call for (offline cards) go to card-actions.jsonl there instead.`

// cardOpts are the flags of every card command.
type cardOpts struct {
	cfgPath, port, data, staff string
	wait                       time.Duration
	asJSON                     bool
	typ, servingsLimit         int
	name, expires              string
	credit, amount             int64
	alcohol                    bool
	uid                        string
	paid, unpaid, collect      bool
}

func cmdCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, cardUsage)
	}
	sub := args[0]
	var o cardOpts
	fs := flag.NewFlagSet("card "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.port, "port", "", "reader serial port (default: reader.port)")
	fs.StringVar(&o.data, "data", "", "data directory for the records (default: device.data_dir)")
	fs.StringVar(&o.staff, "staff", "field tool", "staff name on the records")
	fs.DurationVar(&o.wait, "wait", 15*time.Second, "how long to wait for a card")
	fs.BoolVar(&o.asJSON, "json", false, "JSON output (read)")
	fs.IntVar(&o.typ, "type", ttg.CardPre, "issue: card type")
	fs.StringVar(&o.name, "name", "", "issue: customer or staff name")
	fs.Int64Var(&o.credit, "credit", 0, "issue: starting credit (minor units)")
	fs.IntVar(&o.servingsLimit, "servings-limit", 0, "issue: servings before staff must re-activate (0 none)")
	fs.StringVar(&o.expires, "expires", "", "issue: last valid day, YYYY-MM-DD")
	fs.BoolVar(&o.alcohol, "alcohol", false, "issue: alcohol allowed")
	fs.Int64Var(&o.amount, "amount", 0, "topup: amount (minor units)")
	fs.StringVar(&o.uid, "uid", "", "settle: the card's UID in hex (as card read shows it)")
	fs.BoolVar(&o.paid, "paid", false, "settle: the pour is paid; nothing more is collected")
	fs.BoolVar(&o.unpaid, "unpaid", false, "settle: the pour stays unpaid (written off)")
	fs.BoolVar(&o.collect, "collect", false, "settle: charge the amount at the card's next tap")
	reader := []string{"port", "wait", "data", "staff"}
	own, ok := map[string][]string{
		"read":    {"port", "wait", "json"},
		"issue":   append(reader, "type", "name", "credit", "servings-limit", "expires", "alcohol"),
		"topup":   append(reader, "amount"),
		"upgrade": {"port", "wait"},
		"erase":   reader,
		"format":  reader,
		"settle":  {"data", "staff", "uid", "paid", "unpaid", "collect"},
	}[sub]
	if !ok {
		fmt.Fprintln(stderr, cardUsage)
		return fmt.Errorf("%w: unknown card command %q", errUsage, sub)
	}
	cfg, path, err := loadAgentConfig(onlyFlags(fs, own...), args[1:])
	if err != nil {
		return err
	}
	o.cfgPath = path
	if o.data == "" {
		o.data = cfg.Device.DataDir
	}
	if sub == "settle" { // the journal only: no reader, no keys
		return cardSettle(time.Now(), cardTool{cfg: cfg, o: o, out: stdout})
	}
	keys, err := cardpay.Keys(cfg.Cards)
	if err != nil {
		return err
	}
	run := map[string]func(context.Context, *cardapp.Session, cardTool) error{
		"read": cardRead, "issue": cardIssue, "topup": cardTopUp, "erase": cardErase, "format": cardFormat,
		"upgrade": cardUpgrade,
	}[sub]
	d, _, err := transport.OpenReader(ctx, cfg.Reader, o.port)
	if err != nil {
		if cfg.Reader.Port == "" && cfg.Reader.I2C == "" && o.port == "" {
			return fmt.Errorf("%w: no reader: set [reader] port or pass --port", errUsage)
		}
		return err
	}
	defer d.Close()
	s, err := waitCard(ctx, d, keys, cfg.Cards.ISOWrap, o.wait)
	if err != nil {
		return err
	}
	defer d.Release(context.Background(), 0)
	return run(ctx, s, cardTool{cfg: cfg, o: o, out: stdout})
}

// cardTool is what a card command works with.
type cardTool struct {
	cfg *config.Config
	o   cardOpts
	out io.Writer
}

// waitCard waits for a DESFire card in the field, the PN532 polling by
// itself (it answers the moment a card lands).
func waitCard(ctx context.Context, d *pn532.Device, keys cardapp.Keys, wrap bool, wait time.Duration) (*cardapp.Session, error) {
	if err := d.SetRetries(ctx, 0xFF); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return nil, errors.New("no card on the reader")
		}
		tg, ok, err := d.WaitTarget(ctx, min(left, time.Second))
		if err != nil {
			return nil, err
		}
		if ok {
			if !tg.DESFire() {
				return nil, fmt.Errorf("the card is not a DESFire (ATQA %02X %02X, SAK %02X)", tg.ATQA[0], tg.ATQA[1], tg.SAK)
			}
			c := desfire.New(pn532.Card{D: d, Tg: tg.Tg})
			c.Wrap = wrap
			return &cardapp.Session{C: c, UID: tg.UID, Keys: keys}, nil
		}
	}
}

func cardRead(ctx context.Context, s *cardapp.Session, t cardTool) error {
	c, err := s.Read(ctx)
	if err != nil {
		return err
	}
	dec, err := cardapp.UIDDecimal(c.UID, t.cfg.Cards.UIDOrder)
	if err != nil {
		return err
	}
	out := map[string]any{"uid": strings.ToUpper(hex.EncodeToString(c.UID)), "card_id": dec, "type": c.Info.Type,
		"type_name": ttg.CardTypeName(c.Info.Type), "name": c.Info.Name, "credit": c.Credit, "servings": c.Servings,
		"servings_limit": c.Info.ServingsLimit, "alcohol_allowed": c.Info.Alcohol, "expires": ""}
	if !c.Info.Expires.IsZero() {
		out["expires"] = c.Info.Expires.Format(time.DateOnly)
	}
	if t.o.asJSON {
		return json.NewEncoder(t.out).Encode(out)
	}
	keys := []string{"uid", "card_id", "type_name", "name", "credit", "servings", "servings_limit", "alcohol_allowed", "expires"}
	if c.LastPourFile {
		last := c.Last
		if !c.LastRead {
			if last, err = s.LastPours(ctx); err != nil {
				return err
			}
		}
		out["last_pours"] = map[string]any{"charges": last.Charges, "ids": last.IDs}
		out["last_pours_text"] = fmt.Sprintf("%d charges, newest %s", last.Charges, strings.Join(last.IDs, " "))
		keys = append(keys, "last_pours")
	}
	if t.o.asJSON {
		delete(out, "last_pours_text")
		return json.NewEncoder(t.out).Encode(out)
	}
	for _, k := range keys {
		v := out[k]
		if k == "last_pours" {
			v = out["last_pours_text"]
		}
		fmt.Fprintf(t.out, "%-16s %v\n", k, v)
	}
	return nil
}

// storeConfig is the configuration with the data directory --data names:
// the tool opens the agent's database as the agent does (its storage
// settings: the sinks, the event log's max_events), never with defaults.
func (t cardTool) storeConfig() *config.Config {
	c := *t.cfg
	c.Device.DataDir = t.o.data
	return &c
}

// cardSettle shows or resolves a card's unsettled charge in the card
// journal: through the running agent's local API, else on the database.
func cardSettle(now time.Time, t cardTool) error {
	raw, err := hex.DecodeString(strings.TrimSpace(t.o.uid))
	if err != nil || len(raw) == 0 {
		return fmt.Errorf("%w: --uid needs the card's UID in hex (tapagent card read shows it)", errUsage)
	}
	uid := hex.EncodeToString(raw)
	var d cardpay.Decision
	n := 0
	for _, f := range []struct {
		set bool
		d   cardpay.Decision
	}{{t.o.paid, cardpay.DecidedPaid}, {t.o.unpaid, cardpay.DecidedUnpaid}, {t.o.collect, cardpay.DecidedCollect}} {
		if f.set {
			d, n = f.d, n+1
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: one of --paid, --unpaid, --collect", errUsage)
	}
	cfg := t.storeConfig()
	if c, err := agentClient(context.Background(), cfg); err == nil {
		return cardSettleRunning(c, uid, d, n > 0, t)
	}
	path := storePath(cfg)
	open := openExistingStore // to settle: only a database that exists
	if n == 0 {
		open = openStoreReadOnly // to look
	}
	st, err := open(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("the card journal is in %s, whose lock the running agent holds: stop the agent to settle a card (%w)", path, err)
	}
	if err != nil {
		return fmt.Errorf("opening the card journal: %w", err)
	}
	defer st.Close()
	e, found, err := cardpay.Journal(st, uid)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("card %s: %w", strings.ToUpper(uid), cardpay.ErrNoEntry)
	}
	printJournal(t.out, uid, e, t.cfg.Device.Money)
	if n == 0 {
		return nil
	}
	if _, err := cardpay.SettleByStaff(st, uid, t.cfg.Cards.UIDOrder, d, t.o.staff, now); err != nil {
		return err
	}
	fmt.Fprintf(t.out, "settled as %s by %s\n", d, t.o.staff)
	return nil
}

// cardSettleRunning is cardSettle through the running agent's local API.
func cardSettleRunning(c *localapi.Client, uid string, d cardpay.Decision, decide bool, t cardTool) error {
	ctx := context.Background()
	e, err := c.CardJournal(ctx, uid)
	if err != nil {
		return fmt.Errorf("card %s: %w", strings.ToUpper(uid), err)
	}
	printJournal(t.out, uid, e, t.cfg.Device.Money)
	if !decide {
		return nil
	}
	if _, err := c.CardSettle(ctx, uid, d, t.o.staff); err != nil {
		return err
	}
	fmt.Fprintf(t.out, "settled as %s by %s\n", d, t.o.staff)
	return nil
}

// printJournal shows a card's journal entry, money in the wall's currency.
func printJournal(w io.Writer, uid string, e cardpay.Entry, money func(int64) string) {
	fmt.Fprintf(w, "card %s: pour %s, %s, amount %s, servings %d; credit before %s, servings before %d\n",
		strings.ToUpper(uid), e.PourID, e.State, money(e.Amount), e.Servings, money(e.CreditBefore), e.ServingsBefore)
}

// purchaseTypes maps card types to the TTG card-purchase actions.
var purchaseTypes = map[int]struct{ create, topup, erase int }{
	ttg.CardPre: {11, 13, 99}, ttg.CardBill: {21, 0, 99}, ttg.CardAdmin: {31, 0, 100}, ttg.CardStaff: {41, 0, 100},
	ttg.CardClean: {51, 0, 100}, ttg.CardInstall: {61, 0, 100}, ttg.CardManager: {71, 0, 100},
	ttg.CardOnlinePre: {111, 113, 199}, ttg.CardOnlineBill: {121, 0, 199},
}

func cardIssue(ctx context.Context, s *cardapp.Session, t cardTool) error {
	pt, ok := purchaseTypes[t.o.typ]
	if !ok {
		return fmt.Errorf("%w: card type %d cannot be issued here", errUsage, t.o.typ)
	}
	info := cardapp.Info{Type: t.o.typ, Name: t.o.name, Alcohol: t.o.alcohol, ServingsLimit: t.o.servingsLimit}
	if t.o.expires != "" {
		e, err := time.Parse(time.DateOnly, t.o.expires)
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", errUsage, err)
		}
		info.Expires = e
	}
	if err := s.Issue(ctx, info, t.o.credit); err != nil {
		return err
	}
	fmt.Fprintf(t.out, "issued %s card %q\n", ttg.CardTypeName(t.o.typ), t.o.name)
	if err := t.book(s.UID, pt.create, 0, info); err != nil {
		return err
	}
	if t.o.credit > 0 && pt.topup != 0 {
		return t.book(s.UID, pt.topup, t.o.credit, info)
	}
	return nil
}

func cardTopUp(ctx context.Context, s *cardapp.Session, t cardTool) error {
	c, err := s.Read(ctx)
	if err != nil {
		return err
	}
	pt := purchaseTypes[c.Info.Type]
	if pt.topup == 0 {
		return fmt.Errorf("a %s card holds no credit", ttg.CardTypeName(c.Info.Type))
	}
	v, err := s.TopUp(ctx, t.o.amount)
	if err != nil {
		return err
	}
	fmt.Fprintf(t.out, "credit now %d\n", v)
	return t.book(s.UID, pt.topup, t.o.amount, c.Info)
}

func cardUpgrade(ctx context.Context, s *cardapp.Session, t cardTool) error {
	changed, err := s.Upgrade(ctx)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintln(t.out, "upgraded: the card has the last-pour file (layout 2)")
	} else {
		fmt.Fprintln(t.out, "nothing to do: the card has the last-pour file already")
	}
	return nil
}

func cardErase(ctx context.Context, s *cardapp.Session, t cardTool) error {
	c, readErr := s.Read(ctx)
	if err := s.Erase(ctx); err != nil {
		return err
	}
	fmt.Fprintln(t.out, "erased")
	if readErr != nil {
		return nil // not readable with our keys: nothing to report to the server
	}
	return t.book(s.UID, purchaseTypes[c.Info.Type].erase, 0, c.Info)
}

func cardFormat(ctx context.Context, s *cardapp.Session, t cardTool) error {
	c, readErr := s.Read(ctx)
	if err := s.Format(ctx); err != nil {
		return err
	}
	fmt.Fprintln(t.out, "formatted")
	if readErr != nil {
		return nil
	}
	return t.book(s.UID, purchaseTypes[c.Info.Type].erase, 0, c.Info)
}

// book records a card action: in the outbox when the TTG API takes it,
// else in card-actions.jsonl.
func (t cardTool) book(uid []byte, purchaseType int, amount int64, info cardapp.Info) error {
	if purchaseType == 0 {
		return nil
	}
	id, err := cardapp.UIDDecimal(uid, t.cfg.Cards.UIDOrder)
	if err != nil {
		return err
	}
	ref := storage.Ref{CardID: id, PurchaseType: strconv.Itoa(purchaseType), Amount: strconv.FormatInt(amount, 10),
		ServingsLimit: strconv.Itoa(info.ServingsLimit), CardName: info.Name, StaffName: t.o.staff,
		Alcohol: map[bool]string{true: "1", false: "0"}[info.Alcohol]}
	if !info.Expires.IsZero() {
		ref.Expires = strconv.FormatInt(info.Expires.Add(24*time.Hour-time.Millisecond).UnixMilli(), 10)
	}
	now := time.Now()
	synced, _, _ := doctor.System{}.Clock()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	rec := storage.Record{ID: fmt.Sprintf("%d-card-%d-%x", t.cfg.Device.ID, now.UnixMilli(), suffix), Kind: storage.KindCardPurchase,
		StartedAt: now.UnixMilli(), EndedAt: now.UnixMilli(), ClockSynced: synced, Ref: ref}
	if err := os.MkdirAll(t.o.data, 0o750); err != nil {
		return err
	}
	if !ttg.PurchaseTypesAPI[purchaseType] {
		return appendJSONL(filepath.Join(t.o.data, "card-actions.jsonl"), rec, t.out)
	}
	st, err := agent.OpenStore(t.storeConfig())
	if err != nil {
		return fmt.Errorf("booking the card purchase (is the agent running on this data directory? it holds the lock): %w", err)
	}
	defer st.Close()
	salt, err := st.Salt()
	if err != nil {
		return err
	}
	entry := history.FromRecord(rec, history.CardHash(salt, history.CardOf(rec)))
	if _, err := st.Book(storage.Booking{Record: rec, Also: []storage.Change{history.Change(entry)}}); err != nil {
		return err
	}
	fmt.Fprintf(t.out, "booked card purchase %d for the server\n", purchaseType)
	return nil
}

func appendJSONL(path string, rec storage.Record, out io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(out, "card action %s kept in %s (the TTG API takes no offline card actions)\n", rec.Ref.PurchaseType, path)
	return f.Close()
}
