package web

import (
	"fmt"
	"html/template"
	"strings"
)

// series is one line's bars in a chart.
type series struct {
	Name   string
	Values []int64
}

// barChart renders grouped bars (one group per day, one bar per line) as
// inline SVG: no script, no library, a few kilobytes.
func barChart(title string, days []string, ss []series, format func(int64) string) template.HTML {
	const w, h, pad, top = 640, 220, 36, 20
	var maxV int64 = 1
	for _, s := range ss {
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="4" y="14" class="t">%s (max %s)</text>`, template.HTMLEscapeString(title), template.HTMLEscapeString(format(maxV)))
	plotH := h - pad - top
	if len(days) > 0 && len(ss) > 0 {
		group := (w - 2*pad) / len(days)
		bar := max(group/(len(ss)+1), 1)
		for di, day := range days {
			x0 := pad + di*group
			for si, s := range ss {
				v := s.Values[di]
				bh := int(v * int64(plotH) / maxV)
				fmt.Fprintf(&b, `<rect class="s%d" x="%d" y="%d" width="%d" height="%d"><title>%s %s: %s</title></rect>`,
					si%6, x0+si*bar, top+plotH-bh, bar, bh, template.HTMLEscapeString(s.Name), day, template.HTMLEscapeString(format(v)))
			}
			if len(days) <= 16 || di%2 == 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" class="d">%s</text>`, x0, h-pad+14, day[5:])
			}
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="ax"/>`, pad, top+plotH, w-pad, top+plotH)
	for si, s := range ss {
		fmt.Fprintf(&b, `<rect class="s%d" x="%d" y="%d" width="10" height="10"/><text x="%d" y="%d" class="d">%s</text>`,
			si%6, pad+si*110, h-12, pad+si*110+14, h-3, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated text is escaped above
}
