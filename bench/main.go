// Command bench measures whole-system figures that a Go benchmark cannot:
// the agent's memory on the simulated four-line wall, how much faster than
// real time the simulator runs (median and worst of 20 flat-out demo
// runs), and the size of the release binaries.
//
//	go run ./bench [-duration 20s]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/sim"
)

func main() {
	dur := flag.Duration("duration", 20*time.Second, "how long the real-time run lasts")
	flag.Parse()
	if err := run(*dur); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration) error {
	dir, err := os.MkdirTemp("", "tapagent-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("## Release binaries (CGO_ENABLED=0, -trimpath -ldflags '-s -w')")
	var host string
	for _, t := range []struct{ goos, goarch, goarm string }{{"linux", "arm", "7"}, {"linux", "arm64", ""}, {"linux", "amd64", ""}} {
		out := filepath.Join(dir, "tapagent-"+t.goarch)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/tapagent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.goos, "GOARCH="+t.goarch, "GOARM="+t.goarm)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s/%s: %v\n%s", t.goos, t.goarch, err, b)
		}
		st, _ := os.Stat(out)
		fmt.Printf("- %s/%s%s: %.2f MiB\n", t.goos, t.goarch, armSuffix(t.goarm), float64(st.Size())/(1<<20))
		if t.goarch == "amd64" {
			host = out
		}
	}
	fmt.Printf("\n## tapagent sim, 4 lines, demo scenario, real time for %s\n", dur)
	hwm, err := peakRSS(host, dir, "--speed", "1", "--duration", dur.String(), "--web", "off")
	if err != nil {
		return err
	}
	fmt.Printf("- peak RSS (VmHWM): %.1f MiB\n", float64(hwm)/1024)
	fmt.Printf("\n## tapagent sim, 4 lines, demo scenario, real time for %s, web dashboard in use\n", dur)
	if err := dashboard(host, dir, dur); err != nil {
		return err
	}
	demo, err := sim.LoadScenario("demo")
	if err != nil {
		return err
	}
	virtual := demo.Duration.Duration
	fmt.Printf("\n## tapagent sim, demo scenario (%s virtual), as fast as possible, %d runs\n", virtual, fastRuns)
	times := make([]time.Duration, 0, fastRuns)
	for range fastRuns {
		start := time.Now()
		if _, err := peakRSS(host, dir, "--speed", "0", "--web", "off"); err != nil {
			return err
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	median, worst := times[len(times)/2], times[len(times)-1]
	fmt.Printf("- wall time, process start to exit: median %s (%.0fx real time), worst %s (%.0fx)\n",
		median.Truncate(time.Millisecond), virtual.Seconds()/median.Seconds(), worst.Truncate(time.Millisecond), virtual.Seconds()/worst.Seconds())
	return nil
}

// fastRuns is how many flat-out demo runs the median and worst come from:
// enough that a stall in one run of ten shows as the worst.
const fastRuns = 20

func armSuffix(goarm string) string {
	if goarm == "" {
		return ""
	}
	return " (GOARM=" + goarm + ")"
}

// peakRSS runs the simulator and samples its high-water mark until it exits.
func peakRSS(bin, dir string, args ...string) (int64, error) {
	data, err := os.MkdirTemp(dir, "data")
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, append([]string{"sim", "--plain", "--data", data}, args...)...)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := vmHWM(cmd.Process.Pid); v > peak {
			peak = v
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb
		}
	}
	return 0
}
