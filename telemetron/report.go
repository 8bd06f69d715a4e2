package telemetron

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/evadts"
)

// EncodeReport is an EVA-DTS report (as the agent's audit writes it:
// CRLF lines, text ASCII with ^HH^ escapes or Windows-1251 bytes) as
// Telemetron's report document, its data encoded as enc says, with the
// query flags that say so. Every encoding carries the same Windows-1251
// file: the escapes of Cyrillic letters become their letters.
func EncodeReport(raw []byte, at time.Time, zone *time.Location, port int, enc string) (Report, url.Values, error) {
	cp := evadts.Encode(raw, true, false) // Windows-1251 bytes
	q := url.Values{}
	var data string
	switch enc {
	case config.ReportText, "":
		data = fromCP1251(cp)
	case config.ReportBase64:
		data = base64.StdEncoding.EncodeToString([]byte(fromCP1251(cp)))
		q.Set("base64", "1")
	case config.ReportCP1251Base64:
		data = base64.StdEncoding.EncodeToString(cp)
		q.Set("cp1251", "1")
		q.Set("base64", "1")
	default:
		return Report{}, nil, fmt.Errorf("telemetron: report encoding %q is not text, base64 or cp1251+base64", enc)
	}
	return Report{Date: Stamp(at, zone), Data: data, Port: port}, q, nil
}

// cp1251High maps Windows-1251 bytes 0x80–0xBF to their characters
// (0xC0–0xFF are А–я in order); 0x98 has none.
var cp1251High = [64]rune{
	'Ђ', 'Ѓ', '‚', 'ѓ', '„', '…', '†', '‡', '€', '‰', 'Љ', '‹', 'Њ', 'Ќ', 'Ћ', 'Џ',
	'ђ', '‘', '’', '“', '”', '•', '–', '—', utf8.RuneError, '™', 'љ', '›', 'њ', 'ќ', 'ћ', 'џ',
	'\u00a0', 'Ў', 'ў', 'Ј', '¤', 'Ґ', '¦', '§', 'Ё', '©', 'Є', '«', '¬', '\u00ad', '®', 'Ї',
	'°', '±', 'І', 'і', 'ґ', 'µ', '¶', '·', 'ё', '№', 'є', '»', 'ј', 'Ѕ', 'ѕ', 'ї',
}

// fromCP1251 decodes Windows-1251 bytes to UTF-8 text.
func fromCP1251(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xC0:
			sb.WriteRune(cp1251High[c-0x80])
		default:
			sb.WriteRune(rune(0x410 + int(c-0xC0)))
		}
	}
	return sb.String()
}

// secretKey says whether a configuration key holds a secret: a password,
// a token, a client secret or a key (API, card or signing keys; the
// operators' public keys go too, they are nobody's business).
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "secret", "token", "key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Snapshot is the agent's configuration as a JSON-ready document, every
// secret removed: each section under its TOML name, the lines as "line",
// and no key that names a password, token, secret or key (in any
// section, including ones added later).
func Snapshot(cfg *config.Config) (map[string]any, error) {
	// config.Redacted is the one list of secret fields (config.get shows
	// the same); the scrub by key name below is the second wall.
	r := cfg.Redacted()
	doc, err := tomlDoc(&r)
	if err != nil {
		return nil, err
	}
	lines := make([]any, 0, len(r.Lines))
	for _, l := range r.Lines {
		m, err := tomlDoc(l)
		if err != nil {
			return nil, err
		}
		lines = append(lines, m)
	}
	doc["line"] = lines
	return doc, nil
}

func tomlDoc(v any) (map[string]any, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("telemetron: config snapshot: %w", err)
	}
	var doc map[string]any
	if _, err := toml.Decode(b.String(), &doc); err != nil {
		return nil, fmt.Errorf("telemetron: config snapshot: %w", err)
	}
	scrubSecrets(doc)
	return doc, nil
}

func scrubSecrets(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if secretKey(k) {
				delete(t, k)
				continue
			}
			if s, ok := e.(string); ok {
				t[k] = withoutUserinfo(s)
			}
			scrubSecrets(e)
		}
	case []any:
		for i, e := range t {
			if s, ok := e.(string); ok {
				t[i] = withoutUserinfo(s)
			}
			scrubSecrets(e)
		}
	case []map[string]any:
		for _, e := range t {
			scrubSecrets(e)
		}
	}
}

// withoutUserinfo drops the user and password of a URL (a broker's
// tcp://user:pass@host); any other text is kept.
func withoutUserinfo(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unreadable URL removed)" // it may hold a password
	}
	if u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
