// Package sysinfo reads the controller's health figures from /proc and
// statfs: CPU use, memory, swap, disks, uptime.
package sysinfo

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Snapshot is one reading. Sizes are bytes.
type Snapshot struct {
	CPUPercent              float64
	MemUsed, MemAvailable   int64
	SwapUsed, SwapAvailable int64
	DataFree, DataUsed      int64
	SystemFree, SystemUsed  int64
	UptimeSeconds           int64
}

// Reader keeps the last CPU counters, so usage is measured between reads.
type Reader struct {
	mu         sync.Mutex
	busy, all  uint64
	proc, data string
}

// NewReader reads /proc and the disks holding dataDir and "/".
func NewReader(dataDir string) *Reader { return &Reader{proc: "/proc", data: dataDir} }

// Read takes a snapshot; figures it cannot read stay zero and are reported.
func (r *Reader) Read() (Snapshot, error) {
	var s Snapshot
	var errs []string
	mem, err := meminfo(r.proc + "/meminfo")
	if err != nil {
		errs = append(errs, err.Error())
	}
	s.MemAvailable = mem["MemAvailable"]
	s.MemUsed = mem["MemTotal"] - mem["MemAvailable"]
	s.SwapAvailable = mem["SwapFree"]
	s.SwapUsed = mem["SwapTotal"] - mem["SwapFree"]
	if s.DataFree, s.DataUsed, err = disk(r.data); err != nil {
		errs = append(errs, err.Error())
	}
	if s.SystemFree, s.SystemUsed, err = disk("/"); err != nil {
		errs = append(errs, err.Error())
	}
	if b, err := os.ReadFile(r.proc + "/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			s.UptimeSeconds = int64(up)
		}
	}
	if s.CPUPercent, err = r.cpu(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("sysinfo: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

func meminfo(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return map[string]int64{}, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[k] = n
	}
	return out, sc.Err()
}

func disk(path string) (free, used int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return int64(st.Bavail) * bs, (int64(st.Blocks) - int64(st.Bfree)) * bs, nil
}

// cpu is the busy share since the previous call (since boot on the first).
func (r *Reader) cpu() (float64, error) {
	b, err := os.ReadFile(r.proc + "/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var all, idle uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		all += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dAll, dBusy := all-r.all, (all-idle)-r.busy
	r.all, r.busy = all, all-idle
	if dAll == 0 {
		return 0, nil
	}
	return float64(dBusy) * 100 / float64(dAll), nil
}
