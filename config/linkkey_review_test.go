package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestReviewLinkKeyNotEchoedInErrors: a link key lets whoever holds it
// link the customer's account (Redacted hides it); a key that is almost
// right (a trailing space, a code one digit too long) is echoed whole in
// the validation error, which goes to the log, `run --check-config` and a
// config.set's reply.
func TestReviewLinkKeyNotEchoedInErrors(t *testing.T) {
	secret := "000123-000456-98765432101234567890123456789012345"
	tt := TouchTopUp{Accounts: []TouchTopUpAccount{{Card: 1, LinkKey: secret}, {Card: 2, LinkKey: "000123-000457-55554444 "}}}
	var msgs []string
	tt.validateAccounts(func(key, format string, a ...any) { msgs = append(msgs, key+": "+fmt.Sprintf(format, a...)) })
	all := strings.Join(msgs, "\n")
	t.Log(all)
	if strings.Contains(all, "98765432101234567890") || strings.Contains(all, "55554444") {
		t.Fatalf("the validation error shows the link key's secret link code:\n%s", all)
	}
}
