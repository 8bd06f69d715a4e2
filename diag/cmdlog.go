package diag

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// commandLog keeps the ids of the signed commands that ran, with their
// answers, until each request expires: in bbolt, so a restart does not
// forget them. A signed request lives at most MaxLifetime, so the log
// holds at most what the rate limit lets in over that time; maxLogged
// bounds it below that, refusing new commands rather than forgetting
// unexpired ones (forgetting would let a replay run).
//
// Expiry is judged on the log's clock, never earlier than the latest time
// it has seen (kept in the log too): a controller without a real-time
// clock can start with its clock hours back (fake-hwclock), and on the
// wall clock alone a command whose id was pruned as expired would be
// valid again and run a second time.
type commandLog struct {
	st  *storage.Store
	now func() time.Time

	mu   sync.Mutex
	high time.Time // the latest time seen, persisted under clockKey
}

const (
	logBucket = "diag-commands"
	// clockKey keeps the latest time seen; no command id has a "/".
	clockKey  = "/clock"
	maxLogged = 4096
	// maxKeptAnswer bounds an answer kept for duplicates; a longer one
	// is kept as its status only.
	maxKeptAnswer = 2048
)

// errExpired is a request that expired by the log's clock.
var errExpired = errors.New("command expired (by the latest time this device has seen; its clock may have gone back)")

var errLogFull = errors.New("too many signed commands within their expiry; retry when older ones have expired")

// load reads the latest time seen from the log.
func (l *commandLog) load() error {
	return l.st.View(logBucket, func(b storage.Bucket) error {
		if v := b.Get([]byte(clockKey)); len(v) == 8 {
			l.mu.Lock()
			l.high = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
			l.mu.Unlock()
		}
		return nil
	})
}

// clock is the time expiry is judged at: now, or the latest time seen when
// the clock is behind it.
func (l *commandLog) clock() time.Time {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.high) {
		return now
	}
	return l.high
}

// advance records t as seen (in memory; reserve persists it).
func (l *commandLog) advance(t time.Time) {
	l.mu.Lock()
	if t.After(l.high) {
		l.high = t
	}
	l.mu.Unlock()
}

// reserve marks id as taken until expires, or returns the answer kept for
// it. Expired entries are removed on the way.
func (l *commandLog) reserve(id string, expires time.Time) (r Response, seen bool, err error) {
	now := l.clock()
	err = l.st.Update(logBucket, func(b storage.Bucket) error {
		// Persisted before anything is pruned at this time, so no restart
		// can judge a pruned id at an earlier one.
		if err := b.Put([]byte(clockKey), binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))); err != nil {
			return err
		}
		if v := b.Get([]byte(id)); len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) >= now.UnixMilli() {
			seen = true
			if json.Unmarshal(v[8:], &r) != nil || r.Status == 0 {
				r = Response{Status: 409, Body: "this command is already running or its answer was lost"}
			}
			return nil
		}
		if expires.Before(now) {
			return errExpired
		}
		n, err := prune(b, now)
		if err != nil {
			return err
		}
		if n >= maxLogged {
			return errLogFull
		}
		return b.Put([]byte(id), entry(expires, nil))
	})
	if err != nil && !errors.Is(err, errLogFull) && !errors.Is(err, errExpired) {
		err = fmt.Errorf("command log: %w", err)
	}
	if err == nil {
		l.advance(now)
	}
	return r, seen, err
}

// answered keeps the answer to a reserved id.
func (l *commandLog) answered(id string, expires time.Time, r Response) error {
	b, err := json.Marshal(r)
	if err != nil || len(b) > maxKeptAnswer {
		b, _ = json.Marshal(Response{Status: r.Status, Body: "answered before; the answer was too long to keep"})
	}
	return l.st.Update(logBucket, func(bk storage.Bucket) error { return bk.Put([]byte(id), entry(expires, b)) })
}

// prune deletes expired entries and counts the rest.
func prune(b storage.Bucket, now time.Time) (int, error) {
	var expired [][]byte
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		if string(k) == clockKey {
			return nil
		}
		if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) < now.UnixMilli() {
			expired = append(expired, append([]byte(nil), k...))
		} else {
			n++
		}
		return nil
	})
	for _, k := range expired {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return n, err
}

func entry(expires time.Time, answer []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(expires.UnixMilli())), answer...)
}
