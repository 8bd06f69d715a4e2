package cashregister

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// Bucket is the storage bucket the cash interface owns.
const Bucket = "pos"

// Errors a caller can act on.
var (
	ErrNotFound  = errors.New("not found")
	ErrNoCredit  = errors.New("no credit")
	ErrNotEnough = errors.New("not enough credit to cancel")
	ErrConflict  = errors.New("conflict")
	ErrInvalid   = errors.New("invalid credit")
)

// Register is the cash-register state on top of the agent's store.
type Register struct {
	st       *storage.Store
	articles map[int]Article
	now      func() time.Time
}

// NewRegister opens the cash-register state.
func NewRegister(st *storage.Store, articles []Article, now func() time.Time) *Register {
	if now == nil {
		now = time.Now
	}
	r := &Register{st: st, articles: map[int]Article{}, now: now}
	for _, a := range articles {
		r.articles[a.PLU] = a
	}
	return r
}

// Article returns the article for a PLU.
func (r *Register) Article(plu int) (Article, bool) {
	a, ok := r.articles[plu]
	return a, ok
}

// MaxCount bounds a credit: a PUT or POST grants 1..MaxCount portions or
// cancels 1..MaxCount; anything else is refused whole.
const MaxCount = 9999

// MaxPLU bounds a PLU so that it fits an int on every target (armhf too).
const MaxPLU = 1<<31 - 1

// newID gives credits ids in the register's style (epoch-based, like
// 11667928260823), strictly increasing, never reused and never one a
// register chose itself.
func (r *Register) newID(b storage.Bucket) (int64, error) {
	last := int64(0)
	if v := b.Get([]byte(kLastID)); len(v) == 8 {
		last = int64(binary.BigEndian.Uint64(v))
	}
	id := last
	if ms := r.now().UnixMilli(); ms > 0 && ms < math.MaxInt64/10 {
		id = max(id, ms*10-1)
	}
	for {
		if id == math.MaxInt64 {
			return 0, errors.New("credit ids exhausted")
		}
		id++
		if b.Get(key(kCredit, id)) == nil && b.Get(key(kGoneC, id)) == nil {
			break
		}
	}
	return id, b.Put([]byte(kLastID), binary.BigEndian.AppendUint64(nil, uint64(id)))
}

// Create makes an empty credit resource and returns its id.
func (r *Register) Create() (int64, error) {
	var id int64
	err := r.st.Update(Bucket, func(b storage.Bucket) error {
		var err error
		if id, err = r.newID(b); err != nil {
			return err
		}
		return putJSON(b, key(kCredit, id), stored{Credit: Credit{ID: Num(id)}})
	})
	return id, err
}

// CreateFilled is POST /credits with a body, in one transaction. With the
// body's ID set, the call is idempotent: the same ID and body again is the
// same credit (replay true), a different body for a used ID is ErrConflict.
func (r *Register) CreateFilled(c Credit) (id int64, replay bool, err error) {
	if err := r.check(c); err != nil {
		return 0, false, err
	}
	if c.ID > 0 && r.isReplay(int64(c.ID), c) {
		return int64(c.ID), true, nil
	}
	err = r.st.Update(Bucket, func(b storage.Bucket) error {
		id, replay = int64(c.ID), false
		if id == 0 {
			var err error
			if id, err = r.newID(b); err != nil {
				return err
			}
		} else if b.Get(key(kCredit, id)) == nil && b.Get(key(kGoneC, id)) == nil && uint64(id) <= prunedFloor(b) {
			return fmt.Errorf("%w: credit %d %w", ErrConflict, id, errPruned)
		} else if b.Get(key(kCredit, id)) != nil || b.Get(key(kGoneC, id)) != nil {
			var err error
			switch replay, err = replayed(b, id, c); {
			case err != nil || replay:
				return err
			case b.Get(key(kCredit, id)) == nil:
				return fmt.Errorf("%w: credit %d was deleted", ErrConflict, id)
			}
			return fmt.Errorf("%w: credit %d exists with other content", ErrConflict, id)
		}
		if err := putJSON(b, key(kCredit, id), stored{Credit: Credit{ID: Num(id)}}); err != nil {
			return err
		}
		_, err := fill(b, id, c)
		return err
	})
	return id, replay, err
}

