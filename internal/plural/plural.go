// Package plural counts things in English for a person: "1 pour", "2 pours".
package plural

import "strconv"

// Of is n followed by one when n is 1 or -1, else by many.
func Of[T ~int | ~int64](n T, one, many string) string {
	word := many
	if n == 1 || n == -1 {
		word = one
	}
	return strconv.FormatInt(int64(n), 10) + " " + word
}
