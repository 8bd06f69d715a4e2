package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// TestCalibrateWizardTyposAndAverages: through piped stdin, a typo in the
// vessel reading is asked again (the pour is kept), and --pours N averages
// N pours into one K-factor, stored for the next start.
func TestCalibrateWizardTyposAndAverages(t *testing.T) {
	for _, c := range []struct {
		name  string
		pours int
		typo  string
	}{
		{"typo then reading", 1, "5o2"},
		{"three pours", 3, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			cmd := exec.Command(binary, "calibrate", "--sim", "--line", "2", "--sim-k-true", "5600", "--sim-pour-ml", "300",
				"--pours", strconv.Itoa(c.pours), "--data", data)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			io.WriteString(stdin, "\n")
			sc := bufio.NewScanner(stdout)
			var transcript strings.Builder
			holds := regexp.MustCompile(`vessel holds ([0-9.]+) mL`)
			n := 0
			for sc.Scan() {
				transcript.WriteString(sc.Text() + "\n")
				m := holds.FindStringSubmatch(sc.Text())
				if m == nil {
					continue
				}
				n++
				answer := "\n"
				if c.typo != "" {
					answer += c.typo + "\n"
				}
				answer += m[1] + "\n"
				if n == c.pours {
					answer += "y\n"
				} else {
					answer += "\n" // open the valve for the next pour
				}
				io.WriteString(stdin, answer)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("calibrate: %v\n%s%s", err, transcript.String(), stderr.String())
			}
			out := transcript.String()
			if c.typo != "" && !strings.Contains(out, `"5o2" is not a volume in mL with at most one decimal; the pour is kept, enter the reading again`) {
				t.Fatalf("the typo was not asked again:\n%s", out)
			}
			if got := strings.Count(out, "vessel holds"); got != c.pours {
				t.Fatalf("%d pours, want %d:\n%s", got, c.pours, out)
			}
			if c.pours > 1 && !strings.Contains(out, "Pour 3: ") {
				t.Fatalf("no per-pour figure:\n%s", out)
			}
			st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			cals, _ := st.Calibrations()
			// The stored K-factor is the pours' total pulses over their
			// total volume, as printed pour by pour.
			var pulses, ml10 int64
			for _, m := range regexp.MustCompile(`counted (\d+) pulses(?s:.*?)Pour \d+: \d+ pulses for (\d+)\.(\d) mL`).FindAllStringSubmatch(out, -1) {
				p, _ := strconv.ParseInt(m[1], 10, 64)
				w, _ := strconv.ParseInt(m[2], 10, 64)
				f, _ := strconv.ParseInt(m[3], 10, 64)
				pulses, ml10 = pulses+p, ml10+w*10+f
			}
			want := int64(5_600_000) // one pour: the simulated meter's true K
			if c.pours > 1 {
				want = (pulses*10_000_000 + ml10/2) / ml10
			}
			if k := cals[2].KMilli; k < want-1000 || k > want+1000 {
				t.Fatalf("stored K-factor %d, want %d:\n%s", k, want, out)
			}
		})
	}
}
