package doctor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/doctor"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/sim/exesim"
)

// TestAskMachine: the EXE check against a simulated machine behind a
// bridge on a pty, answering and silent.
func TestAskMachine(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	mc := &exesim.Machine{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mc.Serve(ctx, s); close(done) }()
	defer func() { stop(); s.Close(); m.Close(); <-done }()
	master := &exe.Master{P: pty.File{File: m}, Response: 100 * time.Millisecond}
	mc.Set(true, false, false, false, 0)
	if got, err := doctor.AskMachine(ctx, master); err != nil || !strings.Contains(got, "inhibited") {
		t.Fatalf("inhibited machine: %q %v", got, err)
	}
	mc.Set(false, false, false, true, 0)
	if _, err := doctor.AskMachine(ctx, master); !errors.Is(err, exe.ErrTimeout) {
		t.Fatalf("silent machine: %v", err)
	}
}
