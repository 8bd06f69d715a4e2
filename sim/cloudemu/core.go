package cloudemu

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
)

// Core is the server plumbing every emulator is built on: its state file
// (loaded once, written behind the changes), its injected faults, its
// loopback listener and the fault-control path. The emulator keeps its own
// state and the lock that guards it; Core only reads them for a snapshot.
type Core struct {
	name   string
	addr   string
	faults Injector
	saver  *Saver
}

// CoreOptions are what an emulator tells its Core.
type CoreOptions struct {
	// Name prefixes errors and log lines ("smartnow emulator").
	Name string
	// Addr is where Start listens when called with "".
	Addr string
	// StateFile is the optional state file; Faults apply from the start.
	StateFile string
	Faults    Faults
	Log       *slog.Logger
}

// Open prepares c and loads the state file, if there is one, into st (a
// pointer to the emulator's state, guarded by mu). found is false when
// there is no state yet and the emulator must seed it.
func (c *Core) Open(o CoreOptions, mu *sync.Mutex, st any) (found bool, err error) {
	c.name, c.addr = o.Name, o.Addr
	c.faults.Set(o.Faults)
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.saver = &Saver{Path: o.StateFile,
		Snapshot: func() ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			return MarshalState(st)
		},
		Failed: func(err error) { log.Error(o.Name+": saving the state", "err", err) }}
	if o.StateFile == "" {
		return false, nil
	}
	if found, err = LoadState(o.StateFile, st); err != nil {
		return false, fmt.Errorf("%s: %w", o.Name, err)
	}
	return found, nil
}

// Changed schedules a write of the state file; the emulator's lock may be
// held. A failed write is logged: the emulator keeps serving from memory.
func (c *Core) Changed() { c.saver.Changed() }

// Close writes a pending change to the state file; the emulator keeps
// serving after it.
func (c *Core) Close() error { return c.saver.Flush() }

// SetFaults replaces the injected faults and reports whether the emulator
// is to expire its tokens.
func (c *Core) SetFaults(f Faults) (expireTokens bool) { return c.faults.Set(f) }

// Handler serves the fault-control path /_emulator/faults (setFaults is
// the emulator's own SetFaults) and everything else through api with the
// faults applied; fail500 writes the cloud's own 500 body. It routes by
// exact path, not a ServeMux, so that api sees every path as sent.
func (c *Core) Handler(api http.Handler, fail500 func(http.ResponseWriter), setFaults func(Faults)) http.Handler {
	control := c.faults.Handler(setFaults)
	wrapped := c.faults.Wrap(api, fail500)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_emulator/faults" {
			control.ServeHTTP(w, r)
			return
		}
		wrapped.ServeHTTP(w, r)
	})
}

// Start serves h on addr (CoreOptions.Addr when ""), a loopback address,
// and returns the base URL and a stop function that shuts the listener
// down and then writes a pending change (Close).
func (c *Core) Start(addr string, h http.Handler) (url string, stop func(), err error) {
	if addr == "" {
		addr = c.addr
	}
	url, stopHTTP, err := Start(addr, h)
	if err != nil {
		return "", nil, err
	}
	return url, func() { stopHTTP(); _ = c.Close() }, nil
}

// OrEmpty returns m, or an empty map when m is nil: a state file written
// before a map existed loads it as nil.
func OrEmpty[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
