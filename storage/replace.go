package storage

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SalvageReport is what Open carried over from a corrupt database into the
// fresh one that replaced it.
type SalvageReport struct {
	// Records is how many outbox records were carried over, to be sent.
	Records int
	// OpenPours is how many pour intents were carried over, to be recovered.
	OpenPours int
	// DeadLetters is how many refused records were carried over.
	DeadLetters int
	// Unreadable counts pages, records and intents that were found but
	// could not be read; they stay in the moved file.
	Unreadable int
	// PourSeq is the last pour sequence number the fresh database counts
	// from: the next pour id ends in PourSeq+1.
	PourSeq uint64
	// Reseeded is true when the old sequences could not be read: the fresh
	// ones then start at a random point at or above 2^40, far beyond any
	// sequence a tap wall reaches by counting, so no id is given twice.
	Reseeded bool
	// Copied is how many keys each other bucket carried over, by bucket
	// name as stored ("kegs", "ext/pos", "ext/mdb_vends", ...): the state
	// other packages own is copied as it was, with its sequence.
	Copied map[string]int
	// Incomplete names the buckets of which some part could not be read
	// (what was readable was copied) or whose header could not be read at
	// all; what is missing stays in the moved file.
	Incomplete []string
}

// String is a one-line summary for the moved-aside event.
func (r SalvageReport) String() string {
	s := fmt.Sprintf("salvaged %d records, %d open pours, %d dead letters; %d unreadable; pour ids continue after %d",
		r.Records, r.OpenPours, r.DeadLetters, r.Unreadable, r.PourSeq)
	if r.Reseeded {
		s += " (old sequence unreadable, reseeded)"
	}
	if len(r.Copied) > 0 {
		names := make([]string, 0, len(r.Copied))
		for n := range r.Copied {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d", n, r.Copied[n])
		}
		s += "; copied " + strings.Join(parts, ", ")
	}
	if len(r.Incomplete) > 0 {
		s += "; incomplete (rest left in the moved file): " + strings.Join(r.Incomplete, ", ")
	}
	return s
}

// reseedFloor is where sequences restart when the old ones are unreadable.
const reseedFloor = 1 << 40

// newSuffix is appended to the path of the database being built to replace
// a corrupt one, until it is complete.
const newSuffix = ".new"

// replaceCorrupt verifies that the file at path is corrupt rather than
// unreadable, builds a fresh database beside it holding what can be salvaged,
// then moves the corrupt file aside and the fresh one into its place. A crash
// at any step leaves either the corrupt file in place (the next start does it
// again) or a complete fresh database (finishReplace puts it in place).
func replaceCorrupt(path string, o Options, verdict error) (string, SalvageReport, error) {
	old, err := readBack(path)
	if err != nil {
		return "", SalvageReport{}, fmt.Errorf("%v; but reading the file back failed, so it is not taken as corrupt: %w (the file is left in place)", verdict, err)
	}
	tmp := path + newSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", SalvageReport{}, fmt.Errorf("storage: %w", err)
	}
	rep, err := buildFresh(tmp, old, o.OpenTimeout)
	if err != nil {
		return "", SalvageReport{}, fmt.Errorf("%v; building its replacement failed: %w (the file is left in place)", verdict, err)
	}
	moved := fmt.Sprintf("%s.corrupt-%s", path, o.Now().UTC().Format("20060102T150405.000"))
	if err := os.Rename(path, moved); err != nil {
		return "", SalvageReport{}, fmt.Errorf("%v; moving it aside failed: %w (the file is left in place)", verdict, err)
	}
	if err := finishReplace(path); err != nil {
		return "", SalvageReport{}, err
	}
	return moved, rep, nil
}

// finishReplace puts a complete replacement in place when a crash came
// between moving the corrupt file aside and renaming its replacement.
func finishReplace(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	tmp := path + newSuffix
	if _, err := os.Stat(tmp); err != nil {
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storage: putting the replacement database in place: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", dir, err)
	}
	return nil
}

// checkedBuckets are salvaged entry by entry, each decoded and checked:
// records are booked again (which rebuilds the idempotency index, pour_ids),
// open pours go back to a free line, and meta keeps its sequences and salt.
// Every other bucket is copied as it reads.
func checkedBuckets() map[string]bool {
	return map[string]bool{
		string(bMeta): true, string(bIntents): true, string(bOutbox): true,
		string(bPourIDs): true, string(bDead): true,
	}
}

// readBack reads the whole file with plain reads, so that a device error
// shows as an error (bbolt reports an unreadable meta page as an invalid
// database), then reads what it can of the tree.
func readBack(path string) (*oldDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := io.Copy(io.Discard, f)
	if err != nil {
		return nil, err
	}
	return readOld(f, size, nil)
}

