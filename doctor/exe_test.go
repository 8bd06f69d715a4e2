package doctor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/sim/exesim"
)

// TestAskMachine: the EXE check against a simulated machine behind a
// bridge on a pty, answering and silent.
func TestAskMachine(t *testing.T) {
	mc := &exesim.Machine{}
	b, err := mc.OnBridge()
	if err != nil {
		t.Skip(err)
	}
	defer b.Close()
	ctx := context.Background()
	master := &exe.Master{P: b.Line, Response: 100 * time.Millisecond}
	mc.Set(true, false, false, false, 0)
	if got, err := doctor.AskMachine(ctx, master); err != nil || !strings.Contains(got, "inhibited") {
		t.Fatalf("inhibited machine: %q %v", got, err)
	}
	mc.Set(false, false, false, true, 0)
	if _, err := doctor.AskMachine(ctx, master); !errors.Is(err, exe.ErrTimeout) {
		t.Fatalf("silent machine: %v", err)
	}
}
