package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// TouchTopUp is the [touchtopup] section: TouchTopUp customer accounts as
// a payment source at the tap (docs/clouds.md). Empty URL: none.
type TouchTopUp struct {
	URL    string `toml:"url"`
	APIKey string `toml:"api_key"`
	// KeyHeader names the header that carries the key (the reference
	// lost its list of header names; X-API-KEY is assumed).
	KeyHeader string `toml:"key_header"`
	// Zone is the companies' IANA zone, in which TouchTopUp writes
	// LAST_UPDATE and in which the offline allowance's day runs.
	Zone string `toml:"zone"`
	// BalanceMaxAge is how old a balance read may be and still be used.
	BalanceMaxAge Duration `toml:"balance_max_age"`
	// OfflineAllowance is what an account may pour per day (minor units)
	// while TouchTopUp cannot be reached; 0 refuses offline.
	OfflineAllowance int64    `toml:"offline_allowance"`
	Timeout          Duration `toml:"timeout"`
	// Accounts map cards and account numbers to TouchTopUp accounts.
	Accounts []TouchTopUpAccount `toml:"account"`
}

// TouchTopUpAccount is one [[touchtopup.account]]: a card (its number as
// the reader reports it: the decimal UID in cards.uid_order, as TTG's
// card_id) or an account number, and the account it pays from, given as
// company and customer ids or as a link key (resolved with
// validate_accountkey at start).
type TouchTopUpAccount struct {
	Card       int64  `toml:"card"`
	Account    string `toml:"account"`
	CompanyID  int64  `toml:"company_id"`
	CustomerID int64  `toml:"customer_id"`
	LinkKey    string `toml:"link_key"`
}

// MaxTouchTopUpAccounts bounds the mapping (it is searched on every tap).
const MaxTouchTopUpAccounts = 10000

// maxOfflineAllowance bounds the offline allowance (minor units).
const maxOfflineAllowance = 1_000_000

func defaultTouchTopUp() TouchTopUp {
	return TouchTopUp{KeyHeader: "X-API-KEY", Zone: "Europe/London", BalanceMaxAge: dur(60 * time.Second), Timeout: dur(5 * time.Second)}
}

// linkKeyPattern is TouchTopUp's link key: company id, customer id (six
// digits each), link code.
var linkKeyPattern = regexp.MustCompile(`^[0-9]{6}-[0-9]{6}-[0-9]{1,32}$`)

// headerToken is a valid HTTP header name (RFC 9110 token).
var headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Location is the companies' zone.
func (t TouchTopUp) Location() (*time.Location, error) { return time.LoadLocation(t.Zone) }

// validate checks [touchtopup]; pos tells whether the cash-register
// interface (where the till collects the accounts' debits) is on.
func (t TouchTopUp) validate(bad badFunc, pos bool) {
	if t.URL == "" {
		if len(t.Accounts) > 0 {
			bad("touchtopup.url", "accounts are configured but no url")
		}
		return
	}
	u, err := url.Parse(t.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("touchtopup.url", "%q must be an https:// URL", t.URL)
	case u.Scheme == "http" && !httpguard.LoopbackHost(u.Hostname()):
		bad("touchtopup.url", "the API key would cross the network in clear to %s: use https://", u.Host)
	}
	if strings.TrimSpace(t.APIKey) == "" {
		bad("touchtopup.api_key", "TouchTopUp needs its API key")
	}
	if !headerToken.MatchString(t.KeyHeader) {
		bad("touchtopup.key_header", "%q is not an HTTP header name", t.KeyHeader)
	}
	if _, err := t.Location(); err != nil || t.Zone == "" {
		bad("touchtopup.zone", "%q is not an IANA time zone", t.Zone)
	}
	if t.BalanceMaxAge.Duration < 0 || t.BalanceMaxAge.Duration > time.Hour {
		bad("touchtopup.balance_max_age", "must be 0s..1h")
	}
	if t.OfflineAllowance < 0 || t.OfflineAllowance > maxOfflineAllowance {
		bad("touchtopup.offline_allowance", "must be 0..%d minor units", maxOfflineAllowance)
	}
	if t.Timeout.Duration <= 0 || t.Timeout.Duration > time.Minute {
		bad("touchtopup.timeout", "must be > 0 and at most 1m")
	}
	if !pos {
		bad("touchtopup.url", "the till collects the accounts' debits on the cash-register interface: set pos.listen")
	}
	t.validateAccounts(bad)
}

func (t TouchTopUp) validateAccounts(bad badFunc) {
	if len(t.Accounts) > MaxTouchTopUpAccounts {
		bad("touchtopup.account", "at most %d accounts", MaxTouchTopUpAccounts)
	}
	cards, numbers := map[int64]bool{}, map[string]bool{}
	for i, a := range t.Accounts {
		k := fmt.Sprintf("touchtopup.account[%d]", i)
		switch {
		case (a.Card != 0) == (a.Account != ""):
			bad(k, "needs exactly one of card and account")
		case a.Card < 0:
			bad(k+".card", "must be > 0")
		case a.Card != 0 && cards[a.Card], a.Account != "" && numbers[a.Account]:
			bad(k, "maps a card or account number mapped before")
		}
		cards[a.Card], numbers[a.Account] = a.Card != 0, a.Account != ""
		if len(a.Account) > 64 || strings.ContainsAny(a.Account, " \t\r\n") {
			bad(k+".account", "at most 64 characters, no white space")
		}
		switch {
		case a.LinkKey != "" && (a.CompanyID != 0 || a.CustomerID != 0):
			bad(k, "needs company_id and customer_id, or link_key, not both")
		case a.LinkKey != "" && !linkKeyPattern.MatchString(a.LinkKey):
			// Never the key itself: its link code links the account.
			bad(k+".link_key", "is not CCCCCC-UUUUUU-NNNNNNNNN (company, customer, link code; %d characters given)", len(a.LinkKey))
		case a.LinkKey == "" && (a.CompanyID <= 0 || a.CustomerID <= 0):
			bad(k, "company_id and customer_id must be > 0 (or give link_key)")
		}
	}
}

// String hides the API key, so the section can be logged.
func (t TouchTopUp) String() string {
	return fmt.Sprintf("touchtopup{url=%s accounts=%d}", t.URL, len(t.Accounts))
}
