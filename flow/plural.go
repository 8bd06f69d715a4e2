package flow

import "strconv"

// Count is n followed by one when n is 1 or -1, else by many: "1 pour", "2 pours", as counts are printed for a person.
func Count[T ~int | ~int64](n T, one, many string) string {
	word := many
	if n == 1 || n == -1 {
		word = one
	}
	return strconv.FormatInt(int64(n), 10) + " " + word
}
