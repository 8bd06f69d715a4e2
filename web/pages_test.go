package web_test

import (
	"bufio"
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("%s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

func TestHistoryChartsAndCSV(t *testing.T) {
	r := newRig(t, nil)
	r.pour(1, 60, 3*time.Second)
	r.pour(2, 40, 2*time.Second)
	c := r.client()
	r.login(c, opName, opPass)
	cases := []struct {
		name, path string
		want       []string
		not        []string
	}{
		{"all", "/history", []string{"2 pours", "<td>1</td>", "<td>2</td>", "free"}, nil},
		{"one line", "/history?line=2", []string{"1 pour,", "<td>2</td>"}, []string{"<td>1</td><td></td>"}},
		{"one day, to inclusive", "/history?from=2026-11-22&to=2026-11-22", []string{"2 pours"}, nil},
		{"bad payment", "/history?payment=cash", []string{"payment &#34;cash&#34;: want one of"}, nil},
		{"bad date", "/history?from=yesterday", []string{"is not a time"}, nil},
		{"charts", "/charts", []string{"<svg", "Volume per line and day", "<td>2026-11-22</td><td>1</td><td>1</td>"}, nil},
		{"events", "/events", []string{"pour_booked", "agent_started"}, nil},
		{"health", "/health", []string{"clock"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, status := r.get(c, tc.path)
			if status != http.StatusOK {
				t.Fatalf("%s: %d", tc.path, status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(body, n) {
					t.Errorf("%s has %q", tc.path, n)
				}
			}
		})
	}
	csv, status := r.get(c, "/history.csv?from=2026-11-22&to=2026-11-22")
	if status != http.StatusOK {
		t.Fatalf("csv: %d", status)
	}
	golden(t, "history.csv", csv)
}

// TestLiveStream reads the server-sent events: a status frame at once,
// the pour's progress while it runs, and its booking.
func TestLiveStream(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	r.login(c, staffName, staffPass)
	c.Timeout = 0
	resp, err := c.Get(r.srv.URL + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	frames := make(chan string, 256)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				frames <- ev + " " + strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	first := <-frames
	if !strings.HasPrefix(first, `status [{"line":1`) {
		t.Fatalf("first frame %q", first)
	}
	var sawPouring, sawBooked bool
	r.pause = 2 * time.Millisecond // real time passes while it pours, as on a wall
	r.pour(1, 50, 3*time.Second)
	deadline := time.After(10 * time.Second)
	for !(sawPouring && sawBooked) {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("stream ended")
			}
			sawPouring = sawPouring || strings.HasPrefix(f, "status") && strings.Contains(f, `"state":"pouring"`)
			sawBooked = sawBooked || strings.HasPrefix(f, "ev") && strings.Contains(f, `"type":"pour_booked"`)
		case <-deadline:
			t.Fatalf("pouring %v, booked %v", sawPouring, sawBooked)
		}
	}
}

// TestListenFallback: with the configured port taken by another program,
// the dashboard listens on the fallback when it has one, and refuses to
// start, naming the address, when it has none.
func TestListenFallback(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := newRig(t, func(c *config.Config, d *web.Deps) {
		c.Web.Listen = taken.Addr().String()
		d.ListenFallback = "127.0.0.1:0"
	})
	if strings.HasSuffix(r.srv.URL, taken.Addr().String()) || !strings.HasPrefix(r.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("listening on %s with %s taken", r.srv.URL, taken.Addr())
	}
	d := web.ForAgent(r.cfg, r.agent, r.store, web.Sources{}, r.clk.Now, "test", nil)
	if s, err := web.Start(context.Background(), d); err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("without a fallback: %v", err)
	}
}
