package sysinfo

import "testing"

func TestRead(t *testing.T) {
	r := NewReader(t.TempDir())
	s, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if s.MemAvailable <= 0 || s.DataFree <= 0 || s.SystemUsed <= 0 || s.UptimeSeconds <= 0 {
		t.Fatalf("%+v", s)
	}
	if s2, _ := r.Read(); s2.CPUPercent < 0 || s2.CPUPercent > 100 {
		t.Fatalf("cpu %v", s2.CPUPercent)
	}
}

// BenchmarkRead is the cost of the device figures in each telemetry message.
func BenchmarkRead(b *testing.B) {
	r := NewReader(b.TempDir())
	for i := 0; i < b.N; i++ {
		r.Read()
	}
}
