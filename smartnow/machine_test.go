package smartnow

import (
	"errors"
	"slices"
	"testing"
)

func TestDecodeOpeningHours(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []OpeningHour
		bad  bool
	}{
		{in: `[{"day":1,"startTime":"09:15:00","endTime":"10:00:00"}]`, want: []OpeningHour{{1, 33300, 36000}}},
		{in: `[{"day":6,"startTime":"22:00","endTime":"24:00:00"},{"day":0,"startTime":"00:00:00","endTime":"02:00:00"}]`,
			want: []OpeningHour{{0, 0, 7200}, {6, 79200, 86400}}},
		{in: `[]`, want: []OpeningHour{}},
		{in: `[{"day":7,"startTime":"09:00:00","endTime":"10:00:00"}]`, bad: true},
		{in: `[{"startTime":"09:00:00","endTime":"10:00:00"}]`, bad: true},
		{in: `[{"day":1,"startTime":"10:00:00","endTime":"09:00:00"}]`, bad: true},
		{in: `[{"day":1,"startTime":"24:00:00","endTime":"24:00:00"}]`, bad: true},
		{in: `[{"day":1,"startTime":"9:00:00","endTime":"10:00:00"}]`, bad: true},
		{in: `[{"day":1,"startTime":"09:60:00","endTime":"10:00:00"}]`, bad: true},
		{in: `{"day":1}`, bad: true},
	} {
		got, err := DecodeOpeningHours([]byte(tc.in))
		if tc.bad != (err != nil) || (!tc.bad && !slices.Equal(got, tc.want)) {
			t.Errorf("%s: %+v %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v is not ErrMalformed", tc.in, err)
		}
	}
}

func TestDecodeProducts(t *testing.T) {
	for _, tc := range []struct {
		in  string
		n   int
		bad bool
	}{
		{in: `[{"id":1,"plu":101,"name":"Helles","price":650,"barcode":"","machine":80,"remotePrice":0}]`, n: 1},
		{in: `[]`, n: 0},
		{in: `[{"plu":101,"name":"Helles"}]`, bad: true},
		{in: `[{"plu":101,"name":" ","price":1}]`, bad: true},
		{in: `[{"plu":101,"name":"a","price":1},{"plu":101,"name":"b","price":1}]`, bad: true},
		{in: `[{"plu":3000000000,"name":"a","price":1}]`, bad: true},
		{in: `[{"plu":1,"name":"a","price":"1.50"}]`, bad: true},
		{in: `[{"plu":1,"name":"a","price":100000000}]`, n: 1},
		{in: `[{"plu":1,"name":"a","price":100000001}]`, bad: true},           // beyond flow.MaxPrice
		{in: `[{"plu":1,"name":"a","price":1152921504606846976}]`, bad: true}, // 2^60: would wrap a wall's money
	} {
		got, err := DecodeProducts([]byte(tc.in))
		if tc.bad != (err != nil) || len(got) != tc.n {
			t.Errorf("%s: %+v %v", tc.in, got, err)
		}
	}
}

func TestDecodeMachineConfig(t *testing.T) {
	mc, err := DecodeMachineConfig([]byte(`{"id":3,"name":"","apn":"internet","config":"{\"closed\":[2]}","encryptionKey":"secret","ssid":null}`))
	if err != nil || mc.Config != `{"closed":[2]}` || !slices.Equal(mc.Others, []string{"apn", "encryptionKey"}) {
		t.Errorf("%+v %v", mc, err)
	}
	if _, err := DecodeMachineConfig([]byte(`{"config":1}`)); err == nil {
		t.Error("a number as config accepted")
	}
	if _, err := DecodeMachineConfig([]byte(`[]`)); err == nil {
		t.Error("a list accepted")
	}
}

func TestDecodeCommands(t *testing.T) {
	cs, err := DecodeCommands([]byte(`[{"id":9,"machine":80,"command":"lock","params":[2],"state":"pending","createdAt":"x"}]`))
	if err != nil || len(cs) != 1 || cs[0].ID != 9 || cs[0].Command != "lock" || !slices.Equal(cs[0].Params, []int64{2}) {
		t.Errorf("%+v %v", cs, err)
	}
	for _, bad := range []string{`[{"id":0,"command":"lock"}]`, `[{"id":1,"command":""}]`, `[{"id":1,"command":"x","params":[1.5]}]`,
		`[{"id":1,"command":"x","params":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]`} {
		if _, err := DecodeCommands([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
