package ttgserver

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/ttg"
)

// txKey identifies a transaction for duplicate detection: the same device
// sending the same tap twice (after a lost reply) is skipped, not doubled.
// Every field counts: another record that merely shares the card and the
// time is not a resend, and skipping it would tell its sender the server
// stored something it did not.
func txKey(device int64, t ttg.Transaction) string { return recordKey(device, t) }

// cpKey is txKey for card purchases.
func cpKey(device int64, c ttg.CardPurchase) string { return recordKey(device, c) }

// recordKey is the device and a digest of the whole decoded record (the
// fields the server knows; unknown ones were dropped by decoding).
func recordKey(device int64, rec any) string {
	raw, _ := json.Marshal(rec) // a decoded ttg record always encodes
	sum := sha256.Sum256(raw)
	return fmt.Sprintf("%d|%x", device, sum[:16])
}

// uploadCheck is what check says of one record: its key, its time in epoch
// seconds (for records_skipped_str, which 3.39 and 3.41 say names it), and
// how to store it (nil: it is already stored).
type uploadCheck struct {
	key   string
	epoch int64
	store func(*bolt.Tx) error
}

// envelope is an upload whose records are checked one by one.
type envelope struct {
	ID         int64             `json:"id"`
	LocationID json.RawMessage   `json:"locationID"`
	DeviceID   int64             `json:"deviceID"`
	Records    []json.RawMessage `json:"-"`
}

func (s *Server) decodeEnvelope(raw []byte, listKey string) (envelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return envelope{}, fmt.Errorf("invalid JSON request: %w", err)
	}
	var e envelope
	for k, v := range m {
		var err error
		switch k {
		case "id":
			err = json.Unmarshal(v, &e.ID)
		case "locationID":
			e.LocationID = v
		case "deviceID":
			err = json.Unmarshal(v, &e.DeviceID)
		case listKey:
			err = json.Unmarshal(v, &e.Records)
		default:
			// Spec §3: the definitions "only show relevant data".
			s.log.Info("ttg emulator: ignored an unknown upload field", "field", k)
		}
		if err != nil {
			return envelope{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	if e.DeviceID <= 0 {
		return envelope{}, fmt.Errorf("deviceID missing or not > 0")
	}
	if len(e.LocationID) == 0 {
		return envelope{}, fmt.Errorf("locationID missing")
	}
	if e.Records == nil {
		return envelope{}, fmt.Errorf("%s missing", listKey)
	}
	return e, nil
}

// upload runs check on each record and store on the valid new ones.
func (s *Server) upload(e envelope, check func(json.RawMessage) (uploadCheck, error)) reply {
	res := ttg.UploadResult{UUID: s.st.UUID, Valid: true}
	var infos, skipped []string
	var writes []func(*bolt.Tx) error
	seen := map[string]bool{}
	for i, raw := range e.Records {
		c, err := check(raw)
		key, store := c.key, c.store
		switch {
		case err != nil:
			res.RecordsMalformatted++
			infos = append(infos, fmt.Sprintf("record %d: %v", i, err))
		case seen[key]:
			res.RecordsSkipped++
			skipped = append(skipped, fmt.Sprintf("record %d (timestamp %d) duplicates a record in this request", i, c.epoch))
		default:
			seen[key] = true
			if store == nil {
				res.RecordsSkipped++
				skipped = append(skipped, fmt.Sprintf("record %d (timestamp %d) exists", i, c.epoch))
				continue
			}
			writes = append(writes, store)
			res.RecordsInserted++
		}
	}
	if len(writes) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			if s.faults.FailCommit > 0 {
				s.faults.FailCommit--
				return errInjectedCommit
			}
			for _, w := range writes {
				if err := w(tx); err != nil {
					return err
				}
			}
			return s.saveState(tx)
		}); err != nil {
			s.rollback(err)
			return reply{http.StatusInternalServerError, map[string]string{"error": "cannot store: " + err.Error()}}
		}
	}
	res.Valid = res.RecordsMalformatted == 0
	res.InfoString = strings.Join(infos, "; ")
	res.RecordsSkippedStr = strings.Join(skipped, "; ")
	return ok(res)
}

// errInjectedCommit is the FailCommit fault's database error.
var errInjectedCommit = errors.New("injected commit failure (disk full)")

func appendRecord(tx *bolt.Tx, bucket []byte, v any) error {
	b := tx.Bucket(bucket)
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, n), raw)
}

