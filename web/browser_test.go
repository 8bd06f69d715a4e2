package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
)

// chromiumPath finds Debian's chromium (or Chrome); tests that need it
// skip only where none is installed.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary found (apt-get install chromium): browser tests skipped")
	return ""
}

// browser starts a headless chromium with a window of w×h pixels.
func browser(t *testing.T, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.WindowSize(w, h), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// drive runs the simulated wall in real time (10 ms of virtual time per
// 10 ms of real time) until the test ends, as `tapagent sim` does.
func (r *rig) drive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.wall.Board.Advance(10 * time.Millisecond)
				r.agent.Tick()
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitFor polls a condition in real time while the wall is driven.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPour authorises a free pour and pulls the handle for d.
func (r *rig) startPour(t *testing.T, line int, mls float64, d time.Duration) {
	t.Helper()
	if _, err := r.agent.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		t.Fatal(err)
	}
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: mls}, {T: d, MLs: mls}, {T: d + 50*time.Millisecond, MLs: 0}})
}

func text(sel string, out *string) chromedp.Action {
	return chromedp.Text(sel, out, chromedp.ByQuery, chromedp.NodeVisible)
}

// TestBrowser: in chromium, log in, watch a pour progress live, change
// the keg that ran dry, see the line pour again, and find the pour in the
// history and the chart without reloading.
func TestBrowser(t *testing.T) {
	ctx := browser(t, 1200, 900)
	r := newRig(t, nil)
	r.drive(t)
	login := chromedp.Tasks{
		chromedp.Navigate(r.srv.URL + "/"),
		chromedp.WaitVisible(`input[name=user]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=user]`, opName, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, opPass, chromedp.ByQuery),
		chromedp.Click(`#login`, chromedp.ByQuery),
		chromedp.WaitVisible(`.tap[data-line="1"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#live.on`, chromedp.ByQuery),
	}
	if err := chromedp.Run(ctx, login); err != nil {
		t.Fatalf("log in: %v", err)
	}

	// A pour on line 1: the poured volume grows on the open page.
	r.startPour(t, 1, 50, 3*time.Second)
	var poured []string
	waitFor(t, "line 1's poured volume to grow live", func() bool {
		var s string
		if err := chromedp.Run(ctx, text(`.tap[data-line="1"] [data-f=poured]`, &s)); err != nil {
			t.Fatal(err)
		}
		if len(poured) == 0 || poured[len(poured)-1] != s {
			poured = append(poured, s)
		}
		return len(poured) >= 3 && s != "0 mL"
	})
	waitFor(t, "line 1's pour booked", func() bool { return r.ev.Count(device.EventPourBooked) >= 1 })

	// Line 4's keg runs dry mid-pour: the line shows it is disabled.
	r.wall.Board.Line(4).SetKeg(60)
	r.startPour(t, 4, 60, 4*time.Second)
	waitFor(t, "line 4 disabled as empty", func() bool {
		var a string
		_ = chromedp.Run(ctx, chromedp.Text(`.tap[data-line="4"] [data-f=alarms]`, &a, chromedp.ByQuery))
		return strings.Contains(a, "keg_empty")
	})
	waitFor(t, "line 4's last pour booked", func() bool { return r.ev.Count(device.EventPourBooked) >= 2 })

	// Change it from the page.
	change := chromedp.Tasks{
		chromedp.Click(`.tap[data-line="4"] summary`, chromedp.ByQuery),
		chromedp.SetValue(`.tap[data-line="4"] input[name=size_l]`, "20", chromedp.ByQuery),
		chromedp.Click(`.tap[data-line="4"] button[value=keg_change]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.ok`, chromedp.ByQuery),
	}
	if err := chromedp.Run(ctx, change); err != nil {
		t.Fatalf("change keg: %v", err)
	}
	var okMsg, kegL string
	if err := chromedp.Run(ctx, text(`p.ok`, &okMsg), text(`.tap[data-line="4"] [data-f=keg_l]`, &kegL)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(okMsg, "line 4: keg change done") || kegL != "20.00 L" {
		t.Fatalf("after the change: %q, keg %q", okMsg, kegL)
	}

	// The history page is open when line 4 pours again: its row appears
	// without a reload, and the chart's totals count it.
	if err := chromedp.Run(ctx, chromedp.Navigate(r.srv.URL+"/history?line=4"), chromedp.WaitVisible(`#pours`, chromedp.ByQuery),
		chromedp.WaitVisible(`#live.on`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var before string
	if err := chromedp.Run(ctx, text(`.total`, &before)); err != nil {
		t.Fatal(err)
	}
	r.startPour(t, 4, 50, 2*time.Second)
	waitFor(t, "the new pour on the open history page", func() bool {
		var s string
		_ = chromedp.Run(ctx, chromedp.Text(`.total`, &s, chromedp.ByQuery))
		return s != before && strings.HasPrefix(s, "2 pours")
	})
	var chart string
	if err := chromedp.Run(ctx, chromedp.Navigate(r.srv.URL+"/charts"), chromedp.WaitVisible(`svg.chart`, chromedp.ByQuery),
		chromedp.OuterHTML(`#totals`, &chart, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(chart, "<td>4</td><td>2</td>") {
		t.Fatalf("chart totals lack line 4's two pours: %s", chart)
	}
	r.startPour(t, 1, 50, 2*time.Second)
	waitFor(t, "the chart's totals updated live", func() bool {
		var s string
		_ = chromedp.Run(ctx, chromedp.OuterHTML(`#totals`, &s, chromedp.ByQuery))
		return strings.Contains(s, "<td>1</td><td>2</td>")
	})
	var audit string
	if err := chromedp.Run(ctx, chromedp.Navigate(r.srv.URL+"/events"), chromedp.OuterHTML(`#events`, &audit, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(audit, "keg_changed") || !strings.Contains(audit, "olga (operator) via web") {
		t.Fatalf("the keg change is not on the events page with its actor: %s", audit)
	}
}

// TestScreenshots renders the main pages into $TAPAGENT_SCREENSHOTS
// (`make screenshots` writes docs/img); without it the test is skipped.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("TAPAGENT_SCREENSHOTS")
	if dir == "" {
		t.Skip("TAPAGENT_SCREENSHOTS is not set (make screenshots sets it)")
	}
	r := newRig(t, nil)
	r.drive(t)
	// A day's worth of pours to show: each line a few, one keg low.
	r.wall.Board.Line(3).SetKeg(4000)
	for i, line := range []int{1, 2, 3, 1, 2, 4, 1} {
		r.startPour(t, line, 40+float64(5*i), 3*time.Second) // under the meter's foam rate
		waitFor(t, "pour booked", func() bool { return r.ev.Count(device.EventPourBooked) > i })
	}
	r.startPour(t, 2, 55, 20*time.Second)
	waitFor(t, "line 2 pouring", func() bool { return r.agent.Status()[1].Poured > 2000 })
	for _, shot := range []struct {
		name, path string
		w, h       int
	}{
		{"taps", "/", 1200, 760}, {"history", "/history", 1200, 600}, {"charts", "/charts", 1200, 900},
		{"events", "/events", 1200, 600}, {"health", "/health", 1200, 420}, {"taps-phone", "/", 390, 844},
	} {
		ctx := browser(t, shot.w, shot.h)
		var png []byte
		err := chromedp.Run(ctx,
			chromedp.Navigate(r.srv.URL+"/login"),
			chromedp.SendKeys(`input[name=user]`, opName, chromedp.ByQuery),
			chromedp.SendKeys(`input[name=password]`, opPass, chromedp.ByQuery),
			chromedp.Click(`#login`, chromedp.ByQuery),
			chromedp.WaitVisible(`header`, chromedp.ByQuery),
			chromedp.Navigate(r.srv.URL+shot.path),
			chromedp.WaitVisible(`#live.on`, chromedp.ByQuery),
			chromedp.Sleep(600*time.Millisecond), // a live frame or two: the screenshot shows the pour moving
			chromedp.CaptureScreenshot(&png))
		if err != nil {
			t.Fatalf("%s: %v", shot.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, shot.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
