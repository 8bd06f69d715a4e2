package web_test

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkPages fetches each page over loopback with a session and
// reports its weight.
func BenchmarkPages(b *testing.B) {
	r := newRig(b, nil)
	c := r.client()
	r.login(c, opName, opPass)
	for _, path := range []string{"/", "/history", "/charts", "/events", "/health"} {
		b.Run(cmpName(path), func(b *testing.B) {
			var n int64
			for b.Loop() {
				resp, err := c.Get(r.srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				n, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(n), "B/page")
		})
	}
}

// BenchmarkFirstLiveUpdate is the time from opening the live stream to
// its first tap-list frame.
func BenchmarkFirstLiveUpdate(b *testing.B) {
	r := newRig(b, nil)
	c := r.client()
	r.login(c, opName, opPass)
	c.Timeout = 5 * time.Second
	for b.Loop() {
		resp, err := c.Get(r.srv.URL + "/live")
		if err != nil {
			b.Fatal(err)
		}
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, "data: ") {
				break
			}
		}
		resp.Body.Close()
	}
}

// cmpName names a page's sub-benchmark.
func cmpName(path string) string {
	if path == "/" {
		return "taps"
	}
	return strings.Trim(path, "/")
}