func (s *Server) transaction(raw []byte) reply {
	e, err := s.decodeEnvelope(raw, "transactions")
	if err != nil {
		return ok(ttg.UploadResult{UUID: s.st.UUID, Valid: false, InfoString: err.Error()})
	}
	var loc string
	if json.Unmarshal(e.LocationID, &loc) != nil || loc == "" {
		return ok(ttg.UploadResult{UUID: s.st.UUID, Valid: false, InfoString: "locationID must be a non-empty string"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices[e.DeviceID] = s.o.Now()
	// Records are applied in memory as they validate, so that a later one
	// in the same request sees an earlier one; a failed commit reloads
	// memory from the database and answers 500, and the resend is new.
	return s.upload(e, func(r json.RawMessage) (uploadCheck, error) {
		var t ttg.Transaction
		if err := s.decode(r, &t); err != nil {
			return uploadCheck{}, err
		}
		st, err := s.checkTx(e.DeviceID, t)
		if err != nil {
			return uploadCheck{}, err
		}
		key := txKey(e.DeviceID, t)
		if s.txKeys[key] {
			return uploadCheck{key: key, epoch: st.StartEpoch}, nil
		}
		st.LocationID, st.Received = loc, s.o.Now().Unix()
		s.txKeys[key] = true
		s.txs = append(s.txs, st)
		s.applyTx(e.DeviceID, t)
		return uploadCheck{key, st.StartEpoch, func(tx *bolt.Tx) error { return appendRecord(tx, bTx, st) }}, nil
	})
}

// checkTx applies the spec's field rules to one transaction.
func (s *Server) checkTx(device int64, t ttg.Transaction) (StoredTx, error) {
	start, err := ttg.ParseTime(t.Start, s.loc)
	if err != nil {
		return StoredTx{}, fmt.Errorf("tst_start %q is not YYYY-mm-dd HH:MM:SS", t.Start)
	}
	stop, err := ttg.ParseTime(t.Stop, s.loc)
	if err != nil {
		return StoredTx{}, fmt.Errorf("tst_stop %q is not YYYY-mm-dd HH:MM:SS", t.Stop)
	}
	if stop.Before(start) {
		start, stop = fallBackSpan(start, stop, s.loc)
	}
	empty := t.PLU == 0 && t.Money == 0 && t.Volume == 0
	switch {
	case stop.Before(start):
		return StoredTx{}, fmt.Errorf("tst_stop before tst_start")
	case ttg.CardTypeString(t.CardType) == "":
		return StoredTx{}, fmt.Errorf("unknown card_type %d", t.CardType)
	case t.ExternalID == "":
		return StoredTx{}, fmt.Errorf("external_id must not be empty")
	case t.CardName == "":
		return StoredTx{}, fmt.Errorf("card_name must not be empty")
	case t.Money < 0 || t.Volume < 0 || t.Servings < 0 || t.PricePerUnit < 0:
		return StoredTx{}, fmt.Errorf("amounts must not be negative")
	case t.VolumeDP < 0 || t.VolumeDP > 4:
		return StoredTx{}, fmt.Errorf("volume_amount_dp %d out of range", t.VolumeDP)
	case empty && t.CardID == 0:
		return StoredTx{}, fmt.Errorf("an empty transaction must name the card it releases")
	}
	if !empty {
		if _, ok := s.st.Products[t.PLU]; !ok {
			return StoredTx{}, fmt.Errorf("plu %d does not exist", t.PLU)
		}
	}
	if t.ItemID != "" && !s.itemExists(t.ItemID) {
		return StoredTx{}, fmt.Errorf("item_id %q does not exist", t.ItemID)
	}
	if t.CardType == ttg.CardOnlinePre || t.CardType == ttg.CardOnlineBill {
		if _, ok := s.st.Cards[t.CardID]; !ok {
			return StoredTx{}, fmt.Errorf("online card %d unknown", t.CardID)
		}
	}
	return StoredTx{DeviceID: device, StartEpoch: start.Unix(), StopEpoch: stop.Unix(), Tx: t}, nil
}

// fallBackSpan rereads a start and stop that a client wrote on a wall
// clock set back between them (a pour from 02:59:50 CEST to 02:00:10 CET
// reads stop before start): when each wall time also exists at the other
// offset of the change, it takes the start at the earlier offset or the
// stop at the later one, whichever puts the stop at or after the start.
// So a stop up to the offset change before its start is accepted, in the
// ambiguous hour only; anything else is left for the caller to refuse.
func fallBackSpan(start, stop time.Time, loc *time.Location) (time.Time, time.Time) {
	_, before := start.Add(-24 * time.Hour).In(loc).Zone()
	_, after := start.Add(24 * time.Hour).In(loc).Zone()
	shift := time.Duration(before-after) * time.Second
	if shift <= 0 {
		return start, stop
	}
	sameWall := func(a, b time.Time) bool { return a.In(loc).Format(ttg.TimeLayout) == b.In(loc).Format(ttg.TimeLayout) }
	if early := start.Add(-shift); sameWall(early, start) && !stop.Before(early) {
		return early, stop
	}
	if late := stop.Add(shift); sameWall(late, stop) && !late.Before(start) {
		return start, late
	}
	return start, stop
}

func (s *Server) itemExists(id string) bool {
	for _, it := range s.st.Items {
		if it.ItemID == id {
			return true
		}
	}
	return false
}

// applyTx charges an online card and releases its login lock.
func (s *Server) applyTx(device int64, t ttg.Transaction) {
	c, ok := s.st.Cards[t.CardID]
	if !ok {
		return
	}
	if c.LockedBy == device {
		c.LockedBy = 0
	}
	if t.PLU == 0 && t.Money == 0 && t.Volume == 0 {
		return
	}
	c.Balance += int64(t.Money)
	if c.Type == ttg.CardOnlinePre {
		c.Credit -= int64(t.Money)
	}
	c.ConsumedServings += int64(t.Servings)
	c.VolumeConsumed += int64(t.Volume)
	c.LastTap, c.Last = s.o.Now().Unix(), s.o.Now().Unix()
}

func (s *Server) cardPurchase(raw []byte) reply {
	e, err := s.decodeEnvelope(raw, "cardpurchases")
	if err != nil {
		return ok(ttg.UploadResult{UUID: s.st.UUID, Valid: false, InfoString: err.Error()})
	}
	var loc int64
	if json.Unmarshal(e.LocationID, &loc) != nil {
		return ok(ttg.UploadResult{UUID: s.st.UUID, Valid: false, InfoString: "locationID must be an int"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices[e.DeviceID] = s.o.Now()
	refuseResend := s.faults.RefuseCardResend
	return s.upload(e, func(r json.RawMessage) (uploadCheck, error) {
		var c ttg.CardPurchase
		if err := s.decode(r, &c); err != nil {
			return uploadCheck{}, err
		}
		// A resend (the charger's reply was lost) is counted as skipped
		// before the card rules run, as 3.41 does for transactions: the
		// card it created exists now, which is no error of the resend.
		key := cpKey(e.DeviceID, c)
		if s.cpKeys[key] && !refuseResend {
			created, _ := ttg.ParseTime(c.Created, s.loc) // it parsed when it was stored
			return uploadCheck{key: key, epoch: created.Unix()}, nil
		}
		created, err := s.checkCP(c)
		if err != nil {
			return uploadCheck{}, err
		}
		if s.cpKeys[key] {
			return uploadCheck{key: key, epoch: created}, nil
		}
		st := StoredCP{DeviceID: e.DeviceID, Received: s.o.Now().Unix(), Epoch: created, CP: c}
		s.cpKeys[key] = true
		s.cps = append(s.cps, st)
		s.applyCP(c, created)
		return uploadCheck{key, created, func(tx *bolt.Tx) error { return appendRecord(tx, bCP, st) }}, nil
	})
}

func (s *Server) checkCP(c ttg.CardPurchase) (int64, error) {
	created, err := ttg.ParseTime(c.Created, s.loc)
	if err != nil {
		return 0, fmt.Errorf("creationTimestamp %q is not YYYY-mm-dd HH:MM:SS", c.Created)
	}
	if c.Expires != "" {
		if _, err := ttg.ParseTime(c.Expires, s.loc); err != nil {
			return 0, fmt.Errorf("expirationTimestamp %q is not empty or YYYY-mm-dd HH:MM:SS", c.Expires)
		}
	}
	card, exists := s.st.Cards[c.CardID]
	switch {
	case c.CardID <= 0:
		return 0, fmt.Errorf("card_id must be > 0")
	case !ttg.PurchaseTypesAPI[c.Type]:
		return 0, fmt.Errorf("cardPurchaseType %d is not possible with the API", c.Type)
	case c.Amount < 0 || c.ServingsLimit < 0 || c.Deposit < 0:
		return 0, fmt.Errorf("amounts must not be negative")
	case c.Type != 113 && c.Amount != 0:
		return 0, fmt.Errorf("cardPurchaseType %d needs amount=0", c.Type)
	case (c.Type == 111 || c.Type == 121) && exists:
		return 0, fmt.Errorf("card %d exists", c.CardID)
	case c.Type != 111 && c.Type != 121 && !exists:
		return 0, fmt.Errorf("card %d unknown", c.CardID)
	case c.Type == 113 && card.Type != ttg.CardOnlinePre:
		return 0, fmt.Errorf("card %d is not an online prepay card", c.CardID)
	case c.AlcoholAllowed != 0 && c.AlcoholAllowed != 1:
		return 0, fmt.Errorf("alcohol_allowed must be 0 or 1")
	}
	return created.Unix(), nil
}

func (s *Server) applyCP(c ttg.CardPurchase, at int64) {
	exp := int64(0)
	if t, err := ttg.ParseTime(c.Expires, s.loc); err == nil {
		exp = t.Unix()
	}
	card := s.st.Cards[c.CardID]
	switch c.Type {
	case 111, 121:
		typ := ttg.CardOnlinePre
		if c.Type == 121 {
			typ = ttg.CardOnlineBill
		}
		s.st.Cards[c.CardID] = &Card{ID: c.CardID, Type: typ, Name: c.CardName, ServingsLimit: c.ServingsLimit,
			AlcoholAllowed: c.AlcoholAllowed == 1, Created: at, Last: at, Expires: exp, Staff: c.StaffName}
		return
	case 112, 122:
		card.Blocked, card.Expires, card.ServingsLimit = false, exp, c.ServingsLimit
		card.ConsumedServings, card.AlcoholAllowed = 0, c.AlcoholAllowed == 1
	case 113:
		card.Credit += c.Amount
	case 119, 129:
		card.Credit, card.Balance, card.ServingsLimit, card.ConsumedServings = 0, 0, 0, 0
	case 199:
		delete(s.st.Cards, c.CardID)
		return
	}
	card.Last, card.Staff = at, c.StaffName
}

func (s *Server) cardInfo(raw []byte) reply {
	var req ttg.CardInfoRequest
	if err := s.decode(raw, &req); err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.DeviceID > 0 {
		s.devices[req.DeviceID] = s.o.Now()
	}
	c, found := s.st.Cards[req.CardID]
	if !found {
		return reply{http.StatusNotFound, map[string]string{"error": fmt.Sprintf("card %d not found", req.CardID)}}
	}
	if req.Login && req.DeviceID != 0 && !c.Blocked {
		if c.LockedBy != 0 && c.LockedBy != req.DeviceID {
			return reply{http.StatusConflict, map[string]string{"error": fmt.Sprintf("card %d is in use on device %d", c.ID, c.LockedBy)}}
		}
		c.LockedBy = req.DeviceID
		if err := s.persist(); err != nil {
			s.rollback(err)
			return reply{http.StatusInternalServerError, map[string]string{"error": err.Error()}}
		}
	}
	ts := func(epoch int64) string {
		if epoch == 0 {
			return ""
		}
		return timeIn(epoch, s.loc)
	}
	credit := c.Credit
	if c.Type != ttg.CardOnlinePre && c.Type != ttg.CardPre {
		credit = 0
	}
	blocked := 0
	if c.Blocked {
		blocked = 1
	}
	out := ttg.CardInfo{UUID: s.st.UUID, CardID: c.ID, Name: c.Name, Balance: c.Balance, Credit: credit,
		Type: c.Type, TypeString: ttg.CardTypeString(c.Type), ConsumedServings: c.ConsumedServings,
		ServingsLimit: c.ServingsLimit, Created: ts(c.Created), Last: ts(c.Last), Expires: ts(c.Expires),
		IsBlocked: blocked, BlockedAt: ts(c.BlockedAt), BlockedComment: c.BlockedComment, StaffCreation: c.Staff}
	if s.faults.CardInfoAlcohol {
		allowed := 0
		if c.AlcoholAllowed {
			allowed = 1
		}
		out.AlcoholAllowed = &allowed
	}
	return ok(out)
}
