package evadts

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

var update = flag.Bool("update", false, "rewrite golden files")

// bitwiseCRC is an independent CRC-16/ARC (bit by bit, no table) to check
// the files we write against.
func bitwiseCRC(p []byte) uint16 {
	var crc uint16
	for _, b := range p {
		crc ^= uint16(b)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

var ident = Identity{CommID: "TAP0001001", Serial: "TAP0001001", Model: "Self-pour wall", Build: "1", Location: "Bar *1*",
	Asset: "A-77", Software: "dev", Decimals: 2, CurrencyNum: "1978", Currency: "EUR"}

func pour(id, kind string, plu int, vol flow.Vol, amount int64, ref storage.Ref) storage.Record {
	return storage.Record{ID: id, Kind: kind, Line: plu - 100, PLU: plu, Product: map[int]string{101: "Helles", 102: "Пиво"}[plu], Ref: ref,
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 650, PerVol: 5000}}, Volume: vol, Charged: vol, Amount: amount}}
}

func openAudit(t *testing.T, now *time.Time) (*Audit, *storage.Store) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewAudit(st, func() time.Time { return *now }), st
}

func TestCountersReportAndReads(t *testing.T) {
	now := time.Date(2026, 11, 20, 22, 15, 0, 0, time.UTC)
	a, st := openAudit(t, &now)
	for _, r := range []storage.Record{
		pour("1", storage.KindPour, 101, 5000, 650, storage.Ref{}),
		pour("2", storage.KindPour, 101, 3000, 390, storage.Ref{CardType: "11"}),
		pour("3", storage.KindPour, 102, 3000, 420, storage.Ref{Reservation: "9"}),
		pour("4", storage.KindCleaning, 102, 2000, 0, storage.Ref{}),
		pour("5", storage.KindPour, 101, 50, 0, storage.Ref{}), // below minimum: free
		pour("6", storage.KindUnattributed, 104, 300, 0, storage.Ref{}),
		pour("7", storage.KindPour, 101, 0, 0, storage.Ref{CardID: "5", CardType: "11"}), // release, not a vend
	} {
		if _, err := st.Book(storage.Booking{Record: r, Also: a.Settle(r)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 3)
	a.Event(EventID("keg_empty", 1), true, func(err error) { done <- err })
	a.Event(EventID("leak", 4), true, func(err error) { done <- err })
	a.Event(EventID("leak", 4), false, func(err error) { done <- err })
	for i := 0; i < 3; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Read(ident, false, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("testdata/report.golden", rep, 0o644)
	}
	want, _ := os.ReadFile("testdata/report.golden")
	if !bytes.Equal(rep, want) {
		t.Fatalf("report differs from golden (-update to accept):\n%s", rep)
	}
	f, err := Parse(rep)
	if err != nil || f.G85.Verdict != G85OK || f.SEStated != int64(f.SEActual) || len(f.Warnings) != 0 {
		t.Fatalf("our own report: %+v %v", f, err)
	}
	// Independent CRC over ST..the CR LF before G85.
	body := rep[bytes.Index(rep, []byte("ST*")):bytes.Index(rep, []byte("G85*"))]
	if got := f.G85.Stated; got != strings.ToUpper(strings.TrimSpace(got)) || bitwiseCRC(body) != crcOf(t, got) {
		t.Fatalf("G85 %s, bitwise %04X", got, bitwiseCRC(body))
	}
	r := f.Report
	if r.Sales.CountInit != 3 || r.Sales.ValueInit != 1460 || r.TestVends.CountInit != 1 || r.FreeVends.CountInit != 1 ||
		r.Cash.ValueInit != 1070 || r.Cashless2.ValueInit != 390 || r.Reads != 1 || r.Resets != 0 {
		t.Fatalf("report %+v", r)
	}
	// A full read resets the interval halves and counts a reset.
	if _, err := a.Read(ident, true, "dex"); err != nil {
		t.Fatal(err)
	}
	rep3, _ := a.Read(ident, false, "dex")
	f3, _ := Parse(rep3)
	if f3.Report.Sales.CountReset != 0 || f3.Report.Sales.CountInit != 3 || f3.Report.Resets != 1 || f3.Report.Reads != 3 {
		t.Fatalf("after a full read: %+v", f3.Report)
	}
}

func crcOf(t *testing.T, hex string) uint16 {
	var v uint16
	for _, c := range hex {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'A' && c <= 'F':
			v |= uint16(c - 'A' + 10)
		default:
			t.Fatalf("bad hex %q", hex)
		}
	}
	return v
}

func TestKeptReportsAndEncodings(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	a, st := openAudit(t, &now)
	r := pour("1", storage.KindPour, 102, 3000, 420, storage.Ref{})
	st.Book(storage.Booking{Record: r, Also: a.Settle(r)})
	first, _ := a.Read(ident, false, "x")
	now = now.Add(24 * time.Hour)
	a.Keep(PortDEX, []byte("DXS*OTHER\r\n"))
	now = now.Add(14 * 24 * time.Hour) // the first report is now 15 days old
	a.Read(ident, false, "x")
	all, _, _ := a.Reports(time.Time{}, time.Time{}, 0)
	if len(all) != 2 || all[0].Port != PortDEX {
		t.Fatalf("kept %d reports (first port %d); the 15-day-old one should be gone", len(all), all[0].Port)
	}
	if dex, _, _ := a.Reports(time.Time{}, time.Time{}, PortDEX); len(dex) != 1 {
		t.Fatal("port filter")
	}
	if ranged, _, _ := a.Reports(now.Add(-time.Hour), now.Add(time.Hour), 0); len(ranged) != 1 {
		t.Fatal("time range")
	}
	if !bytes.Contains(first, []byte("^D0^^9F^")) {
		t.Fatalf("Cyrillic name not escaped as ^HH^: %s", first)
	}
	cp := Encode(first, true, false)
	if !bytes.Contains(cp, []byte{0xCF, 0xE8, 0xE2, 0xEE}) || bytes.Contains(cp, []byte("^D0^")) {
		t.Fatalf("cp1251: %q", cp)
	}
	b64 := Encode(first, true, true)
	if dec, _ := base64.StdEncoding.DecodeString(string(b64)); !bytes.Equal(dec, cp) {
		t.Fatal("base64 of cp1251")
	}
	if _, err := MarshalKept(all, true, false); err == nil {
		t.Fatal("cp1251 JSON without base64 accepted")
	}
	js, err := MarshalKept(all, false, true)
	if err != nil || !bytes.Contains(js, []byte(`"evadts_port":2`)) {
		t.Fatalf("json %s %v", js, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(tiny))
	f.Add([]byte("<x|\x11>DXS*A\nST*001\nG85*zz\nSE*x\nDXE*1*1<t>"))
	if samples, _ := filepath.Glob("../../shared/dex-samples/*.*"); len(samples) > 0 {
		for _, p := range samples {
			if b, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".md") {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		if file.SEActual < 0 || len(file.Segments) == 0 {
			t.Fatalf("bad parse %+v", file)
		}
		_ = Unescape(string(b))
	})
}

// TestMDBSalesCountAsCashless1: a terminal's sale and a payment it kept
// without beer (a refused refund) both count on cashless device 1.
func TestMDBSalesCountAsCashless1(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	a, st := openAudit(t, &now)
	mdb := storage.Ref{CardType: "61"}
	for _, r := range []storage.Record{
		pour("1", storage.KindPour, 101, 3000, 390, mdb),
		pour("2", storage.KindPour, 101, 0, 390, mdb),
		pour("3", storage.KindPour, 101, 0, 0, mdb), // nothing poured, nothing kept: no vend
	} {
		if _, err := st.Book(storage.Booking{Record: r, Also: a.Settle(r)}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Read(ident, false, "cli")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(rep)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Report; r.Cashless1.ValueInit != 780 || r.Sales.CountInit != 2 || r.Cash.ValueInit != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestReportsAreBounded(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxReportBytes/4+1)
	for _, c := range []struct {
		name     string
		n        int
		data     []byte
		want     int
		wantMore bool
	}{
		{"few", 3, []byte("DXS*A\r\n"), 3, false},
		{"count", MaxReports + 10, []byte("DXS*A\r\n"), MaxReports, true},
		{"bytes", 10, big, 3, true},
		{"one larger than the budget", 2, bytes.Repeat([]byte("y"), MaxReportBytes+1), 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			a, _ := openAudit(t, &now)
			for i := range c.n {
				now = now.Add(time.Minute)
				if err := a.Keep(PortDEX, append([]byte(fmt.Sprint(i, ":")), c.data...)); err != nil {
					t.Fatal(err)
				}
			}
			ks, more, err := a.Reports(time.Time{}, time.Time{}, 0)
			if err != nil || len(ks) != c.want || more != c.wantMore {
				t.Fatalf("%d reports, more %v, %v; want %d, %v", len(ks), more, err, c.want, c.wantMore)
			}
			if last := ks[len(ks)-1]; !strings.HasPrefix(last.Data, fmt.Sprint(c.n-1, ":")) || !last.Date.Equal(now) {
				t.Fatalf("newest report missing: %.10q at %v", last.Data, last.Date)
			}
			if more {
				older, _, _ := a.Reports(time.Time{}, ks[0].Date.Add(-time.Nanosecond), 0)
				if len(older) == 0 || !older[len(older)-1].Date.Before(ks[0].Date) {
					t.Fatal("paging back with until finds nothing older")
				}
			}
		})
	}
}
