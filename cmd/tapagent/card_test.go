package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/storage"
)

// TestCardTool drives `tapagent card` (the real binary) against a
// simulated PN532 on a pseudo-terminal: format, issue a prepaid and an
// online card, read, top up, erase; the records go where they belong.
func TestCardTool(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close() // the tool opens its own fd on this side
	reader := &nfcsim.Reader{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reader.Serve(ctx, m); close(done) }()
	defer func() { stop(); m.Close(); <-done }()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "charger.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[device]
device_id = 4711
data_dir = %q
[reader]
port = %q
[cards]
issuer_key = "%s"
tap_key = "%s"
charger_key = "%s"
diversify = true
iso_wrap = true
[[line]]
id = 1
`, filepath.Join(dir, "data"), s.Name(), strings.Repeat("a0", 16), strings.Repeat("a1", 16), strings.Repeat("a2", 16)))
	card := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append(append([]string{"card"}, args...), "--config", cfgPath, "--wait", "2s")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("card %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	c := nfcsim.NewCard(77)
	reader.Put(c)
	card("format")
	out := card("issue", "--type", "1", "--name", "Guest 17", "--credit", "2000", "--alcohol", "--expires", "2027-12-31", "--servings-limit", "10")
	if !strings.Contains(out, `issued PRE card "Guest 17"`) || !strings.Contains(out, "card-actions.jsonl") {
		t.Fatalf("issue:\n%s", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(card("read", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	wantID, _ := cardapp.UIDDecimal(c.UID, "big-endian")
	if got["card_id"] != wantID || got["credit"].(float64) != 2000 || got["name"] != "Guest 17" || got["expires"] != "2027-12-31" ||
		got["alcohol_allowed"] != true || got["type_name"] != "PRE" {
		t.Fatalf("read: %v", got)
	}
	if out := card("topup", "--amount", "500"); !strings.Contains(out, "credit now 2500") {
		t.Fatalf("topup:\n%s", out)
	}
	card("erase")
	journal, _ := os.ReadFile(filepath.Join(dir, "data", "card-actions.jsonl"))
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(string(journal)), "\n") {
		var r storage.Record
		json.Unmarshal([]byte(line), &r)
		types = append(types, r.Ref["purchase_type"]+":"+r.Ref["amount"])
		if r.Ref["card_id"] != wantID || r.Kind != storage.KindCardPurchase {
			t.Fatalf("journal record %+v", r)
		}
	}
	if strings.Join(types, " ") != "11:0 13:2000 13:500 99:0" {
		t.Fatalf("offline card actions: %v", types)
	}

	// An online prepaid card: the record goes to the outbox for the server.
	out = card("issue", "--type", "11", "--name", "App guest")
	if !strings.Contains(out, "booked card purchase 111") {
		t.Fatalf("online issue:\n%s", out)
	}
	st, err := storage.Open(filepath.Join(dir, "data", "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, _ := st.Outbox(0, 10)
	if len(recs) != 1 || recs[0].Ref["purchase_type"] != "111" || recs[0].Ref["card_id"] != wantID {
		t.Fatalf("outbox %+v", recs)
	}
	es, err := history.New(st).Find(context.Background(), history.Query{Kinds: []string{history.KindCardPurchase}})
	salt, _ := st.Salt()
	if err != nil || len(es) != 1 || es[0].ID != recs[0].ID || es[0].Card != history.CardHash(salt, wantID) || es[0].Payment != history.PayCard {
		t.Fatalf("history %+v, %v", es, err)
	}

	// No card: a clear error, nothing booked.
	reader.Remove()
	cmd := exec.Command(binary, "card", "read", "--config", cfgPath, "--wait", "300ms")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no card on the reader") {
		t.Fatalf("empty reader: %v %s", err, out)
	}
}

// TestCardToolRandomUID: a random-ID card (ATQA 03 04, a new 4-byte
// 08... id at every activation) is issued and read by the tool, and its
// purchase records carry the card's real UID from GetCardUID.
func TestCardToolRandomUID(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	reader := &nfcsim.Reader{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reader.Serve(ctx, m); close(done) }()
	defer func() { stop(); m.Close(); <-done }()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "charger.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[device]
device_id = 4712
data_dir = %q
[reader]
port = %q
[cards]
issuer_key = "%s"
tap_key = "%s"
charger_key = "%s"
diversify = false
[[line]]
id = 1
`, filepath.Join(dir, "data"), s.Name(), strings.Repeat("b0", 16), strings.Repeat("b1", 16), strings.Repeat("b2", 16)))
	card := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append(append([]string{"card"}, args...), "--config", cfgPath, "--wait", "2s")...).CombinedOutput()
		if err != nil {
			t.Fatalf("card %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	c := nfcsim.NewCard(78)
	c.RandomUID = true
	reader.Put(c)
	card("issue", "--type", "1", "--name", "Random", "--credit", "300")
	var got map[string]any
	if err := json.Unmarshal([]byte(card("read", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	wantID, _ := cardapp.UIDDecimal(c.UID, "big-endian")
	if got["card_id"] != wantID || got["uid"] != strings.ToUpper(hex.EncodeToString(c.UID)) {
		t.Fatalf("read: %v, want card id %s", got, wantID)
	}
	journal, _ := os.ReadFile(filepath.Join(dir, "data", "card-actions.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(journal)), "\n")
	for _, line := range lines {
		var r storage.Record
		json.Unmarshal([]byte(line), &r)
		if r.Ref["card_id"] != wantID {
			t.Fatalf("purchase record for card %s, the card is %s", r.Ref["card_id"], wantID)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("records: %q", lines)
	}
}

// TestSimCardsScenario: `tapagent sim --scenario cards` — DESFire cards on
// the simulated PN532 through the real driver: a prepaid pour debited on
// the card, the manager's service mode on and off, an empty card refused.
func TestSimCardsScenario(t *testing.T) {
	cmd := exec.Command(binary, "sim", "--json", "--speed", "4", "--no-ttg", "--scenario", "cards", "--data", t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	evs := readEvents(t, strings.NewReader(string(out)))
	var charged, refused int
	var service []string
	for _, e := range evs {
		switch e.Type {
		case "card_charged":
			if e.Amount <= 0 {
				t.Fatalf("charge %+v", e)
			}
			charged++
		case "service_mode":
			service = append(service, e.Detail)
		case "card_refused":
			if strings.Contains(e.Detail, "no credit") {
				refused++
			}
		}
	}
	if charged != 1 || refused != 1 || len(service) != 2 || !strings.Contains(service[0], " on ") || !strings.Contains(service[1], " off ") {
		t.Fatalf("charged %d, refused %d, service %v\n%s", charged, refused, service, out)
	}
}

// TestSimWithReaderPort: `tapagent sim --reader PORT` drives a PN532 on a
// serial port instead of its own (here a simulated one on a
// pseudo-terminal, standing in for the USB adapter): a guest's card pours
// and is charged through it — also when the reader starts up with a stray
// answer on the line and answers its first command late.
func TestSimWithReaderPort(t *testing.T) {
	for _, messy := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean start", true: "stray and late answers at start-up"}[messy], func(t *testing.T) {
			simWithReaderPort(t, messy)
		})
	}
}

func simWithReaderPort(t *testing.T, messy bool) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	reader := &nfcsim.Reader{T: nfcsim.Realistic}
	if messy {
		var mu sync.Mutex
		first := true
		reader.KeepAborted = true
		reader.LateAnswer = func(byte) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			if first {
				first = false
				return 300 * time.Millisecond
			}
			return 0
		}
		stray, _ := pn532.Encode(0xD5, []byte{0x4B, 0x00})
		m.Write(stray)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reader.Serve(ctx, m); close(done) }()
	defer func() { stop(); m.Close(); <-done }()

	cfg, _ := config.Default()
	keys, _ := cardpay.Keys(cfg.Cards)
	card := nfcsim.NewCard(99)
	uid, _, _, _ := card.Activation()
	sess := &cardapp.Session{C: desfire.New(direct{card}), UID: uid, Keys: keys}
	if err := sess.Issue(context.Background(), cardapp.Info{Type: 1, Name: "Own reader", Alcohol: true}, 1500); err != nil {
		t.Fatal(err)
	}
	reader.Put(card)
	sc := filepath.Join(t.TempDir(), "pour.toml")
	writeFile(t, sc, "duration = \"12s\"\n[[step]]\nat = \"2s\"\nline = 1\naction = \"pour\"\nflow_ml_s = 50\nduration = \"3s\"\n")
	out, err := exec.Command(binary, "sim", "--json", "--speed", "2", "--no-ttg", "--scenario", sc, "--reader", s.Name(), "--data", t.TempDir()).Output()
	if err != nil {
		t.Fatalf("sim --reader: %v", err)
	}
	var charged int64
	for _, e := range readEvents(t, strings.NewReader(string(out))) {
		if e.Type == "card_charged" {
			charged = e.Amount
		}
	}
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); charged <= 0 || int64(v) != 1500-charged {
		t.Fatalf("charged %d, card credit %d\n%s", charged, v, out)
	}
}

type direct struct{ c *nfcsim.Card }

func (d direct) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	return d.c.Handle(frame), nil
}

// TestCardUpgrade: `tapagent card upgrade` gives a card of the first
// layout its last-pour file, and says so; a second run has nothing to do.
func TestCardUpgrade(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	reader := &nfcsim.Reader{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reader.Serve(ctx, m); close(done) }()
	defer func() { stop(); m.Close(); <-done }()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "charger.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[device]
device_id = 4711
data_dir = %q
[reader]
port = %q
[cards]
issuer_key = "%s"
tap_key = "%s"
charger_key = "%s"
[[line]]
id = 1
`, filepath.Join(dir, "data"), s.Name(), strings.Repeat("b0", 16), strings.Repeat("b1", 16), strings.Repeat("b2", 16)))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cardpay.Keys(cfg.Cards)
	if err != nil {
		t.Fatal(err)
	}
	card := nfcsim.NewCard(79)
	uid, _, _, _ := card.Activation()
	if err := (&cardapp.Session{C: desfire.New(direct{card}), UID: uid, Keys: keys}).Issue(ctx, cardapp.Info{Type: 1, Name: "Old card"}, 1200); err != nil {
		t.Fatal(err)
	}
	app := card.Apps[cardapp.DefaultAID] // as issued before file 4 existed
	delete(app.Files, cardapp.FileLastPour)
	app.Files[cardapp.FileInfo].Data[0] = 1
	reader.Put(card)
	for _, want := range []string{"upgraded", "nothing to do"} {
		out, err := exec.Command(binary, "card", "upgrade", "--config", cfgPath, "--wait", "2s").CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("upgrade: %v\n%s", err, out)
		}
	}
	c, err := (&cardapp.Session{C: desfire.New(direct{card}), UID: uid, Keys: keys}).Read(ctx)
	if err != nil || !c.LastPourFile || c.Credit != 1200 || c.Info.Name != "Old card" {
		t.Fatalf("after the upgrade: %+v %v", c, err)
	}
	// card read shows file 4: its charge count and the newest pour ids.
	s2 := &cardapp.Session{C: desfire.New(direct{card}), UID: uid, Keys: keys}
	if c, err = s2.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Charge(ctx, c, "1001-17", 100, 1); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "card", "read", "--config", cfgPath, "--wait", "2s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 charges, newest 1001-17") {
		t.Fatalf("read: %v\n%s", err, out)
	}
}

// TestCardSettle: `tapagent card settle` shows a card's unsettled charge,
// resolves it as staff decide (collect: owed at the next tap; paid or
// unpaid: gone), logs each decision, and names the lock when the agent
// holds the database.
func TestCardSettle(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "tapagent.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[device]
device_id = 4711
data_dir = %q
[cards]
issuer_key = "%s"
tap_key = "%s"
charger_key = "%s"
[[line]]
id = 1
`, data, strings.Repeat("b0", 16), strings.Repeat("b1", 16), strings.Repeat("b2", 16)))
	const uid = "04a1b2c3d4e5f6"
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	plant := func(state string) {
		t.Helper()
		st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		raw := fmt.Sprintf(`{"pour_id":"1001-17","state":%q,"credit_before":2000,"servings_before":3,"amount":392,"servings":1}`, state)
		if err := st.Update("card_debits", func(b storage.Bucket) error { return b.Put([]byte(uid), []byte(raw)) }); err != nil {
			t.Fatal(err)
		}
	}
	settle := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"card", "settle", "--config", cfgPath, "--staff", "Anna"}, args...)...).CombinedOutput()
		return string(out), err
	}
	read := func() (cardpay.Entry, bool, []string) {
		t.Helper()
		st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		e, ok, err := cardpay.Journal(st, uid)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := st.Events(100)
		if err != nil {
			t.Fatal(err)
		}
		var logged []string
		for _, raw := range evs {
			var ev struct{ Type, Detail string }
			if json.Unmarshal(raw, &ev) == nil && ev.Type == cardpay.EvCardStaffSettled {
				logged = append(logged, ev.Detail)
			}
		}
		return e, ok, logged
	}
	plant("sending")
	if out, err := settle("--uid", strings.ToUpper(uid)); err != nil || !strings.Contains(out, "pour 1001-17, sending, amount 392") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := settle("--uid", uid, "--paid", "--collect"); err == nil {
		t.Fatalf("two decisions taken:\n%s", out)
	}
	if out, err := settle("--uid", uid, "--collect"); err != nil {
		t.Fatalf("collect: %v\n%s", err, out)
	}
	if e, ok, logged := read(); !ok || e.State != "owed" || e.Amount != 392 || len(logged) != 1 || !strings.Contains(logged[0], "collect by Anna") {
		t.Fatalf("after collect: %v %+v, logged %q", ok, e, logged)
	}
	for _, d := range []string{"--paid", "--unpaid"} {
		plant("sending")
		if out, err := settle("--uid", uid, d); err != nil {
			t.Fatalf("%s: %v\n%s", d, err, out)
		}
		if _, ok, logged := read(); ok || !strings.Contains(logged[len(logged)-1], strings.TrimPrefix(d, "--")+" by Anna") {
			t.Fatalf("after %s the entry is still there (%v) or not logged: %q", d, ok, logged)
		}
	}
	if out, err := settle("--uid", uid, "--paid"); err == nil || !strings.Contains(out, "no charge for this card") {
		t.Fatalf("nothing to settle: %v\n%s", err, out)
	}
	// The agent running: it holds the lock; the tool says so.
	st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if out, err := settle("--uid", uid, "--paid"); err == nil || !strings.Contains(out, "lock") {
		t.Fatalf("locked: %v\n%s", err, out)
	}
}
