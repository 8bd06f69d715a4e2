package cashregister_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/storage"
)

// credits is GET /credits by id.
func (w *wall) credits() map[int64]cashregister.Credit {
	w.t.Helper()
	code, body, _ := w.call("GET", "/credits", "")
	if code != 200 {
		w.t.Fatalf("GET /credits: %d %s", code, body)
	}
	out := map[int64]cashregister.Credit{}
	for _, c := range decodeJSON[cashregister.CreditList](w.t, body).Credits {
		out[int64(c.ID)] = c
	}
	return out
}

func (w *wall) count(loc string) int64 {
	w.t.Helper()
	code, body, _ := w.call("GET", loc, "")
	if code != 200 {
		w.t.Fatalf("GET %s: %d %s", loc, code, body)
	}
	return int64(decodeJSON[cashregister.Credit](w.t, body).Count)
}

func (w *wall) placeholder() string {
	w.t.Helper()
	code, _, h := w.call("POST", "/credits", "")
	if code != http.StatusCreated {
		w.t.Fatalf("POST /credits: %d", code)
	}
	return h.Get("Location")
}

// TestReplayedPutNeverRegrants: a register that re-sends its PUT (a lost
// answer, an HTTP client retry) must not give back counts already poured.
func TestReplayedPutNeverRegrants(t *testing.T) {
	w := newWall(t)
	const body = `{"Waiter": 3, "PLU": 102, "Count": 2, "Table": 7}`
	loc := w.credit(body)
	w.waiterPour(2, 3)
	if n := w.count(loc); n != 1 {
		t.Fatalf("after one pour: %d left", n)
	}
	for i := 0; i < 3; i++ {
		if code, msg, _ := w.call("PUT", loc, body); code != http.StatusOK {
			t.Fatalf("replayed PUT %d: %d %s", i, code, msg)
		}
	}
	if n := w.count(loc); n != 1 {
		t.Fatalf("a replayed PUT re-granted: %d left, want 1", n)
	}
	// Another grant on the same resource would re-grant too: refused.
	if code, msg, _ := w.call("PUT", loc, `{"Waiter": 3, "PLU": 102, "Count": 5}`); code != http.StatusConflict || !strings.Contains(msg, "already filled") {
		t.Fatalf("a different grant on a filled credit: %d %s", code, msg)
	}
	w.waiterPour(2, 3)
	if _, err := w.agent.WaiterTap(2, 3); !errors.Is(err, cashregister.ErrNoCredit) {
		t.Fatalf("a third pour from a credit of 2: %v", err)
	}
	if _, body, _ := w.call("GET", "/debits", ""); len(decodeJSON[cashregister.DebitList](t, body).Debits) != 2 {
		t.Fatalf("debits: %s", body)
	}
}

// TestOldFormatCreditReplay: a credit stored before bodies were kept (no
// granted count, no last body) takes a PUT as a replay only when the body
// equals it field for field; any other grant is a conflict that changes
// nothing, as for a credit in today's form.
func TestOldFormatCreditReplay(t *testing.T) {
	const body = `{"Waiter": 3, "PLU": 102, "Count": 2, "Table": 7}`
	cases := []struct {
		name, put string
		code      int
	}{
		{"same body", body, http.StatusOK},
		{"other count", `{"Waiter": 3, "PLU": 102, "Count": 5, "Table": 7}`, http.StatusConflict},
		{"other table", `{"Waiter": 3, "PLU": 102, "Count": 2, "Table": 8}`, http.StatusConflict},
		{"no table", `{"Waiter": 3, "PLU": 102, "Count": 2}`, http.StatusConflict},
		{"other waiter", `{"Waiter": 4, "PLU": 102, "Count": 2, "Table": 7}`, http.StatusConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWall(t)
			loc := w.placeholder()
			w.oldFormat(loc, body)
			if code, msg, _ := w.call("PUT", loc, c.put); code != c.code {
				t.Fatalf("PUT %s: %d %s, want %d", c.put, code, msg, c.code)
			}
			if n := w.count(loc); n != 2 {
				t.Fatalf("count %d after the PUT, want 2 (nothing changes)", n)
			}
		})
	}
	t.Run("original body after a pour", func(t *testing.T) {
		w := newWall(t)
		loc := w.placeholder()
		w.oldFormat(loc, body)
		w.waiterPour(2, 3)
		if code, msg, _ := w.call("PUT", loc, body); code != http.StatusConflict {
			t.Fatalf("PUT of the first grant after a pour: %d %s", code, msg)
		}
		if n := w.count(loc); n != 1 {
			t.Fatalf("count %d, want 1: the poured portion must not come back", n)
		}
	})
}

