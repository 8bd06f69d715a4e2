package evadts

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse measures parsing throughput on the largest real sample
// (Crane National 187, ~13 KB) or, without ../shared, on the tiny file.
func BenchmarkParse(b *testing.B) {
	data := []byte(tiny)
	if raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "dex-samples", "crane-national-187_snack_us.txt")); err == nil {
		data = raw
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
