package evadts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCRC16ARC(t *testing.T) {
	if got := CRC16(0, []byte("123456789")); got != 0xBB3D {
		t.Fatalf("check value %04X", got)
	}
	if got := CRC16(0, []byte("CNV   DE32SR01L01\x03")); got != 0x9B75 {
		t.Fatalf("Crane handshake %04X", got)
	}
}

// The reference file from the shared notes (§3.3).
const tiny = "DXS*QRS7654321*VA*V0/6*1\r\nST*001*0001\r\nID1*112233445566*ABC1234*0101*Building 1**777888999\r\n" +
	"VA1*400*5*150*2\r\nEA3*4\r\nEA7*1*2\r\nG85*8A0F\r\nSE*7*0001\r\nDXE*1*1\r\n"

func TestTinyReference(t *testing.T) {
	f, err := Parse([]byte(tiny))
	if err != nil {
		t.Fatal(err)
	}
	if f.G85.Verdict != G85OK || f.SEActual != 7 || f.SEStated != 7 || len(f.Warnings) != 0 {
		t.Fatalf("%+v", f)
	}
	if f.Report.Machine.Asset != "777888999" || f.Report.Sales.ValueInit != 400 || f.Report.Sales.CountReset != 2 {
		t.Fatalf("report %+v", f.Report)
	}
	lf := strings.ReplaceAll(tiny, "\r\n", "\n")
	g, _ := Parse([]byte(lf))
	if g.G85.Verdict != G85OK || g.LineEnds != "LF" {
		t.Fatalf("LF copy: %+v", g.G85)
	}
}

// TestRealSamples reads every file in ../shared/dex-samples with the G85
// verdicts and SE counts of its SOURCES.md.
func TestRealSamples(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "dex-samples")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/dex-samples is not here")
	}
	cases := []struct {
		file        string
		g85         string
		seStated    int64
		seActual    int
		wantWarning string
	}{
		{"crane-national-187_snack_us.txt", G85OKLowerCase, 236, 543, "SE says 236"},
		{"dixie-narco-501e_cans_us_v1-1.txt", G85OK, 94, 94, "LF-only"},
		{"animo-optime_coffee_nl.eva_dts", G85OK, 117, 117, "LF-only"},
		{"rheavendors-lucex2_coffee_it.eva_dts", G85OK, 349, 369, "SE says 349"},
		{"nw-necta-concerto_coffee_bluered-wrapped.daa", G85OKLowerCase, 244, 243, "handheld wrapper"},
		{"jofemar_cashless-cvendbox_de.txt", G85OK, 144, 144, "LF-only"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.G85.Verdict != c.g85 || f.SEStated != c.seStated || f.SEActual != c.seActual {
				t.Fatalf("G85 %+v, SE %d/%d", f.G85, f.SEStated, f.SEActual)
			}
			found := false
			for _, w := range f.Warnings {
				found = found || strings.Contains(w.Message, c.wantWarning)
			}
			if !found {
				t.Errorf("no warning mentioning %q: %+v", c.wantWarning, f.Warnings)
			}
			if len(f.Report.Products) == 0 || f.Report.Sales.CountInit == 0 && f.Report.Cashless1.CountInit == 0 {
				t.Errorf("no structure: %+v", f.Report)
			}
		})
	}
}
