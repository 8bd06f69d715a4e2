// Package storage is the agent's durable record in one bbolt file: pour
// intents and checkpoints, the outbox of booked transactions, kegs,
// calibrations and the event log. Every write goes through one writer
// goroutine that commits concurrent requests together (group commit), so
// each caller still waits for its own fsync but the disk sees one per batch.
package storage

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this build reads and writes.
const SchemaVersion = 1

var (
	bMeta    = []byte("meta")
	bIntents = []byte("intents")
	bOutbox  = []byte("outbox")
	bPourIDs = []byte("pour_ids")
	bKegs    = []byte("kegs")
	bCalib   = []byte("calibration")
	bEvents  = []byte("events")
	bDead    = []byte("dead_letters")
	bCache   = []byte("uplink_cache")
	kSchema  = []byte("schema")
	kBootSeq = []byte("boot_seq")
)

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("storage closed")

// ErrQueueFull is reported (through done) by UpdateAsync when
// Options.MaxAsync writes are already waiting for the disk: the write is
// refused at once rather than holding up its caller.
var ErrQueueFull = errors.New("too many asynchronous writes waiting for the disk")

// ErrLocked is returned when another process holds the database.
var ErrLocked = errors.New("database is locked by another process (is the agent running?)")

// Options tune Open.
type Options struct {
	// OpenTimeout bounds the wait for the file lock.
	OpenTimeout time.Duration
	// MaxBatch caps how many writes share one commit.
	MaxBatch int
	// PourBatch caps them while pours are running (default 16): each
	// commit a checkpoint can wait behind stays small.
	PourBatch int
	// MaxEvents is how many events the log keeps.
	MaxEvents int
	// MaxAsync bounds the UpdateAsync writes waiting for the writer
	// (default 4 × MaxBatch); beyond it UpdateAsync refuses with
	// ErrQueueFull instead of blocking.
	MaxAsync int
	// Now stamps moved-aside files and tells the writer whether pours are
	// running; defaults to time.Now.
	Now func() time.Time
	// Sinks names the back ends every record is delivered to, each with
	// its own cursor and dead letters. A record leaves the outbox when all
	// of them have taken it; a sink the file knew that is not named any
	// more is forgotten. Nil keeps the sinks the file knows (DefaultSink
	// alone in a new file): field tools open the store without retiring
	// anyone's backlog.
	Sinks []string
	// Stamp is what Book writes into every record for the clouds: the
	// wall's zone and currency.
	Stamp Stamp
}

// Stamp is what every booked record carries besides its own data.
type Stamp struct {
	// Zone is the wall's local zone and ZoneName its IANA name (Zone's
	// own name when empty).
	Zone     *time.Location
	ZoneName string
	// Currency is the ISO 4217 code; Decimals its minor-unit digits.
	Currency string
	Decimals int
}

// Store is the open database.
type Store struct {
	db        *bolt.DB
	path      string
	moved     string
	salvage   SalvageReport
	maxEvents int
	now       func() time.Time
	sinks     []string
	stamp     Stamp

	jobs chan job
	quit chan struct{}
	done chan struct{}
	// wake tells the writer a checkpoint is pending. Checkpoints do not
	// queue behind other writes: each line has one slot holding its newest
	// progress, and the writer puts every pending slot first into the very
	// next commit, whatever else is queued.
	wake   chan struct{}
	ckptMu sync.Mutex
	ckpts  map[int]*pendingCkpt
	// events wait apart from the jobs so that raising one never blocks.
	evMu   sync.Mutex
	events []pendingEvent
	// async holds UpdateAsync's writes, apart from jobs for the same
	// reason: jobs is a bounded channel whose send blocks when it is full.
	asyncMu  sync.Mutex
	async    []job
	maxAsync int

	mu     sync.RWMutex
	closed bool
}

type job struct {
	fn   func(*bolt.Tx) error
	done func(error)
}

