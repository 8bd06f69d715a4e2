package touchtopup_test

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/touchtopup"
)

// FuzzReplies feeds arbitrary bodies to every decoder of TouchTopUp's
// replies and to the link-key parser: an error or a value in range, never
// a panic.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{`{"balance":{"BALANCE":"610","LAST_UPDATE":"2014-05-06 12:44:19"},"status":1}`,
		`{"customer":{"TITLE":"Mr","FIRSTNAME":"John","LASTNAME":"Smith","ACCOUNTNUMBER":"54321"},"status":1}`,
		`{"status":1,"name":"ICRTouch Testing","db":"10"}`, `{"status":0,"msg":"No Data Available for the parameters you supplied"}`,
		`{"status":"1","balance":{"BALANCE":-9223372036854775808}}`, "000001-000005-463607569"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		if bal, err := touchtopup.DecodeBalance(b, time.UTC); err == nil && (bal.Amount > touchtopup.MaxBalance || bal.Amount < -touchtopup.MaxBalance) {
			t.Fatalf("balance %d out of range", bal.Amount)
		}
		_, _ = touchtopup.DecodeCustomer(b)
		_, _ = touchtopup.DecodeCompany(b)
		_, _, _ = touchtopup.DecodeStatus(b)
		if co, cu, err := touchtopup.ParseLinkKey(body); err == nil && (co <= 0 || cu <= 0) {
			t.Fatalf("link key %q: %d %d", body, co, cu)
		}
	})
}