// buildFresh creates the replacement database at tmp with the salvage in it.
func buildFresh(tmp string, old *oldDB, timeout time.Duration) (SalvageReport, error) {
	db, err := bolt.Open(tmp, 0o640, &bolt.Options{Timeout: timeout})
	if err != nil {
		return SalvageReport{}, err
	}
	if err := initSchema(db); err != nil {
		db.Close()
		return SalvageReport{}, err
	}
	var rep SalvageReport
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		rep, err = applySalvage(tx, old)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

// applySalvage writes what was read of the old database into a fresh one.
func applySalvage(tx *bolt.Tx, old *oldDB) (SalvageReport, error) {
	rep := SalvageReport{Unreadable: old.lost, Incomplete: append([]string(nil), old.unread...)}
	seq, bootSeq, err := continueSequences(tx, old, &rep)
	if err != nil {
		return rep, err
	}
	if b := old.buckets[string(bIntents)]; b != nil {
		for _, kv := range b.pairs {
			if !putIntent(tx, kv[1]) {
				rep.Unreadable++
				continue
			}
			rep.OpenPours++
		}
	}
	if b := old.buckets[string(bOutbox)]; b != nil {
		for _, kv := range b.pairs {
			if !putRecord(tx, kv[1]) {
				rep.Unreadable++
				continue
			}
			rep.Records++
		}
	}
	if b := old.buckets[string(bDead)]; b != nil {
		for _, kv := range b.pairs {
			var d DeadLetter
			if len(kv[0]) != 8 || json.Unmarshal(kv[1], &d) != nil {
				rep.Unreadable++
				continue
			}
			if err := tx.Bucket(bDead).Put(kv[0], kv[1]); err != nil {
				return rep, err
			}
			rep.DeadLetters++
		}
	}
	if err := copyBuckets(tx, old, &rep); err != nil {
		return rep, err
	}
	if err := continueStreams(tx, old, &rep); err != nil {
		return rep, err
	}
	rep.PourSeq = seq
	meta := tx.Bucket(bMeta)
	if err := meta.Put(kBootSeq, u64(bootSeq)); err != nil {
		return rep, err
	}
	return rep, tx.Bucket(bIntents).SetSequence(seq)
}

// copyBuckets carries every bucket not checked entry by entry over as it
// was read: each key and value the verified walk could read, and the
// bucket's sequence (owners number their entries with it). The walk has
// already bounded the work by the file's size; a key or value bbolt could
// not have stored counts as unreadable.
func copyBuckets(tx *bolt.Tx, old *oldDB, rep *SalvageReport) error {
	checked := checkedBuckets()
	names := make([]string, 0, len(old.buckets))
	for n := range old.buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := old.buckets[n]
		if b.lost > 0 {
			rep.Incomplete = append(rep.Incomplete, n)
		}
		if checked[n] {
			continue
		}
		if n == "" || len(n) > bolt.MaxKeySize {
			rep.Unreadable += len(b.pairs)
			continue
		}
		dst, err := tx.CreateBucketIfNotExists([]byte(n))
		if err != nil {
			return fmt.Errorf("storage: salvaging bucket %q: %w", n, err)
		}
		copied := 0
		for _, kv := range b.pairs {
			if len(kv[0]) == 0 || len(kv[0]) > bolt.MaxKeySize || len(kv[1]) > bolt.MaxValueSize {
				rep.Unreadable++
				continue
			}
			if err := dst.Put(kv[0], kv[1]); err != nil {
				return fmt.Errorf("storage: salvaging bucket %q: %w", n, err)
			}
			copied++
		}
		if err := dst.SetSequence(max(dst.Sequence(), b.seq)); err != nil {
			return fmt.Errorf("storage: salvaging bucket %q: %w", n, err)
		}
		if rep.Copied == nil {
			rep.Copied = map[string]int{}
		}
		rep.Copied[n] = copied
	}
	return nil
}