// Open opens or creates the database at path.
//
// Only verified corruption moves a file aside: bbolt rejected its content
// (or panicked walking it) and yet every byte of it reads back without an
// error. Then whatever can still be read from it (outbox, open pours, dead
// letters, the id sequences, and every other bucket as it was: the state
// other packages own, kegs, calibrations) is salvaged into a fresh
// database, pour ids
// continue past the old ones, and MovedAside and Salvage tell the caller.
// Anything else (permission denied, a lock held by another process, a
// read-only file system, an I/O error) is returned as an error and the file
// is left where it is.
func Open(path string, o Options) (*Store, error) {
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 5 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10000
	}
	if o.PourBatch <= 0 {
		o.PourBatch = 16
	}
	if o.MaxAsync <= 0 {
		o.MaxAsync = 4 * o.MaxBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if err := finishReplace(path); err != nil {
		return nil, err
	}
	db, checkErr := openChecked(path, o.OpenTimeout, false)
	moved, rep := "", SalvageReport{}
	if checkErr != nil {
		if !errors.Is(checkErr, errCorrupt) {
			return nil, fmt.Errorf("%w (the file is left in place)", checkErr)
		}
		var err error
		if moved, rep, err = replaceCorrupt(path, o, checkErr); err != nil {
			return nil, err
		}
		if db, err = openChecked(path, o.OpenTimeout, false); err != nil {
			return nil, fmt.Errorf("storage: fresh database: %w", err)
		}
	}
	if err := initSchema(db); err != nil {
		db.Close()
		return nil, err
	}
	if o.Sinks == nil {
		known, err := knownSinks(db)
		if err != nil {
			db.Close()
			return nil, err
		}
		o.Sinks = known
	}
	for _, n := range o.Sinks {
		if n == "" || strings.ContainsRune(n, 0) || len(n) > 64 {
			db.Close()
			return nil, fmt.Errorf("storage: sink name %q: want 1 to 64 bytes without NUL", n)
		}
	}
	if err := setupSinks(db, o.Sinks); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, path: path, moved: moved, salvage: rep, maxEvents: o.MaxEvents, maxAsync: o.MaxAsync, now: o.Now,
		sinks: slices.Clone(o.Sinks), stamp: o.Stamp,
		jobs: make(chan job, o.MaxBatch), quit: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), ckpts: map[int]*pendingCkpt{}}
	go s.writer(o.MaxBatch, o.PourBatch)
	return s, nil
}

// errCorrupt marks bbolt's verdict that a file's content is not a valid
// database. Open still verifies the verdict before it moves anything.
var errCorrupt = errors.New("corrupt")

// openChecked opens the file and reads every page reachable from the root.
// bbolt panics on corrupt pages (while loading the freelist or walking the
// tree), and a page that cannot be read from the device faults inside the
// memory map; both steps run on this goroutine with faults turned into
// panics and fenced with recover (bbolt's own tx.Check walks on a goroutine
// of its own where a panic cannot be caught). A panic inside bolt.Open leaks
// that attempt's file descriptor; the caller moves the file aside, so the
// leak cannot hold a lock on the fresh database.
//
// An error wraps errCorrupt only when bbolt judged the content; errors of
// the operating system (errno) and the lock timeout never do.
func openChecked(path string, timeout time.Duration, readOnly bool) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("storage: %s: %w (bbolt panicked: %v)", path, errCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o640, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if err != nil {
		var errno syscall.Errno
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("storage: %s: %w", path, ErrLocked)
		case errors.As(err, &errno):
			return nil, fmt.Errorf("storage: open %s: %w", path, err)
		}
		return nil, fmt.Errorf("storage: open %s: %w: %w", path, errCorrupt, err)
	}
	err = db.View(walk)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %s: consistency check: %w: %w", path, errCorrupt, err)
	}
	return db, nil
}

// walk visits every bucket and key, so every reachable page is read once.
func walk(tx *bolt.Tx) error {
	var visit func(b *bolt.Bucket, depth int) error
	visit = func(b *bolt.Bucket, depth int) error {
		if depth > 8 {
			return errors.New("buckets nested deeper than the schema allows")
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if child := b.Bucket(k); child != nil {
					return visit(child, depth+1)
				}
			}
			return nil
		})
	}
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return visit(b, 1) })
}

// ErrNoDatabase is returned by OpenReadOnly when there is no database file.
var ErrNoDatabase = errors.New("no database")

// OpenReadOnly opens an existing database for reading only, as the field
// tools that only look do: it never creates the file or its directory,
// never moves a file aside, and shares the lock with other readers (the
// running agent's exclusive lock still makes it wait, then fail with
// ErrLocked). Every write on the returned Store fails.
func OpenReadOnly(path string, o Options) (*Store, error) {
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("storage: %s: %w (wrong --config or data directory, or the agent has never run)", path, ErrNoDatabase)
		}
		return nil, fmt.Errorf("storage: %w", err)
	}
	db, err := openChecked(path, o.OpenTimeout, true)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(db); err != nil {
		db.Close()
		return nil, err
	}
	// The sinks shown are the configured ones and then any other the file
	// has a cursor for (a run with another configuration delivered to it:
	// its position still tells something); nothing is set up or forgotten,
	// as that would write.
	known, err := knownSinks(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	sinks := slices.Clone(o.Sinks)
	for _, n := range known {
		if !slices.Contains(sinks, n) {
			sinks = append(sinks, n)
		}
	}
	s := &Store{db: db, path: path, maxEvents: max(o.MaxEvents, 1), maxAsync: 1, now: o.Now, sinks: sinks,
		jobs: make(chan job, 1), quit: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), ckpts: map[int]*pendingCkpt{}}
	go s.writer(1, 1)
	return s, nil
}

