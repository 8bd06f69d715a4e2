package evadts

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// BenchmarkParse measures parsing throughput. Its sub-benchmark names
// the input, so a figure is never quoted for the wrong file: the largest
// real sample (Crane National 187, ~14 KB) where the shared samples are
// checked out next to the repository, and always the built-in 155-byte
// file, whose figure is dominated by per-file overhead.
func BenchmarkParse(b *testing.B) {
	inputs := []struct {
		name string
		data []byte
	}{{"builtin-155B", []byte(tiny)}}
	if raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "dex-samples", "crane-national-187_snack_us.txt")); err == nil {
		inputs = append(inputs, struct {
			name string
			data []byte
		}{"crane-national-187", raw})
	} else {
		b.Logf("no ../shared/dex-samples: only the built-in 155-byte file is measured, not the ~14 KB real sample")
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReportsBounded: listing 14 days of hourly DEX reads (336 kept
// reports of 4 KiB) returns the newest 64 and copies only their data.
func BenchmarkReportsBounded(b *testing.B) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	st, err := storage.Open(filepath.Join(b.TempDir(), "db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := NewAudit(st, func() time.Time { return now })
	data := bytes.Repeat([]byte("PA1*1*100\r\n"), 4096/11)
	for range 14 * 24 {
		now = now.Add(time.Hour)
		if err := a.Keep(PortDEX, data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if ks, more, err := a.Reports(time.Time{}, time.Time{}, 0); err != nil || len(ks) != MaxReports || !more {
			b.Fatalf("%d reports, more %v, %v", len(ks), more, err)
		}
	}
}
