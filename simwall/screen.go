package simwall

import (
	"fmt"
	"io"
	"strings"
)

// screen redraws the live view in place, writing only the rows that
// changed since the last frame: an unchanged frame writes nothing, and
// the terminal is cleared only for the first frame and after a resize.
type screen struct {
	w             io.Writer
	prev          []string
	width, height int
}

// draw shows rows on a terminal of width × height and returns how many
// bytes it wrote.
func (s *screen) draw(rows []string, width, height int) (int, error) {
	var b strings.Builder
	if s.prev == nil || width != s.width || height != s.height {
		b.WriteString("\x1b[H\x1b[2J")
		s.prev, s.width, s.height = nil, width, height
	}
	for i, r := range rows {
		if i < len(s.prev) && s.prev[i] == r {
			continue
		}
		fmt.Fprintf(&b, "\x1b[%d;1H%s\x1b[K", i+1, r)
	}
	for i := len(rows); i < len(s.prev); i++ {
		fmt.Fprintf(&b, "\x1b[%d;1H\x1b[K", i+1) // a row the new frame no longer has
	}
	s.prev = append(s.prev[:0], rows...)
	if b.Len() == 0 {
		return 0, nil
	}
	return io.WriteString(s.w, b.String())
}

// end puts the cursor on the row below the last frame, so what is
// printed after the view does not overwrite it.
func (s *screen) end() {
	if s.prev != nil {
		fmt.Fprintf(s.w, "\x1b[%d;1H", len(s.prev)+1)
	}
}
