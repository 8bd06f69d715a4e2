package voucherpay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// OfflineBucket is the store's bucket of vouchers poured offline: key the
// 8-byte big-endian unix-nanosecond time of the pour then the code. It is
// written before the line opens, so the hourly limit and the once-per-code
// rule hold across a restart (a crash after the write counts a pour that
// may not have run: the safe side).
const OfflineBucket = "voucher_offline"

// offlineKeep is how long a code poured offline is remembered durably.
// Its record waits in the SmartNow outbox meanwhile (Pending refuses it
// there too); once redeemed, SmartNow itself refuses it as used.
const offlineKeep = 24 * time.Hour

// Journal is where offline pours are kept (storage.Store).
type Journal interface {
	Update(bucket string, fn func(storage.Bucket) error) error
	Scan(bucket string, from, to []byte, fn func(k, v []byte) error) error
}

func offlineKey(at time.Time, code string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), code...)
}

// loadOffline reads the offline pours of the last offlineKeep: those of
// the last hour count against offline_max, all of them as codes seen.
func (s *Service) loadOffline() error {
	if s.o.Journal == nil {
		return nil
	}
	now := s.o.Now()
	from := offlineKey(now.Add(-offlineKeep), "")[:storage.TimeKeyLen]
	hour := now.Add(-time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.o.Journal.Scan(OfflineBucket, from, nil, func(k, _ []byte) error {
		if len(k) <= storage.TimeKeyLen {
			return nil
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
		if len(s.offlineSeen) >= maxCodes {
			clear(s.offlineSeen) // bounded; the newest are read last
		}
		s.offlineSeen[string(k[storage.TimeKeyLen:])] = true
		if !at.Before(hour) {
			s.offlinePours = append(s.offlinePours, at)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("voucherpay: offline pours: %w", err)
	}
	return nil
}

// recordOffline keeps an offline pour of code durably and drops those
// older than offlineKeep.
func (s *Service) recordOffline(at time.Time, code string) error {
	if s.o.Journal == nil {
		return nil
	}
	return s.o.Journal.Update(OfflineBucket, func(b storage.Bucket) error {
		cut := offlineKey(at.Add(-offlineKeep), "")[:storage.TimeKeyLen]
		var old [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			if string(k[:min(len(k), storage.TimeKeyLen)]) >= string(cut) {
				return errStop
			}
			old = append(old, slices.Clone(k))
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put(offlineKey(at, code), nil)
	})
}

var errStop = errors.New("stop")
