package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// TestOutboxPerSink: `tapagent outbox` shows each configured sink's depth,
// oldest waiting record, dead letters and last error.
func TestOutboxPerSink(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "tapagent.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[device]
device_id = 4711
data_dir = %q
[smartnow]
url = "http://127.0.0.1:9"
username = "wall"
password = "secret"
hostname = "wall-1"
[[line]]
id = 1
`, data))
	st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{Sinks: []string{"ttg", "smartnow"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		r := storage.Record{ID: fmt.Sprintf("4711-%d", i), Kind: storage.KindPour, Line: 1, StartedAt: 1, EndedAt: 1764633600000,
			Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: 390}}
		if _, err := st.Book(storage.Booking{Record: r}); err != nil {
			t.Fatal(err)
		}
	}
	ttg, _ := st.Sink("ttg")
	sn, _ := st.Sink("smartnow")
	if err := ttg.Ack(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := sn.Bury(1, "smartnow /revenuetransaction: HTTP 422: bad price", 1764633600000); err != nil {
		t.Fatal(err)
	}
	if err := sn.NoteError("smartnow /auth/login: dial tcp: connection refused", 1764633660000); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out, errb bytes.Buffer
	if code := Main([]string{"outbox", "--config", cfgPath}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		`(?m)^ttg +0 +- +0 +-$`,
		`(?m)^smartnow +2 +4711-2 \(seq 2, 2025-12-02T00:00:00Z\) +1 +2025-12-02T00:01:00Z: smartnow /auth/login: dial tcp: connection refused$`,
		`(?m)^2 records held in the outbox$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
