package cashregister

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// What the register no longer needs is kept for a retention and then
// pruned: credits poured to the end (filled, nothing left, no pour holding
// a reservation on them) and the tombstones of deleted credits and
// collected debits. None carries a time, so the pruner marks each when it
// first finds it finished ("x/" + its key holds that time) and deletes it
// a retention later. Debits waiting for the register and credits with
// portions left are never pruned. "m/pruned" is the highest credit id
// pruned: a POST naming an id at or below it is refused as a conflict, so
// a register replaying a call from before the retention cannot grant a
// credit again.
const (
	kMark   = "x/"
	kPruned = "m/pruned"
)

// pruneBatch is the most changes one pruning commit makes.
const pruneBatch = 16

// Pruner prunes the register's finished state after keep.
type Pruner struct {
	St   *storage.Store
	Keep time.Duration
}

// Prune marks what is newly finished and deletes what was marked at least
// Keep ago, in small commits; it returns how many entries it deleted.
func (p Pruner) Prune(ctx context.Context, now time.Time) (int, error) {
	cut := now.Add(-p.Keep).UnixMilli()
	var todo [][]byte // only keys with work: a pass with none makes no commit
	err := p.St.View(Bucket, func(b storage.Bucket) error {
		held := map[int64]bool{}
		if err := b.ForEach(func(k, v []byte) error {
			if bytes.HasPrefix(k, []byte(kReserved)) {
				if res, err := decode[Reservation](v); err == nil {
					held[res.CreditID] = true
				}
			}
			return nil
		}); err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if due(b, k, v, held, cut) {
				todo = append(todo, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("cash register: pruning: %w", err)
	}
	deleted := 0
	for len(todo) > 0 {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		n := min(len(todo), pruneBatch)
		batch := todo[:n]
		todo = todo[n:]
		err := p.St.Update(Bucket, func(b storage.Bucket) error {
			d := 0
			for _, k := range batch {
				m, err := sweep(b, k, now.UnixMilli(), cut)
				if err != nil {
					return err
				}
				d += m
			}
			deleted += d
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("cash register: pruning: %w", err)
		}
	}
	return deleted, nil
}

// due says whether the pruning commit has work for k: a finished entry to
// mark or, marked before cut, to delete; a mark whose entry is gone or
// alive again.
func due(b storage.Bucket, k, v []byte, held map[int64]bool, cut int64) bool {
	if bytes.HasPrefix(k, []byte(kMark)) {
		entry := k[len(kMark):]
		ev := b.Get(entry)
		return ev == nil || !finished(entry, ev, held)
	}
	if !finished(k, v, held) {
		return false
	}
	mv := b.Get(append([]byte(kMark), k...))
	return len(mv) != 8 || int64(binary.BigEndian.Uint64(mv)) <= cut
}

// finished says whether the entry under k is done with: a tombstone, or
// a filled credit with nothing left that no reservation holds.
func finished(k, v []byte, held map[int64]bool) bool {
	switch {
	case len(k) == len(kGoneC)+8 && (bytes.HasPrefix(k, []byte(kGoneC)) || bytes.HasPrefix(k, []byte(kGoneD))):
		return true
	case len(k) == len(kCredit)+8 && bytes.HasPrefix(k, []byte(kCredit)):
		s, err := decode[stored](v)
		return err == nil && s.Filled && s.Count <= 0 && !held[int64(s.ID)]
	}
	return false
}

// sweep handles one key in the pruning commit: a finished entry is marked
// now or, marked before cut, deleted with its mark; a mark whose entry is
// gone or alive again is dropped. It returns the entries deleted.
func sweep(b storage.Bucket, k []byte, now, cut int64) (int, error) {
	if bytes.HasPrefix(k, []byte(kMark)) {
		entry := k[len(kMark):]
		if v := b.Get(entry); v == nil || !finished(entry, v, nil) {
			return 0, b.Delete(k)
		}
		return 0, nil // its entry is visited on its own
	}
	v := b.Get(k)
	if v == nil || !finished(k, v, nil) {
		return 0, nil // changed since the scan (a count given back)
	}
	mk := append([]byte(kMark), k...)
	mv := b.Get(mk)
	if len(mv) != 8 {
		return 0, b.Put(mk, binary.BigEndian.AppendUint64(nil, uint64(now)))
	}
	if int64(binary.BigEndian.Uint64(mv)) > cut {
		return 0, nil
	}
	if err := b.Delete(k); err != nil {
		return 0, err
	}
	if err := b.Delete(mk); err != nil {
		return 0, err
	}
	if bytes.HasPrefix(k, []byte(kCredit)) || bytes.HasPrefix(k, []byte(kGoneC)) {
		id := binary.BigEndian.Uint64(k[len(k)-8:])
		if id > prunedFloor(b) {
			if err := b.Put([]byte(kPruned), binary.BigEndian.AppendUint64(nil, id)); err != nil {
				return 0, err
			}
		}
	}
	return 1, nil
}

// prunedFloor is the highest credit id pruned (0: none).
func prunedFloor(b storage.Bucket) uint64 {
	if v := b.Get([]byte(kPruned)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// errPruned is the conflict of a POST naming a credit id already pruned.
var errPruned = errors.New("is at or below the ids already pruned after their retention; a new credit needs a new id")
