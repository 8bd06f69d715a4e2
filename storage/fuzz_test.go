package storage

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRecord: whatever bytes sit in the outbox, decoding returns a
// record that satisfies the checks or an error; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := json.Marshal(pourRecord("1-1", 1, 100))
	good = append(good[:1], append([]byte(`"v":1,`), good[1:]...)...)
	for _, s := range []string{string(good), `{}`, `{"v":1,"id":"x","kind":"pour","pour":{"volume_ml10":-5}}`,
		`{"v":2}`, `null`, `{"v":1,"id":"a","kind":"leak"}`, `[1,2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if r.ID == "" || r.Pour.Volume < 0 || r.V != RecordVersion {
			t.Fatalf("accepted bad record %+v", r)
		}
	})
}