// continueSequences sets the fresh sequences past every old one it can
// prove, or reseeds them when it can prove none; it also keeps the salt, so
// hashed identities in events stay comparable.
func continueSequences(tx *bolt.Tx, old *oldDB, rep *SalvageReport) (pourSeq, bootSeq uint64, err error) {
	in, meta := old.buckets[string(bIntents)], old.buckets[string(bMeta)]
	var bootKnown bool
	if meta != nil {
		for _, kv := range meta.pairs {
			switch string(kv[0]) {
			case string(kBootSeq):
				if len(kv[1]) == 8 {
					bootSeq, bootKnown = be(kv[1]), true
				}
			case string(kSalt):
				if len(kv[1]) == 32 {
					if err := tx.Bucket(bMeta).Put(kSalt, kv[1]); err != nil {
						return 0, 0, err
					}
				}
			}
		}
	}
	if in != nil {
		pourSeq = in.seq
	}
	pourSeq = max(pourSeq, highestPourSeq(old))
	if in == nil || !bootKnown {
		seed, err := randomSeed()
		if err != nil {
			return 0, 0, err
		}
		rep.Reseeded = true
		if in == nil {
			pourSeq = max(pourSeq, seed)
		}
		if !bootKnown {
			bootSeq = max(bootSeq, seed)
		}
	}
	// The outbox and dead letters share keys (a buried record keeps its
	// outbox sequence), so the fresh outbox counts on past both.
	outSeq := uint64(0)
	if b := old.buckets[string(bOutbox)]; b != nil {
		outSeq = b.seq
	}
	for _, name := range [][]byte{bOutbox, bDead} {
		if b := old.buckets[string(name)]; b != nil {
			for _, kv := range b.pairs {
				if len(kv[0]) == 8 {
					outSeq = max(outSeq, be(kv[0]))
				}
			}
		}
	}
	return pourSeq, bootSeq, tx.Bucket(bOutbox).SetSequence(outSeq)
}

// highestPourSeq is the largest n of any pour id "{device}-{n}" the old
// file still names (intents, outbox, idempotency index).
func highestPourSeq(old *oldDB) uint64 {
	var hi uint64
	note := func(id string) {
		dev, n, ok := strings.Cut(id, "-")
		if !ok || dev == "" {
			return
		}
		if _, err := strconv.ParseInt(dev, 10, 64); err != nil {
			return
		}
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			hi = max(hi, v)
		}
	}
	for _, name := range [][]byte{bIntents, bOutbox} {
		if b := old.buckets[string(name)]; b != nil {
			for _, kv := range b.pairs {
				var r struct {
					ID     string `json:"id"`
					PourID string `json:"pour_id"`
				}
				if json.Unmarshal(kv[1], &r) == nil {
					note(r.ID)
					note(r.PourID)
				}
			}
		}
	}
	if b := old.buckets[string(bPourIDs)]; b != nil {
		for _, kv := range b.pairs {
			note(string(kv[0]))
		}
	}
	return hi
}

// continueStreams keeps the device sequences (the clouds' idempotency
// keys) from ever repeating after a move-aside: each stream continues past
// the copied counter and every salvaged record's number, and unless the
// old counters were read whole, past a random point at or above 2^42
// (beyond the pour-id reseed range and the SmartNow remotes of records
// without a sequence).
func continueStreams(tx *bolt.Tx, old *oldDB, rep *SalvageReport) error {
	hi := map[string]uint64{}
	if b := old.buckets[string(bOutbox)]; b != nil {
		for _, kv := range b.pairs {
			var r struct {
				Stream    string `json:"stream"`
				StreamSeq uint64 `json:"stream_seq"`
			}
			if json.Unmarshal(kv[1], &r) == nil && r.Stream != "" {
				hi[r.Stream] = max(hi[r.Stream], r.StreamSeq)
			}
		}
	}
	var seed uint64
	if b := old.buckets[string(bStreams)]; b == nil || b.lost > 0 || slices.Contains(old.unread, string(bStreams)) {
		n, err := randomSeed()
		if err != nil {
			return err
		}
		seed, rep.Reseeded = streamReseedFloor+n%reseedFloor, true
	}
	bk, err := tx.CreateBucketIfNotExists(bStreams)
	if err != nil {
		return err
	}
	for _, st := range []string{StreamSales, StreamService} {
		cur := uint64(0)
		if v := bk.Get([]byte(st)); len(v) == 8 {
			cur = be(v)
		}
		if err := bk.Put([]byte(st), u64(max(cur, hi[st], seed))); err != nil {
			return err
		}
	}
	return nil
}

// streamReseedFloor is where device sequences restart when the old
// counters are lost.
const streamReseedFloor = 1 << 42

func randomSeed() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("storage: reseeding sequences: %w", err)
	}
	return reseedFloor + binary.BigEndian.Uint64(b[:])%reseedFloor, nil
}

// putIntent carries an open pour over if it decodes and its line is free.
func putIntent(tx *bolt.Tx, v []byte) bool {
	var in Intent
	if json.Unmarshal(v, &in) != nil || in.V < 1 || in.V > RecordVersion || in.PourID == "" || in.Line <= 0 {
		return false
	}
	bk := tx.Bucket(bIntents)
	if bk.Get(lineKey(in.Line)) != nil {
		return false
	}
	return bk.Put(lineKey(in.Line), v) == nil
}

// putRecord carries an outbox record over, once per id.
func putRecord(tx *bolt.Tx, v []byte) bool {
	r, err := DecodeRecord(v)
	if err != nil {
		return false
	}
	var seq uint64
	dup := false
	return book(tx, r, v, nil, &seq, &dup) == nil
}
