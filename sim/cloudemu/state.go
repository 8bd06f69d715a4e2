package cloudemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LoadState reads a JSON state file into v. A missing file is no error
// (found is false): the emulator starts from its seed.
func LoadState(path string, v any) (found bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("emulator state: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("emulator state %s: %w", path, err)
	}
	return true, nil
}

// SaveState writes v to path as JSON, atomically: a crash leaves the old
// file or the new one, never half of one.
func SaveState(path string, v any) error {
	raw, err := MarshalState(v)
	if err != nil {
		return err
	}
	return saveBytes(path, raw)
}

func saveBytes(path string, raw []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("emulator state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("emulator state: %w", err)
	}
	return nil
}

// Saver writes a state file behind the requests that change the state:
// a change schedules one write Delay later, so a burst of requests costs
// one write instead of one each (a full rewrite per request would make a
// drain of n records cost n² bytes). Flush writes what is pending at once
// and returns when the file holds every change made before it.
type Saver struct {
	// Path is the state file; Delay the coalescing delay (default 100 ms).
	Path  string
	Delay time.Duration
	// Snapshot marshals the state to write (MarshalState); it takes the
	// emulator's own lock.
	Snapshot func() ([]byte, error)
	// Failed is told of a write that failed; the emulator keeps serving
	// from memory.
	Failed func(error)

	wmu     sync.Mutex // held for a whole write
	mu      sync.Mutex // guards dirty and pending
	dirty   bool
	pending *time.Timer
}

// Changed schedules a write; it may be called with the emulator's lock held.
func (sv *Saver) Changed() {
	if sv == nil || sv.Path == "" {
		return
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.dirty = true
	if sv.pending != nil {
		return
	}
	d := sv.Delay
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	sv.pending = time.AfterFunc(d, func() { _ = sv.writeIfDirty() })
}

// Flush writes a pending change now; call it without the emulator's lock.
func (sv *Saver) Flush() error {
	if sv == nil || sv.Path == "" {
		return nil
	}
	sv.mu.Lock()
	if sv.pending != nil {
		sv.pending.Stop()
	}
	sv.mu.Unlock()
	return sv.writeIfDirty()
}

func (sv *Saver) writeIfDirty() error {
	sv.wmu.Lock()
	defer sv.wmu.Unlock()
	sv.mu.Lock()
	dirty := sv.dirty
	sv.dirty, sv.pending = false, nil
	sv.mu.Unlock()
	if !dirty {
		return nil
	}
	raw, err := sv.Snapshot()
	if err == nil {
		err = saveBytes(sv.Path, raw)
	}
	if err != nil && sv.Failed != nil {
		sv.Failed(err)
	}
	return err
}

// MarshalState is the state file's encoding, for a Saver's Snapshot.
func MarshalState(v any) ([]byte, error) {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("emulator state: %w", err)
	}
	return raw, nil
}
