package exesale_test

import (
	"context"
	"testing"
)

// BenchmarkIdleCycle is one sale cycle with nobody at the machine
// (STATUS, CREDIT) through a bridge on a pty: the cost of watching an
// EXE machine, each command preceded by the late-answer drain.
func BenchmarkIdleCycle(b *testing.B) {
	_, l, _ := machine(b, &till{})
	ctx := context.Background()
	for b.Loop() {
		l.Cycle(ctx)
	}
}
