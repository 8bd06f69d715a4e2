package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestUntilReturnsOnceTheConditionHolds: a condition that another
// goroutine makes true ends the wait.
func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var done atomic.Bool
	go func() { done.Store(true) }()
	Until(t, 10*time.Second, "the goroutine ran", done.Load)
}

// fatalRecorder records a Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic(f)
}

// TestUntilFailsAfterTheTimeout: a condition that never holds fails the
// test once the timeout has passed.
func TestUntilFailsAfterTheTimeout(t *testing.T) {
	f := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		Until(f, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if !f.failed {
		t.Fatal("a condition that never held did not fail the test")
	}
}

// TestForSaysWhetherTheConditionHeld: For reports a condition that held
// and one that never did.
func TestForSaysWhetherTheConditionHeld(t *testing.T) {
	if !For(time.Second, func() bool { return true }) {
		t.Fatal("a condition that held was reported as not held")
	}
	if For(10*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never held was reported as held")
	}
}
