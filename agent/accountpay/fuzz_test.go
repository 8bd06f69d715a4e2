package accountpay_test

import (
	"testing"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// FuzzParseAccount feeds arbitrary account references (as a record's ref
// carries them) to the parser and to Settle: an account it reads prints
// back as it was, and Settle issues a debit only for one of them.
func FuzzParseAccount(f *testing.F) {
	for _, s := range []string{"1/5", "0/5", "1/5/", "-1/5", "9223372036854775807/1", " 1/5"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, s string, amount int64) {
		a, ok := accountpay.ParseAccount(s)
		if ok && (a.String() != s || a.Company <= 0 || a.Customer <= 0) {
			t.Fatalf("%q read as %+v", s, a)
		}
		cs := accountpay.Settle(storage.Record{Ref: storage.Ref{Account: s}, Pour: flow.Result{Amount: amount}})
		if (len(cs) > 0) != (ok && amount > 0) {
			t.Fatalf("%q, amount %d: %d changes", s, amount, len(cs))
		}
	})
}
