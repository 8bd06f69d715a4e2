// Package clip shortens text quoted from a peer or a user into an answer,
// an error or a log line, so that none of them grows with the input.
package clip

import "unicode/utf8"

// String is s cut to at most n bytes, at a character boundary, with "…"
// after the cut; s itself when it is no longer.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
