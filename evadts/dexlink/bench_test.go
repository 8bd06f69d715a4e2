package dexlink

import (
	"context"
	"testing"

	"github.com/tapagent/tapagent/internal/pty"
)

// BenchmarkTransfer20K moves a 20 KB audit over a pty pair with the spec's
// timers and reports the time the same session takes on a 9600 8N1 line
// (bytes of both sides at 960 bytes/s plus every 10 ms turnaround and the
// two 100 ms session pauses), and the payload rate as a share of the line.
func BenchmarkTransfer20K(b *testing.B) {
	audit := report(20_000)
	for i := 0; i < b.N; i++ {
		m, s, err := pty.Open()
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan Stats, 1)
		go func() {
			st, err := Serve(context.Background(), pty.File{File: s}, "TAP0001001", fixed(audit), SpecTimers)
			if err != nil {
				b.Error(err)
			}
			done <- st
		}()
		_, dc, err := Read(context.Background(), pty.File{File: m}, "HHT0000042", SpecTimers)
		if err != nil {
			b.Fatal(err)
		}
		vmd := <-done
		line := LineTime(vmd, dc, SpecTimers)
		ideal := float64(len(audit)) / 960
		b.ReportMetric(line.Seconds(), "line-s")
		b.ReportMetric(100*ideal/line.Seconds(), "%-of-line-rate")
		b.ReportMetric(100*float64(vmd.Wire+dc.Wire)/960/line.Seconds(), "%-line-busy")
		m.Close()
		s.Close()
	}
}