func putJSON(b storage.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// validate checks a credit body's required fields and bounds.
func validate(c Credit) error {
	switch {
	case c.ID < 0:
		return errors.New("ID must be > 0")
	case c.Waiter <= 0:
		return errors.New("field Waiter is required and must be > 0")
	case c.PLU <= 0 || c.PLU > MaxPLU:
		return fmt.Errorf("PLU is required and must be 1..%d", MaxPLU)
	case c.Count == 0:
		return errors.New("field Count is required and must not be 0 (negative cancels)")
	case c.Count > MaxCount || c.Count < -MaxCount:
		return fmt.Errorf("field Count (%d) is out of range: at most %d portions are granted or cancelled at once", c.Count, MaxCount)
	}
	return nil
}

// check is validate plus what this wall pours; its errors are ErrInvalid.
func (r *Register) check(c Credit) error {
	if err := validate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, ok := r.articles[int(c.PLU)]; !ok && c.Count > 0 {
		return fmt.Errorf("%w: PLU %d is not poured here", ErrInvalid, c.PLU)
	}
	return nil
}

// Fill is PUT /credits/{id}. On an empty resource a positive count grants
// it; a negative one cancels that many of the PLU from the existing credits
// (the waiter's own first, newest first) and uses the placeholder up. On a
// filled credit a negative count cancels from that credit's own remaining
// count. The same body as the last one applied to the resource is a replay
// and changes nothing (a PUT is idempotent, RFC 9110 §9.2.2); a different
// positive body for a filled credit is ErrConflict: it would re-grant
// portions already poured. All or nothing. replay reports a no-op.
func (r *Register) Fill(id int64, c Credit) (replay bool, err error) {
	if err := r.check(c); err != nil {
		return false, err
	}
	if r.isReplay(id, c) {
		return true, nil
	}
	err = r.st.Update(Bucket, func(b storage.Bucket) error {
		replay, err = fill(b, id, c)
		return err
	})
	return replay, err
}

func fill(b storage.Bucket, id int64, c Credit) (bool, error) {
	c.ID = Num(id)
	if replay, err := replayed(b, id, c); err != nil || replay {
		return replay, err
	}
	raw := b.Get(key(kCredit, id))
	if raw == nil {
		return false, fmt.Errorf("credit %d: %w", id, ErrNotFound)
	}
	s, err := decode[stored](raw)
	if err != nil {
		return false, fmt.Errorf("credit %d: %w", id, err)
	}
	switch {
	case !s.Filled && c.Count > 0:
		last := c
		return false, putJSON(b, key(kCredit, id), stored{Credit: c, Filled: true, Granted: c.Count, Last: &last})
	case !s.Filled:
		if err := cancel(b, c); err != nil {
			return false, err
		}
		return false, used(b, id, c)
	case c.Count > 0:
		return false, fmt.Errorf("%w: credit %d is already filled (%d of PLU %d); a new grant needs a new credit, a correction a negative count",
			ErrConflict, id, s.Granted, s.PLU)
	}
	return false, cancelFrom(b, s, c)
}

// isReplay answers a replay from a read-only transaction, so that a
// register retrying in a loop costs no disk writes; anything else is
// decided again inside the writing transaction.
func (r *Register) isReplay(id int64, c Credit) bool {
	replay := false
	_ = r.st.View(Bucket, func(b storage.Bucket) error {
		var err error
		replay, err = replayed(b, id, c)
		return err
	})
	return replay
}

// replayed reports whether c is the grant of resource id, the last body
// applied to it, or the cancellation that used it up. A filled credit
// stored before bodies were kept knows only its remaining count: a replay
// is a body equal to it field for field, as for the newer form; any other
// body goes on to be refused as a conflict, never granted twice.
func replayed(b storage.Bucket, id int64, c Credit) (bool, error) {
	c.ID = Num(id)
	if raw := b.Get(key(kGoneC, id)); raw != nil {
		if len(raw) < 2 {
			return false, nil // deleted: the caller answers 404
		}
		prev, err := decode[Credit](raw)
		if err != nil {
			return false, fmt.Errorf("credit %d: %w", id, err)
		}
		if prev != c {
			return false, fmt.Errorf("%w: credit %d was used for a cancellation of %d of PLU %d", ErrConflict, id, -prev.Count, prev.PLU)
		}
		return true, nil
	}
	raw := b.Get(key(kCredit, id))
	if raw == nil {
		return false, nil
	}
	s, err := decode[stored](raw)
	if err != nil {
		return false, fmt.Errorf("credit %d: %w", id, err)
	}
	if s.Filled && s.Granted > 0 {
		grant := s.Credit
		grant.Count = s.Granted
		if grant == c { // the grant itself, arriving late after other changes
			return true, nil
		}
	}
	if s.Last != nil {
		return *s.Last == c, nil
	}
	old := s.Credit
	old.ID = Num(id)
	return s.Filled && old == c, nil
}

// cancelFrom takes a cancellation from one filled credit's own remaining count.
func cancelFrom(b storage.Bucket, s stored, c Credit) error {
	want := -int64(c.Count)
	switch left := max(int64(s.Count), 0); {
	case c.PLU != s.PLU:
		return fmt.Errorf("%w: credit %d is for PLU %d, not %d", ErrConflict, s.ID, s.PLU, c.PLU)
	case left < want:
		return fmt.Errorf("%w: %d of PLU %d requested, %d available on credit %d", ErrNotEnough, want, c.PLU, left, s.ID)
	}
	s.Count -= Num(want)
	last := c
	s.Last = &last
	return putJSON(b, key(kCredit, int64(s.ID)), s)
}

func drop(b storage.Bucket, kind, gone string, id int64) error {
	if err := b.Delete(key(kind, id)); err != nil {
		return err
	}
	return b.Put(key(gone, id), []byte{1})
}

// used removes a placeholder a cancellation used up; its tombstone keeps
// the body so that a repeated PUT answers 200 without cancelling again.
func used(b storage.Bucket, id int64, c Credit) error {
	if err := b.Delete(key(kCredit, id)); err != nil {
		return err
	}
	return putJSON(b, key(kGoneC, id), c)
}

// cancel reduces credits of c.PLU by -c.Count.
func cancel(b storage.Bucket, c Credit) error {
	credits, err := scan[stored](b, kCredit)
	if err != nil {
		return err
	}
	var pool []stored
	want, avail := -int64(c.Count), int64(0)
	for _, s := range credits {
		if s.Filled && s.PLU == c.PLU && s.Count > 0 {
			pool = append(pool, s)
			avail = min(avail+min(int64(s.Count), MaxCount), math.MaxInt64-MaxCount) // cannot wrap
		}
	}
	if avail < want {
		return fmt.Errorf("%w: %d of PLU %d requested, %d available", ErrNotEnough, want, c.PLU, avail)
	}
	sort.SliceStable(pool, func(i, j int) bool {
		if (pool[i].Waiter == c.Waiter) != (pool[j].Waiter == c.Waiter) {
			return pool[i].Waiter == c.Waiter
		}
		return pool[i].ID > pool[j].ID
	})
	for _, s := range pool {
		if want == 0 {
			break
		}
		take := min(want, int64(s.Count))
		s.Count -= Num(take)
		want -= take
		if err := putJSON(b, key(kCredit, int64(s.ID)), s); err != nil {
			return err
		}
	}
	return nil
}

func scan[T any](b storage.Bucket, kind string) ([]T, error) {
	var out []T
	err := b.ForEach(func(k, v []byte) error {
		if !bytes.HasPrefix(k, []byte(kind)) || len(k) != len(kind)+8 {
			return nil
		}
		x, err := decode[T](v)
		if err != nil {
			return fmt.Errorf("%s%d: %w", kind, binary.BigEndian.Uint64(k[len(kind):]), err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// Credits lists the credits that can still be poured.
func (r *Register) Credits() ([]Credit, error) {
	out := []Credit{}
	err := r.st.View(Bucket, func(b storage.Bucket) error {
		all, err := scan[stored](b, kCredit)
		for _, s := range all {
			if s.Filled && s.Count > 0 {
				out = append(out, s.Credit)
			}
		}
		return err
	})
	return out, err
}

// Credit returns one credit resource.
func (r *Register) Credit(id int64) (Credit, error) {
	var c Credit
	err := r.st.View(Bucket, func(b storage.Bucket) error {
		raw := b.Get(key(kCredit, id))
		if raw == nil {
			return fmt.Errorf("credit %d: %w", id, ErrNotFound)
		}
		s, err := decode[stored](raw)
		c = s.Credit
		return err
	})
	return c, err
}

// DeleteCredit removes a credit; deleting one already deleted succeeds.
func (r *Register) DeleteCredit(id int64) error {
	return r.st.Update(Bucket, func(b storage.Bucket) error {
		if b.Get(key(kCredit, id)) == nil {
			if b.Get(key(kGoneC, id)) != nil {
				return nil
			}
			return fmt.Errorf("credit %d: %w", id, ErrNotFound)
		}
		return drop(b, kCredit, kGoneC, id)
	})
}

// Debits lists the debits waiting for the register.
func (r *Register) Debits() ([]Debit, error) {
	out := []Debit{}
	err := r.st.View(Bucket, func(b storage.Bucket) error {
		all, err := scan[Debit](b, kDebit)
		out = append(out, all...)
		return err
	})
	return out, err
}

// Debit returns one debit.
func (r *Register) Debit(id int64) (Debit, error) {
	var d Debit
	err := r.st.View(Bucket, func(b storage.Bucket) error {
		raw := b.Get(key(kDebit, id))
		if raw == nil {
			return fmt.Errorf("debit %d: %w", id, ErrNotFound)
		}
		var err error
		d, err = decode[Debit](raw)
		return err
	})
	return d, err
}

// DeleteDebits removes collected debits. An id deleted before succeeds
// again; with strict, an id never issued is ErrNotFound.
func (r *Register) DeleteDebits(strict bool, ids ...int64) (int, error) {
	n := 0
	err := r.st.Update(Bucket, func(b storage.Bucket) error {
		n = 0
		for _, id := range ids {
			switch {
			case b.Get(key(kDebit, id)) != nil:
				if err := drop(b, kDebit, kGoneD, id); err != nil {
					return err
				}
				n++
			case b.Get(key(kGoneD, id)) == nil && strict:
				return fmt.Errorf("debit %d: %w", id, ErrNotFound)
			}
		}
		return nil
	})
	return n, err
}

// Reserve takes one count of plu from the waiter's oldest credit for a pour
// about to start; it is durable before it returns.
func (r *Register) Reserve(waiter int64, plu int) (Reservation, error) {
	art, ok := r.articles[plu]
	if !ok {
		return Reservation{}, fmt.Errorf("%w: PLU %d is not a cash-register article here", ErrNoCredit, plu)
	}
	var res Reservation
	err := r.st.Update(Bucket, func(b storage.Bucket) error {
		credits, err := scan[stored](b, kCredit)
		if err != nil {
			return err
		}
		for _, s := range credits {
			if !s.Filled || int64(s.Waiter) != waiter || int(s.PLU) != plu || s.Count <= 0 {
				continue
			}
			s.Count--
			if err := putJSON(b, key(kCredit, int64(s.ID)), s); err != nil {
				return err
			}
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			name := art.Name
			if s.ArticleName != "" {
				name = s.ArticleName
			}
			res = Reservation{ID: strconv.FormatUint(n, 10), CreditID: int64(s.ID), Waiter: waiter, PLU: plu,
				Table: int64(s.Table), Place: int64(s.Place), Article: name, Portion: art.Portion, Price: art.Price}
			return putJSON(b, append([]byte(kReserved), res.ID...), res)
		}
		return fmt.Errorf("%w for waiter %d on PLU %d", ErrNoCredit, waiter, plu)
	})
	return res, err
}

// Release gives a reservation's count back (the pour never started).
func (r *Register) Release(id string) error {
	return r.st.Update(Bucket, func(b storage.Bucket) error { return settle(b, id, nil) })
}

// Settle is the work committed with a pour's booking: a waiter pour that
// delivered becomes a debit; one that delivered nothing gives its count back.
func (r *Register) Settle(rec storage.Record) []storage.Change {
	id := rec.Ref.Reservation
	if id == "" {
		return nil
	}
	p := rec.Pour
	if p.Charged <= 0 || p.BelowMin {
		return []storage.Change{{Bucket: Bucket, Apply: func(b storage.Bucket) error { return settle(b, id, nil) }}}
	}
	return []storage.Change{{Bucket: Bucket, Apply: func(b storage.Bucket) error {
		return settle(b, id, &Debit{Amount: Num(p.Amount), Count: 1})
	}}}
}

// settle closes a reservation: with a debit, the debit is issued; without,
// the count goes back to its credit (if the register has not deleted it).
// A reservation already settled is left alone, so a retried booking is safe.
func settle(b storage.Bucket, id string, d *Debit) error {
	rk := append([]byte(kReserved), id...)
	raw := b.Get(rk)
	if raw == nil {
		return nil
	}
	res, err := decode[Reservation](raw)
	if err != nil {
		return err
	}
	if err := b.Delete(rk); err != nil {
		return err
	}
	if d == nil {
		ck := key(kCredit, res.CreditID)
		if craw := b.Get(ck); craw != nil {
			s, err := decode[stored](craw)
			if err != nil {
				return err
			}
			if s.Count < math.MaxInt64 {
				s.Count++
			}
			return putJSON(b, ck, s)
		}
		return nil
	}
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	d.ID, d.Waiter, d.PLU, d.Table, d.Place = Num(n), Num(res.Waiter), Num(res.PLU), Num(res.Table), Num(res.Place)
	d.Price, d.Articlename = Num(res.Price), res.Article
	return putJSON(b, key(kDebit, int64(n)), d)
}

// Issue is a change that issues d as a new debit (its ID the next in
// the register's sequence), committed with a booking: a pour paid from a
// customer account becomes a debit for the till in the pour's own commit.
// The booking's duplicate check (storage.Book) keeps a retried booking
// from issuing it twice.
func Issue(d Debit) storage.Change {
	return storage.Change{Bucket: Bucket, Apply: func(b storage.Bucket) error {
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		d.ID = Num(n)
		return putJSON(b, key(kDebit, int64(n)), d)
	}}
}

// Reconcile gives back the counts of reservations no pour will settle (the
// agent died between reserving and writing the pour's intent). Call it after
// the agent has recovered its interrupted pours.
func (r *Register) Reconcile() (int, error) {
	n := 0
	err := r.st.Update(Bucket, func(b storage.Bucket) error {
		var ids []string
		if err := b.ForEach(func(k, _ []byte) error {
			if bytes.HasPrefix(k, []byte(kReserved)) {
				ids = append(ids, string(k[len(kReserved):]))
			}
			return nil
		}); err != nil {
			return err
		}
		n = len(ids)
		for _, id := range ids {
			if err := settle(b, id, nil); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
