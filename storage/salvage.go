package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// This file reads a database that bbolt refuses, without bbolt: the file is
// read with plain reads (never mapped, so a bad page is an error, not a
// fault) and every length and page number is checked against the file
// before it is used. It follows the tree from the newest valid meta page
// only, so pages freed by earlier transactions (records already delivered
// and acknowledged) are never mistaken for live ones.
//
// The layout is bbolt's file format 2 (go.etcd.io/bbolt, internal/common):
// a 16-byte page header (id u64, flags u16, count u16, overflow u32), two
// meta pages, branch elements (pos u32, ksize u32, pgid u64) and leaf
// elements (flags u32, pos u32, ksize u32, vsize u32), little-endian on
// every platform the agent runs on. A bucket's value is its root page id
// and sequence, followed by an inline page when the root is 0.

const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	pageHdrSize   = 16
	elemSize      = 16
	metaSize      = 64
	pageBranch    = 0x01
	pageLeaf      = 0x02
	elemBucket    = 0x01
	maxTreeDepth  = 32
	maxPageSize   = 1 << 16
	minPageSize   = 1 << 10
	maxOldPageIDs = 1 << 22 // bounds the work on a file with absurd page numbers
)

// oldBucket is what could be read of one top-level bucket.
type oldBucket struct {
	seq   uint64
	pairs [][2][]byte
	// lost counts the pages and elements of this bucket that were
	// referenced but unreadable: the bucket is incomplete.
	lost int
}

// oldDB is what could be read of a database moved aside.
type oldDB struct {
	buckets map[string]*oldBucket
	// unread names the buckets found whose header could not be read.
	unread []string
	// lost counts pages and elements that were referenced but unreadable.
	lost int
	// visited counts the elements the walk went through.
	visited int64
}

type oldFile struct {
	r     io.ReaderAt
	size  int64
	psize int64
	seen  map[uint64]bool
	lost  int
	// elems is how many more elements the walk may visit. Every element of
	// a real file takes 16 bytes of its own, so a file of n bytes holds at
	// most n/16; a scribbled one could make many elements share bytes.
	elems, visited int64
}

// readOld reads the top-level buckets named in want from a bbolt file, or
// every top-level bucket when want is nil. A file without a valid meta page
// yields no buckets and no error: there is nothing left to read. Only a
// failing read is an error.
func readOld(r io.ReaderAt, size int64, want map[string]bool) (*oldDB, error) {
	out := &oldDB{buckets: map[string]*oldBucket{}}
	root, psize, ok, err := newestMeta(r, size)
	if err != nil || !ok {
		return out, err
	}
	f := &oldFile{r: r, size: size, psize: psize, seen: map[uint64]bool{}, elems: size / elemSize}
	err = f.walkPage(root, 0, func(flags uint32, k, v []byte) error {
		if flags&elemBucket == 0 || (want != nil && !want[string(k)]) || out.buckets[string(k)] != nil {
			return nil
		}
		before := f.lost
		b, err := f.bucket(v)
		if err != nil {
			var rerr *readError
			if errors.As(err, &rerr) {
				return err
			}
			f.lost++
			out.unread = append(out.unread, string(k))
			return nil
		}
		b.lost = f.lost - before
		out.buckets[string(k)] = b
		return nil
	})
	out.lost, out.visited = f.lost, f.visited
	return out, err
}

// newestMeta finds the valid meta page with the highest transaction id and
// returns its root page and page size.
func newestMeta(r io.ReaderAt, size int64) (root uint64, psize int64, ok bool, err error) {
	var bestTx uint64
	try := func(off int64) error {
		if off+pageHdrSize+metaSize > size {
			return nil
		}
		buf := make([]byte, pageHdrSize+metaSize)
		if _, err := r.ReadAt(buf, off); err != nil {
			return fmt.Errorf("storage: reading meta page at %d: %w", off, err)
		}
		m := buf[pageHdrSize:]
		le := binary.LittleEndian
		if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
			return nil
		}
		h := fnv.New64a()
		h.Write(m[:56])
		ps := int64(le.Uint32(m[8:]))
		if h.Sum64() != le.Uint64(m[56:]) || ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
			return nil
		}
		if off != 0 && off != ps {
			return nil // a meta page sits at page 0 or page 1 of its own size
		}
		if tx := le.Uint64(m[48:]); !ok || tx > bestTx {
			root, psize, ok, bestTx = le.Uint64(m[16:]), ps, true, tx
		}
		return nil
	}
	if err := try(0); err != nil {
		return 0, 0, false, err
	}
	for ps := int64(minPageSize); ps <= maxPageSize; ps <<= 1 {
		if err := try(ps); err != nil {
			return 0, 0, false, err
		}
	}
	return root, psize, ok, nil
}