// oldFormat rewrites the credit at loc as an earlier version stored it: the
// body as filled, with neither the granted count nor the last body.
func (w *wall) oldFormat(loc, body string) {
	w.t.Helper()
	var id int64
	if _, err := fmt.Sscanf(loc[strings.LastIndex(loc, "/")+1:], "%d", &id); err != nil {
		w.t.Fatalf("id of %s: %v", loc, err)
	}
	raw := fmt.Sprintf(`{"ID": %d, %s, "filled": true}`, id, strings.Trim(body, "{}"))
	err := w.store.Update(cashregister.Bucket, func(b storage.Bucket) error {
		return b.Put(binary.BigEndian.AppendUint64([]byte("c/"), uint64(id)), []byte(raw))
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// TestNegativePutOnACredit cancels from that credit's own remaining count
// and leaves the credit and every other credit alone.
func TestNegativePutOnACredit(t *testing.T) {
	w := newWall(t)
	a := w.credit(`{"Waiter": 3, "PLU": 102, "Count": 3}`)
	b := w.credit(`{"Waiter": 3, "PLU": 102, "Count": 2}`)
	cancelOne := `{"Waiter": 3, "PLU": 102, "Count": -1}`
	for i := 0; i < 2; i++ { // the second is a replay
		if code, msg, _ := w.call("PUT", a, cancelOne); code != http.StatusOK {
			t.Fatalf("PUT %s %s (%d): %d %s", a, cancelOne, i, code, msg)
		}
	}
	// The grant arriving late (a retransmission) changes nothing either.
	if code, msg, _ := w.call("PUT", a, `{"Waiter": 3, "PLU": 102, "Count": 3}`); code != http.StatusOK {
		t.Fatalf("late grant: %d %s", code, msg)
	}
	if na, nb := w.count(a), w.count(b); na != 2 || nb != 2 {
		t.Fatalf("after cancelling 1 from %s: %d and %d left, want 2 and 2", a, na, nb)
	}
	cases := []struct {
		body, want string
	}{
		{`{"Waiter": 3, "PLU": 102, "Count": -3}`, "2 available on credit"},
		{`{"Waiter": 3, "PLU": 101, "Count": -1}`, "is for PLU 102"},
	}
	for _, c := range cases {
		if code, msg, _ := w.call("PUT", a, c.body); code != http.StatusConflict || !strings.Contains(msg, c.want) {
			t.Errorf("PUT %s %s: %d %s; want 409 %q", a, c.body, code, msg, c.want)
		}
	}
	if code, _, _ := w.call("PUT", a, `{"Waiter": 3, "PLU": 102, "Count": -2}`); code != http.StatusOK {
		t.Fatalf("cancel the rest: %d", code)
	}
	if na, nb := w.count(a), w.count(b); na != 0 || nb != 2 {
		t.Fatalf("after cancelling the rest of %s: %d and %d left", a, na, nb)
	}
}

// TestReplayedCancellation: the spec's cancellation (a new resource, a
// negative count) re-sent after a lost answer cancels once and says 200.
func TestReplayedCancellation(t *testing.T) {
	w := newWall(t)
	a := w.credit(`{"Waiter": 3, "PLU": 102, "Count": 4}`)
	loc := w.placeholder()
	const body = `{"Waiter": 3, "PLU": 102, "Count": -2}`
	for i := 0; i < 3; i++ {
		if code, msg, _ := w.call("PUT", loc, body); code != http.StatusOK {
			t.Fatalf("cancellation try %d: %d %s", i, code, msg)
		}
	}
	if n := w.count(a); n != 2 {
		t.Fatalf("cancelled %d, want 2", 4-n)
	}
	if code, msg, _ := w.call("PUT", loc, `{"Waiter": 3, "PLU": 102, "Count": -1}`); code != http.StatusConflict || !strings.Contains(msg, "used for a cancellation") {
		t.Fatalf("another body on a used cancellation: %d %s", code, msg)
	}
}

// TestCountsAreBounded: out-of-range and overflowing counts are 400 and
// change nothing.
func TestCountsAreBounded(t *testing.T) {
	w := newWall(t)
	a := w.credit(`{"Waiter": 3, "PLU": 102, "Count": 1}`)
	loc := w.placeholder()
	for _, count := range []string{"10000", "-10000", "9223372036854775807", "-9223372036854775808",
		"99999999999999999999", "-1e30", "1e300", `"-9223372036854775808"`, "9007199254740993.0"} {
		body := fmt.Sprintf(`{"Waiter": 3, "PLU": 102, "Count": %s}`, count)
		for _, call := range [][2]string{{"PUT", loc}, {"PUT", a}, {"POST", "/credits"}} {
			if code, msg, _ := w.call(call[0], call[1], body); code != http.StatusBadRequest {
				t.Errorf("%s %s Count %s: %d %s, want 400", call[0], call[1], count, code, msg)
			}
		}
	}
	for _, body := range []string{
		`{"Waiter": 3, "PLU": 4294967398, "Count": 1}`, // 102 once truncated to 32 bits
		`{"Waiter": 3, "PLU": -102, "Count": 1}`,
		`{"ID": -5, "Waiter": 3, "PLU": 102, "Count": 1}`,
	} {
		if code, msg, _ := w.call("POST", "/credits", body); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", body, code, msg)
		}
	}
	if code, _, _ := w.call("PUT", loc, `{"Waiter": 3, "PLU": 102, "Count": 9999}`); code != http.StatusOK {
		t.Fatalf("the maximum count is refused: %d", code)
	}
	cs := w.credits()
	if len(cs) != 2 || w.count(a) != 1 || w.count(loc) != cashregister.MaxCount {
		t.Fatalf("credits changed by refused calls: %+v", cs)
	}
}

// TestPostWithIDIsIdempotent: the register's own ID names one credit, however
// often it is posted.
func TestPostWithIDIsIdempotent(t *testing.T) {
	w := newWall(t)
	// The id the agent would give next (its clock in tenths of a millisecond).
	next := w.clk.Now().UnixMilli() * 10
	body := fmt.Sprintf(`{"ID": %d, "Waiter": 2, "PLU": 102, "Count": 2, "Table": 3}`, next)
	want := fmt.Sprintf("/credits/%d", next)
	for i := 0; i < 3; i++ {
		code, msg, h := w.call("POST", "/credits", body)
		if code != http.StatusCreated || h.Get("Location") != want {
			t.Fatalf("POST %d: %d %s, Location %q", i, code, msg, h.Get("Location"))
		}
		if i == 0 {
			w.waiterPour(2, 2)
		}
	}
	if cs := w.credits(); len(cs) != 1 || cs[next].Count != 1 {
		t.Fatalf("after one pour and replays: %+v", cs)
	}
	if code, msg, _ := w.call("POST", "/credits", strings.Replace(body, `"Count": 2`, `"Count": 3`, 1)); code != http.StatusConflict {
		t.Fatalf("the same ID with other content: %d %s", code, msg)
	}
	// An empty POST never takes the register's id.
	if loc := w.placeholder(); loc == want {
		t.Fatalf("the agent reused the register's id %s", loc)
	}
	if code, _, _ := w.call("DELETE", want, ""); code != 200 {
		t.Fatal("delete")
	}
	if code, msg, _ := w.call("POST", "/credits", body); code != http.StatusConflict || !strings.Contains(msg, "was deleted") {
		t.Fatalf("a deleted ID posted again must not come back: %d %s", code, msg)
	}
	if cs := w.credits(); len(cs) != 0 {
		t.Fatalf("credits after delete: %+v", cs)
	}
	// A cancellation posted with an ID is idempotent too.
	w.credit(`{"Waiter": 2, "PLU": 101, "Count": 3}`)
	for i := 0; i < 2; i++ {
		if code, msg, _ := w.call("POST", "/credits", `{"ID": 77, "Waiter": 2, "PLU": 101, "Count": -1}`); code != http.StatusCreated {
			t.Fatalf("cancellation POST %d: %d %s", i, code, msg)
		}
	}
	for _, c := range w.credits() {
		if c.PLU == 101 && c.Count != 2 {
			t.Fatalf("cancellation posted twice cancelled %d", 3-c.Count)
		}
	}
}

// TestConcurrentReplays: retries racing each other still grant once.
func TestConcurrentReplays(t *testing.T) {
	w := newWall(t)
	loc := w.placeholder()
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			code, _, _ := w.call("PUT", loc, `{"Waiter": 4, "PLU": 103, "Count": 3}`)
			codes <- code
		}()
		go func() {
			defer wg.Done()
			code, _, _ := w.call("POST", "/credits", `{"ID": 5, "Waiter": 4, "PLU": 103, "Count": 3}`)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 && c != 201 {
			t.Fatalf("a replay answered %d", c)
		}
	}
	if cs := w.credits(); len(cs) != 2 || cs[5].Count != 3 || w.count(loc) != 3 {
		t.Fatalf("credits: %+v", cs)
	}
}

// TestHugeBodies are refused with 413 before they are read whole.
func TestHugeBodies(t *testing.T) {
	w := newWall(t)
	loc := w.placeholder()
	huge := `{"Waiter": 3, "PLU": 102, "Count": 1, "ArticleName": "` + strings.Repeat("x", cashregister.MaxBody) + `"}`
	for _, c := range [][2]string{{"POST", "/credits"}, {"PUT", loc}, {"DELETE", "/debits"}} {
		if code, msg, _ := w.call(c[0], c[1], huge); code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with %d bytes: %d %s", c[0], c[1], len(huge), code, msg)
		}
	}
	list := `{"Debits": [` + strings.Repeat(`{"ID": 1},`, cashregister.MaxDebitList) + `{"ID": 2}]}`
	if code, msg, _ := w.call("DELETE", "/debits", list); code != http.StatusBadRequest || !strings.Contains(msg, "at most") {
		t.Errorf("DebitList of %d: %d %s", cashregister.MaxDebitList+1, code, msg)
	}
	if len(w.credits()) != 0 {
		t.Fatal("a refused body created a credit")
	}
}

