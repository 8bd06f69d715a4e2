package storage

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkBookWhilePruning books pours one at a time while the pruner
// deletes a backlog of 200k time-keyed entries (200 bytes each, about 40 MB
// of history past its retention), against the same bookings with no pruner.
// The figures are the mean and the worst booking latency: the pruner's
// commits are at most PruneBatch deletes each, so a booking waits for at
// most one small commit ahead of its own.
func BenchmarkBookWhilePruning(b *testing.B) {
	for _, prune := range []bool{false, true} {
		name := "idle"
		if prune {
			name = "pruning"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openTemp(b)
			fillTimeKeyed(b, s, testHistory, 200_000, 200)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				if prune {
					_, _ = s.PruneTimeKeyed(ctx, testHistory, t0.Add(300_000*time.Minute), Retention{MaxAge: time.Minute})
				}
			}()
			var worst, total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1+i%4, 3000)}); err != nil {
					b.Fatal(err)
				}
				d := time.Since(start)
				total += d
				worst = max(worst, d)
			}
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-mean-booking")
			b.ReportMetric(float64(worst.Microseconds()), "µs-worst-booking")
		})
	}
}