// bucket reads a bucket from its value in the parent: the header, then the
// inline page or the tree under the root page. Nested buckets are skipped:
// the agent's schema has none.
func (f *oldFile) bucket(v []byte) (*oldBucket, error) {
	if len(v) < 16 {
		return nil, errors.New("bucket header too short")
	}
	le := binary.LittleEndian
	b := &oldBucket{seq: le.Uint64(v[8:])}
	collect := func(flags uint32, k, val []byte) error {
		if flags&elemBucket == 0 {
			b.pairs = append(b.pairs, [2][]byte{k, val})
		}
		return nil
	}
	var err error
	if root := le.Uint64(v[0:]); root == 0 {
		err = f.walkBuf(v[16:], 0, collect)
	} else {
		err = f.walkPage(root, 0, collect)
	}
	return b, err
}

// walkPage reads page id and walks the tree under it.
func (f *oldFile) walkPage(id uint64, depth int, fn func(flags uint32, k, v []byte) error) error {
	buf, err := f.page(id)
	if err != nil {
		var rerr *readError
		if errors.As(err, &rerr) {
			return err
		}
		f.lost++
		return nil
	}
	return f.walkBuf(buf, depth, fn)
}

// readError is a read of the file that failed (as opposed to a page whose
// content makes no sense).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// page reads one page with its overflow, checking that it lies in the file
// and names itself.
func (f *oldFile) page(id uint64) ([]byte, error) {
	if id < 2 || id >= maxOldPageIDs || int64(id) >= f.size/f.psize || f.seen[id] {
		return nil, fmt.Errorf("page %d out of range or seen before", id)
	}
	f.seen[id] = true
	off := int64(id) * f.psize
	hdr := make([]byte, pageHdrSize)
	if _, err := f.r.ReadAt(hdr, off); err != nil {
		return nil, &readError{fmt.Errorf("storage: reading page %d: %w", id, err)}
	}
	le := binary.LittleEndian
	if le.Uint64(hdr) != id {
		return nil, fmt.Errorf("page %d names itself %d", id, le.Uint64(hdr))
	}
	n := (int64(le.Uint32(hdr[12:])) + 1) * f.psize
	if n > f.size-off {
		return nil, fmt.Errorf("page %d overflows the file", id)
	}
	buf := make([]byte, n)
	if _, err := f.r.ReadAt(buf, off); err != nil {
		return nil, &readError{fmt.Errorf("storage: reading page %d: %w", id, err)}
	}
	return buf, nil
}

// walkBuf calls fn for every leaf element under a page held in buf.
func (f *oldFile) walkBuf(buf []byte, depth int, fn func(flags uint32, k, v []byte) error) error {
	if depth > maxTreeDepth || len(buf) < pageHdrSize {
		f.lost++
		return nil
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if pageHdrSize+count*elemSize > len(buf) {
		f.lost++
		return nil
	}
	for i := 0; i < count; i++ {
		if f.elems--; f.elems < 0 {
			f.lost++
			return nil
		}
		f.visited++
		at := pageHdrSize + i*elemSize
		e := buf[at : at+elemSize]
		switch flags {
		case pageBranch:
			if err := f.walkPage(le.Uint64(e[8:]), depth+1, fn); err != nil {
				return err
			}
		case pageLeaf:
			pos, ks, vs := uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
			start := uint64(at) + pos
			if start+ks+vs > uint64(len(buf)) {
				f.lost++
				continue
			}
			k, v := buf[start:start+ks], buf[start+ks:start+ks+vs]
			if err := fn(le.Uint32(e[0:]), k, v); err != nil {
				return err
			}
		default:
			f.lost++
			return nil
		}
	}
	return nil
}
