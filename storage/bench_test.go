package storage

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkBookGroupCommit measures durable pour records per second: many
// goroutines book at once and each waits for its own fsync, which the
// writer shares across the batch.
func BenchmarkBookGroupCommit(b *testing.B) {
	s, _ := openTemp(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint(i), int(i%8)+1, 3000)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBookSerial is one booking at a time: one fsync per record.
func BenchmarkBookSerial(b *testing.B) {
	s, _ := openTemp(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1, 3000)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