// TestAuthentication: only Bearer or X-API-Key with the right key.
func TestAuthentication(t *testing.T) {
	w := newWall(t)
	cases := []struct {
		name    string
		headers [][2]string
		code    int
	}{
		{"X-API-Key", [][2]string{{"X-API-Key", apiKey}}, 200},
		{"Bearer", [][2]string{{"Authorization", "Bearer " + apiKey}}, 200},
		{"missing", nil, 401},
		{"key without scheme", [][2]string{{"Authorization", apiKey}}, 401},
		{"Basic", [][2]string{{"Authorization", "Basic " + apiKey}}, 401},
		{"Token scheme", [][2]string{{"Authorization", "Token " + apiKey}}, 401},
		{"wrong key", [][2]string{{"X-API-Key", "s3cre"}}, 401},
		{"key as prefix", [][2]string{{"X-API-Key", apiKey + "x"}}, 401},
		{"right header, wrong bearer", [][2]string{{"X-API-Key", apiKey}, {"Authorization", "Bearer nope"}}, 401},
		{"query string", nil, 401},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("POST", w.hs.URL+cashregister.BasePath+"/credits?api_key="+apiKey, strings.NewReader(`{"Waiter": 1, "PLU": 101, "Count": 1}`))
		for _, h := range c.headers {
			req.Header.Add(h[0], h[1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := c.code
		if want == 200 {
			want = http.StatusCreated
		}
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, want)
		}
	}
	if n := len(w.credits()); n != 2 {
		t.Fatalf("%d credits, want 2 (only the authenticated posts)", n)
	}
}

// TestServeRefusesExposedWithoutKey: even a configuration that skipped
// validation cannot open the interface to the network without a real key
// (the same check as pos.api_key's validation).
func TestServeRefusesExposedWithoutKey(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := cashregister.NewRegister(st, nil, nil)
	const realKey = "0123456789abcdef0123"
	cases := []struct{ listen, key, want string }{
		{"0.0.0.0:0", "", "nothing authenticates"},
		{"0.0.0.0:0", "change-me", "placeholder"},
		{"[::]:0", "s3cret", "shorter than 16"},
		{":0", realKey + " x", "white space"},
		{"0.0.0.0:0", realKey, ""},
		{"127.0.0.1:0", "", ""},
	}
	for _, c := range cases {
		t.Run(c.listen+" "+c.key, func(t *testing.T) {
			s, err := cashregister.Serve(c.listen, c.key, reg)
			if s != nil {
				s.Close()
			}
			if c.want == "" && err != nil {
				t.Fatal(err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "pos.api_key")) {
				t.Fatalf("Serve = %v; want pos.api_key and %q", err, c.want)
			}
		})
	}
}
