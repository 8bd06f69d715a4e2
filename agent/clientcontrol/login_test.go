package clientcontrol

import (
	"testing"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/ttg"
)

// TestWireCodesKeepTheStoredNumbers: each outcome of the wall maps to the
// wire code of the same number, the number older versions stored in the
// replay guard; an unknown outcome is "unexpected", never OK.
func TestWireCodesKeepTheStoredNumbers(t *testing.T) {
	for c, wire := range wireCodes {
		if int(c) != wire {
			t.Errorf("outcome %d is sent as %d", c, wire)
		}
	}
	if got := clientError(device.LoginError{Code: 7777, Message: "x"}); got.Error != ttg.RLUnexpected || got.CodeClient != ttg.RLUnexpected {
		t.Errorf("unknown outcome sent as %+v", got)
	}
}
