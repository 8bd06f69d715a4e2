package diag

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// commandLog keeps the ids of the signed commands that ran, with their
// answers, until each request expires: in bbolt, so a restart does not
// forget them. A signed request lives at most MaxLifetime, so the log
// holds at most what the rate limit lets in over that time; maxLogged
// bounds it below that, refusing new commands rather than forgetting
// unexpired ones (forgetting would let a replay run).
type commandLog struct {
	st  *storage.Store
	now func() time.Time
}

const (
	logBucket = "diag-commands"
	maxLogged = 4096
	// maxKeptAnswer bounds an answer kept for duplicates; a longer one
	// is kept as its status only.
	maxKeptAnswer = 2048
)

var errLogFull = errors.New("too many signed commands within their expiry; retry when older ones have expired")

// reserve marks id as taken until expires, or returns the answer kept for
// it. Expired entries are removed on the way.
func (l *commandLog) reserve(id string, expires time.Time) (r Response, seen bool, err error) {
	now := l.now()
	err = l.st.Update(logBucket, func(b storage.Bucket) error {
		if v := b.Get([]byte(id)); len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) >= now.UnixMilli() {
			seen = true
			if json.Unmarshal(v[8:], &r) != nil || r.Status == 0 {
				r = Response{Status: 409, Body: "this command is already running or its answer was lost"}
			}
			return nil
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
	if err != nil && !errors.Is(err, errLogFull) {
		err = fmt.Errorf("command log: %w", err)
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