// checkSchema refuses a read-only database this agent cannot read.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return fmt.Errorf("storage: %s: not a tapagent database (no meta bucket)", db.Path())
		}
		if v := meta.Get(kSchema); len(v) == 8 && be(v) > SchemaVersion {
			return fmt.Errorf("storage: database schema %d is newer than this agent's %d", be(v), SchemaVersion)
		}
		return nil
	})
}

func initSchema(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bMeta, bIntents, bOutbox, bPourIDs, bKegs, bCalib, bEvents, bDead, bCache} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("storage: bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		v := meta.Get(kSchema)
		switch {
		case v == nil:
			return meta.Put(kSchema, u64(SchemaVersion))
		case len(v) != 8:
			return fmt.Errorf("storage: schema version is %d bytes, want 8", len(v))
		case be(v) > SchemaVersion:
			return fmt.Errorf("storage: database schema %d is newer than this agent's %d; refusing to touch it", be(v), SchemaVersion)
		}
		// Migrations from older schemas go here, one step per version.
		return nil
	})
}

// MovedAside is the path a corrupt database was moved to, or "".
func (s *Store) MovedAside() string { return s.moved }

// Salvage says what was carried over from the database moved aside.
func (s *Store) Salvage() SalvageReport { return s.salvage }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// pourWindow is how long after the last checkpoint the writer takes pours
// to be running and keeps its commits small.
const pourWindow = time.Second

// writer is the single goroutine that commits. While pours are running
// (a checkpoint was committed within pourWindow) it takes at most
// pourBatch queued writes, pourBatch asynchronous ones and pourBatch
// events into a commit: a checkpoint handed over during a commit waits for
// it to finish, so no commit it can wait behind may hold a large batch.
func (s *Store) writer(maxBatch, pourBatch int) {
	defer close(s.done)
	batch := make([]job, 0, maxBatch)
	var lastCkpt time.Time
	for {
		batch = batch[:0]
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		case <-s.wake:
		case <-s.quit:
			return
		}
		limit := maxBatch
		if !lastCkpt.IsZero() && s.now().Sub(lastCkpt) < pourWindow {
			limit = min(maxBatch, pourBatch)
		}
	drain:
		for len(batch) < limit {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		batch = append(batch, s.takeAsync(limit)...)
		batch = append(batch, s.takeEvents(limit)...)
		ckpts := s.takeCheckpoints()
		if len(ckpts) > 0 {
			lastCkpt = s.now()
		}
		s.commit(append(ckpts, batch...))
	}
}

// commit runs a batch in one transaction. If anything fails the batch is
// retried one job per transaction, so one bad write cannot sink the others.
func (s *Store) commit(batch []job) {
	if len(batch) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, j := range batch {
			if err := j.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, j := range batch {
			j.done(err)
		}
		return
	}
	for _, j := range batch {
		j.done(s.db.Update(j.fn))
	}
}

// submit queues fn; done is called from the writer once it is durable or failed.
func (s *Store) submit(fn func(*bolt.Tx) error, done func(error)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(ErrClosed)
		return
	}
	s.jobs <- job{fn: fn, done: done}
}

// wakeWriter tells the writer that work waits outside jobs; it never
// blocks (a wake already pending covers this one).
func (s *Store) wakeWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// update runs fn through the writer and waits until it is on disk.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	ch := make(chan error, 1)
	s.submit(fn, func(err error) { ch <- err })
	return <-ch
}

// Close drains queued writes and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// No submitter can enqueue now. Stop the writer, then commit whatever it
	// left queued so that no accepted write is dropped.
	close(s.quit)
	<-s.done
	s.commit(s.takeCheckpoints())
	for len(s.jobs) > 0 {
		s.commit([]job{<-s.jobs})
	}
	for js := s.takeAsync(s.maxAsync); len(js) > 0; js = s.takeAsync(s.maxAsync) {
		s.commit(js)
	}
	for evs := s.takeEvents(s.maxEvents); len(evs) > 0; evs = s.takeEvents(s.maxEvents) {
		s.commit(evs)
	}
	return s.db.Close()
}

// NextBoot increments and returns the persistent boot counter.
func (s *Store) NextBoot() (uint64, error) {
	var n uint64
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kBootSeq); len(v) == 8 {
			n = be(v)
		}
		n++
		return meta.Put(kBootSeq, u64(n))
	})
	return n, err
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func be(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// Check reads every page reachable from the root, as at open: a corrupt
// page, or one the device cannot read, shows up as an error instead of a
// later panic or fault.
func (s *Store) Check() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("storage: check: %v", r)
		}
	}()
	return s.db.View(walk)
}

var kSalt = []byte("salt")

// Salt is this device's random secret for hashing identities (card UIDs)
// in events; made on first use and kept.
func (s *Store) Salt() ([]byte, error) {
	var salt []byte
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kSalt); len(v) == 32 {
			salt = append([]byte(nil), v...)
			return nil
		}
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		return meta.Put(kSalt, salt)
	})
	return salt, err
}
