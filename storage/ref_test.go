package storage

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// oldRef is the "ref" object of a record as versions before Ref wrote it:
// a map of strings, every key they used, an empty value among them.
func oldRef(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "record-ref-map.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Ref map[string]string }
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return b, raw.Ref
}

// TestRefReadsOldRecords: a record written with the map of strings reads
// into Ref field by field, from a real bbolt file, and is written back with
// the same keys and values (an empty value, which meant "none", is left out).
func TestRefReadsOldRecords(t *testing.T) {
	b, old := oldRef(t)
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.update(func(tx *bolt.Tx) error {
		out := tx.Bucket(bOutbox)
		n, err := out.NextSequence()
		if err != nil {
			return err
		}
		return out.Put(u64(n), b)
	}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Outbox(0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("outbox %v, %v", recs, err)
	}
	want := Ref{CardID: "1000001", CardType: "11", ExternalID: "1000001", ItemID: "101-03", PricingState: "0",
		PaymentID: "pay-9", PurchaseType: "113", Amount: "700", ServingsLimit: "0", StaffName: "Bar", Deposit: "0",
		Alcohol: "0", Expires: "1767225599999", CardKey: "04A1B2C3D4E5F6", Vend: "10-7", Reservation: "r-5",
		Waiter: "3", Source: "scenario"}
	if recs[0].Ref != want {
		t.Fatalf("read %+v\nwant %+v", recs[0].Ref, want)
	}
	again, err := json.Marshal(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Ref map[string]string }
	if err := json.Unmarshal(again, &back); err != nil {
		t.Fatal(err)
	}
	maps.DeleteFunc(old, func(_, v string) bool { return v == "" })
	if !maps.Equal(back.Ref, old) {
		t.Fatalf("written back as %v\nwant %v", back.Ref, old)
	}
}

// TestRefOmittedWhenEmpty: a record without references has no "ref", as
// before.
func TestRefOmittedWhenEmpty(t *testing.T) {
	b, err := json.Marshal(Record{ID: "1-1", Kind: KindPour})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["ref"]; ok {
		t.Fatalf("empty ref written: %s", b)
	}
}
