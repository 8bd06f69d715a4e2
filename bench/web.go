package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

var banner = regexp.MustCompile(`web dashboard (http://\S+)/ \(user (\S+), password (\S+)\)`)

// dashboard runs the simulator with the web dashboard in use: a browser's
// live stream open, every page fetched twice a second and /metrics scraped
// every 5 s (three times Prometheus' usual rate), sampling the
// agent's peak RSS; it prints the page weights and the time to the first
// live update too.
func dashboard(bin, dir string, dur time.Duration) error {
	data, err := os.MkdirTemp(dir, "web")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "sim", "--plain", "--data", data, "--speed", "1", "--duration", dur.String(), "--web", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := banner.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
	}()
	var m []string
	select {
	case m = <-found:
	case <-time.After(20 * time.Second):
		return errors.New("the simulator printed no dashboard address")
	}
	base := m[1]
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.PostForm(base+"/login", url.Values{"user": {m[2]}, "password": {m[3]}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Println("- page weight (uncompressed; CSS and JS are fetched once and cached for an hour):")
	for _, p := range []string{"/", "/history", "/charts", "/events", "/health", "/static/app.css", "/static/app.js"} {
		n, err := fetch(c, base+p)
		if err != nil {
			return err
		}
		fmt.Printf("  - `%s`: %.1f KiB\n", p, float64(n)/1024)
	}
	start := time.Now()
	live, err := (&http.Client{Jar: jar}).Get(base + "/live")
	if err != nil {
		return err
	}
	defer live.Body.Close()
	rd := bufio.NewReader(live.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return fmt.Errorf("live stream: %w", err)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	fmt.Printf("- time to first live update (request to the first tap-list frame): %.1f ms\n", float64(time.Since(start).Microseconds())/1000)
	var frames atomic.Int64
	go func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "data: ") {
				frames.Add(1)
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	var scraped time.Time
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := vmHWM(cmd.Process.Pid); v > peak {
			peak = v
		}
		select {
		case err := <-done:
			fmt.Printf("- peak RSS (VmHWM) with the dashboard in use for %s: %.1f MiB (%d live frames received)\n", dur, float64(peak)/1024, frames.Load())
			return err
		case <-tick.C:
			for _, p := range []string{"/", "/history", "/charts", "/events", "/health"} {
				_, _ = fetch(c, base+p)
			}
			if time.Since(scraped) >= 5*time.Second {
				_, _ = fetch(c, base+"/metrics")
				scraped = time.Now()
			}
		}
	}
}

func fetch(c *http.Client, u string) (int64, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}
