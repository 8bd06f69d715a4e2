package smartnow

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPostRevenue measures one revenue transaction through the
// emulator over loopback HTTP, in memory and with the state file, so
// that a drain test knows whether the emulator or the client limits it.
func BenchmarkPostRevenue(b *testing.B) {
	for _, tc := range []struct {
		name string
		file bool
	}{{"memory", false}, {"statefile", true}} {
		b.Run(tc.name, func(b *testing.B) {
			o := Options{Machines: testMachines, Now: func() time.Time { return time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC) }}
			if tc.file {
				o.StateFile = filepath.Join(b.TempDir(), "state.json")
			}
			s, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			url, stop, err := s.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			s.mu.Lock()
			tok := s.issue("tapagent").AccessToken
			s.mu.Unlock()
			b.ResetTimer()
			for i := range b.N {
				raw, _ := json.Marshal(sale(int64(i)))
				req, _ := http.NewRequest("POST", url+"/revenuetransaction", bytes.NewReader(raw))
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 201 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}
