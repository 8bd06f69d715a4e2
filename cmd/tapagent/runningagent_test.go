package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/evadts"
)

// TestOutboxAndReportsAskTheRunningAgent: while the agent holds its
// database, `outbox` and `dex reports` get their answer through its local
// API instead of failing on the lock.
func TestOutboxAndReportsAskTheRunningAgent(t *testing.T) {
	w := newRunningWall(t)
	w.portion(t, 1, 390)
	if err := evadts.NewAudit(w.store, nil).Keep(evadts.PortDEX, []byte("DXS*KEPT\r\nDXE*1*1\r\n")); err != nil {
		t.Fatal(err)
	}
	data := []string{"--sim", "--data", w.dir}
	code, out, errs := tapagent(append([]string{"outbox"}, data...)...)
	if code != 0 || !regexp.MustCompile(`(?m)^ttg +1 +\S+ \(seq 1, `).MatchString(out) || !strings.Contains(out, "1 record held in the outbox") {
		t.Fatalf("outbox: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = tapagent(append([]string{"dex", "reports", "--port", "2"}, data...)...)
	if code != 0 || !strings.Contains(out, " port 2\n") || !strings.Contains(out, "DXS*KEPT") {
		t.Fatalf("dex reports: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = tapagent(append([]string{"dex", "reports", "--json", "--port", "1"}, data...)...)
	if code != 0 || strings.TrimSpace(out) != "[]" && strings.TrimSpace(out) != "null" {
		t.Fatalf("dex reports --port 1: exit %d\n%s%s", code, out, errs)
	}
}
