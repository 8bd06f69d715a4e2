package history_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)

// seeded is a real store holding entries every 20 minutes over a day.
func seeded(t *testing.T, n int) (*storage.Store, []history.Entry) {
	t.Helper()
	st, err := storage.Open(filepath.Join(t.TempDir(), "h.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var all []history.Entry
	for i := range n {
		e := history.Entry{Time: t0.Add(time.Duration(i) * 20 * time.Minute), Kind: history.KindPour, Line: 1 + i%3,
			Product: []string{"Pils", "Weizen", "Stout"}[i%3], PLU: 101 + i%3, ID: "1-" + string(rune('a'+i%26)),
			Payment: []string{history.PayFree, history.PayCard}[i%2], Volume: flow.ML(int64(300 + i)), Amount: int64(390 + i)}
		if i%2 == 1 {
			e.Card = "c0ffee"
		}
		all = append(all, e)
	}
	err = st.Update(history.Bucket, func(b storage.Bucket) error {
		for _, e := range all {
			if err := history.Put(b, e); err != nil {
				return err
			}
		}
		return history.Put(b, history.Entry{Time: t0, Kind: history.KindOperation, Op: history.OpKegChange, Line: 1,
			Actor: &history.Actor{Name: "anna", Role: "staff", Via: "cli"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, all
}

func TestKeysStartWithTheirTime(t *testing.T) {
	st, all := seeded(t, 5)
	var keys [][]byte
	if err := st.Scan(history.Bucket, nil, nil, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Fatalf("%d keys", len(keys))
	}
	for i, k := range keys {
		if len(k) != history.KeyLen {
			t.Fatalf("key %x", k)
		}
		if i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			t.Fatal("keys out of order")
		}
	}
	if got := int64(binary.BigEndian.Uint64(keys[len(keys)-1])); got != all[4].Time.UnixNano() {
		t.Fatalf("last key time %d, want %d", got, all[4].Time.UnixNano())
	}
}

func TestFind(t *testing.T) {
	st, all := seeded(t, 72)
	log := history.New(st)
	pours := []string{history.KindPour}
	for _, c := range []struct {
		name  string
		q     history.Query
		first int
		n     int
	}{
		{"all pours", history.Query{Kinds: pours}, 0, 72},
		{"an hour", history.Query{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour), Kinds: pours}, 3, 3},
		{"line 2", history.Query{Line: 2, Kinds: pours}, 1, 24},
		{"product by name", history.Query{Product: "Stout", Kinds: pours}, 2, 24},
		{"product by PLU", history.Query{Product: "101", Kinds: pours}, 0, 24},
		{"card", history.Query{Card: "c0ffee"}, 1, 36},
		{"payment", history.Query{Payment: history.PayFree, Kinds: pours}, 0, 36},
		{"newest five", history.Query{Limit: 5, Kinds: pours}, 67, 5},
	} {
		got, err := log.Find(context.Background(), c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != c.n || got[0].Time != all[c.first].Time || !c.q.Match(got[len(got)-1]) {
			t.Errorf("%s: %d entries from %v", c.name, len(got), got[0].Time)
		}
	}
	for _, q := range []history.Query{{Limit: -1}, {Limit: history.MaxLimit + 1}, {From: t0, To: t0}} {
		if _, err := log.Find(context.Background(), q); err == nil {
			t.Errorf("query %+v accepted", q)
		}
	}
}

func TestTotals(t *testing.T) {
	st, all := seeded(t, 72) // 22:00 on the 30th to 21:40 on the 1st
	log := history.New(st)
	days, err := log.Totals(context.Background(), history.Query{}, history.ByDay)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Key != "2026-11-30" || days[0].Pours != 6 || days[1].Pours != 66 {
		t.Fatalf("by day %+v", days)
	}
	berlin := time.FixedZone("CET", 3600)
	days, _ = log.Totals(context.Background(), history.Query{Loc: berlin}, history.ByDay)
	if len(days) != 2 || days[0].Key != "2026-11-30" || days[0].Pours != 3 {
		t.Fatalf("by day in CET %+v", days)
	}
	var vol flow.Vol
	var amount int64
	for _, e := range all {
		if e.Product == "Weizen" {
			vol, amount = vol+e.Volume, amount+e.Amount
		}
	}
	prods, err := log.Totals(context.Background(), history.Query{}, history.ByProduct)
	if err != nil {
		t.Fatal(err)
	}
	if len(prods) != 3 || prods[2].Key != "Weizen" || prods[2].Volume != vol || prods[2].Amount != amount {
		t.Fatalf("by product %+v", prods)
	}
	if _, err := log.Totals(context.Background(), history.Query{}, "week"); err == nil {
		t.Fatal("totals by week accepted")
	}
}

func TestWriteCSV(t *testing.T) {
	st, _ := seeded(t, 4)
	es, err := history.New(st).Find(context.Background(), history.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := history.WriteCSV(&buf, es, nil); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "history.csv")
	if *update {
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("csv:\n%s\nwant:\n%s", buf.Bytes(), want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, history.KeyLen), []byte(`{"time":"2026-11-30T22:00:00Z","kind":"pour","volume_ml10":3000}`))
	f.Add(make([]byte, 3), []byte(`{}`))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		e, err := history.Decode(k, v)
		if err == nil && (e.Kind == "" || e.Volume < 0 || e.Amount < 0) {
			t.Fatalf("decoded a bad entry %+v", e)
		}
	})
}

// TestTotalsSkipNothingPoured: a refused card is booked as a pour of 0 mL
// and 0.00; Find keeps it (an audit fact), Totals does not count it.
func TestTotalsSkipNothingPoured(t *testing.T) {
	st, all := seeded(t, 3)
	refused := history.Entry{Time: t0.Add(time.Minute), Kind: history.KindPour, Line: 1, Product: "Pils", PLU: 101,
		ID: "1-refused", Payment: history.PayCard, Card: "bad", Detail: "card blocked"}
	if err := st.Update(history.Bucket, func(b storage.Bucket) error { return history.Put(b, refused) }); err != nil {
		t.Fatal(err)
	}
	log := history.New(st)
	ctx := context.Background()
	es, err := log.Find(ctx, history.Query{Card: "bad"})
	if err != nil || len(es) != 1 {
		t.Fatalf("the refusal is not kept: %v %v", es, err)
	}
	lines, err := log.Totals(ctx, history.Query{}, history.ByLine)
	if err != nil {
		t.Fatal(err)
	}
	var pours int64
	for _, l := range lines {
		pours += l.Pours
	}
	if pours != int64(len(all)) {
		t.Fatalf("totals count %d pours, want %d: %+v", pours, len(all), lines)
	}
}
