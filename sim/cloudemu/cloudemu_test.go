package cloudemu

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStartLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:0", ":0", "example.com:0", "nonsense"} {
		if _, _, err := Start(addr, http.NotFoundHandler()); err == nil {
			t.Errorf("%s: listened", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		url, stop, err := Start(addr, http.NotFoundHandler())
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		res, err := http.Get(url + "/x")
		if err != nil || res.StatusCode != 404 {
			t.Errorf("%s: %v", addr, err)
		}
		if res != nil {
			res.Body.Close()
		}
		stop()
	}
}

func TestDecodeBytesIsStrict(t *testing.T) {
	var v struct {
		A int64 `json:"a"`
	}
	for _, bad := range []string{`{"a":1,"b":2}`, `{"a":"1"}`, `{"a":1.5}`, `{"a":1} {"a":2}`, `{`} {
		if err := DecodeBytes([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := DecodeBytes([]byte(` {"a": 7} `), &v); err != nil || v.A != 7 {
		t.Errorf("good body: %v %d", err, v.A)
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var got map[string]int
	if found, err := LoadState(path, &got); found || err != nil {
		t.Fatalf("missing file: %v %v", found, err)
	}
	if err := SaveState(path, map[string]int{"n": 3}); err != nil {
		t.Fatal(err)
	}
	if found, err := LoadState(path, &got); !found || err != nil || got["n"] != 3 {
		t.Fatalf("read back: %v %v %v", found, err, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path, &got); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestToken(t *testing.T) {
	secret := RandomSecret()
	now := time.Unix(1000, 0)
	tok := SignToken(secret, Claims{Sub: "u", Iat: 1000, Exp: 1060})
	if c, err := VerifyToken(secret, tok, now); err != nil || c.Sub != "u" {
		t.Fatalf("fresh: %v", err)
	}
	if _, err := VerifyToken(secret, tok, now.Add(time.Minute)); err == nil {
		t.Error("expired token accepted")
	}
	if _, err := VerifyToken(RandomSecret(), tok, now); err == nil {
		t.Error("token of another secret accepted")
	}
	if _, err := VerifyToken(secret, tok[:len(tok)-2]+"xx", now); err == nil {
		t.Error("forged signature accepted")
	}
	for h, want := range map[string]bool{"Bearer x": true, "bearer x": true, "Basic x": false, "Bearer ": false, "": false} {
		if _, ok := BearerToken(h); ok != want {
			t.Errorf("%q: %v", h, ok)
		}
	}
}

func TestFaultsOrderAndCounts(t *testing.T) {
	var in Injector
	var hits atomic.Int32
	h := in.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]int32{"hits": hits.Add(1)})
	}), func(w http.ResponseWriter) { WriteJSON(w, 500, map[string]string{"message": "x"}) })
	url, stop, err := Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func() (int, error) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	if in.Set(Faults{Drop: 1, Fail500: 1, LoseReply: 1, ExpireTokens: true}) != true {
		t.Error("ExpireTokens not reported")
	}
	if in.Get().ExpireTokens {
		t.Error("ExpireTokens kept")
	}
	if _, err := get(); err == nil {
		t.Error("drop answered")
	}
	if code, _ := get(); code != 500 {
		t.Errorf("fail_500: %d", code)
	}
	if _, err := get(); err == nil || hits.Load() != 1 {
		t.Errorf("lose_reply: %v, %d processed", err, hits.Load())
	}
	if code, _ := get(); code != 200 || hits.Load() != 2 {
		t.Errorf("no faults left: %d", code)
	}
	in.Set(Faults{ReplyDelay: time.Millisecond})
	if code, _ := get(); code != 200 || hits.Load() != 3 {
		t.Errorf("reply delay: %d, %d processed", code, hits.Load())
	}
	client := &http.Client{Timeout: 50 * time.Millisecond}
	in.Set(Faults{ReplyDelay: time.Hour})
	if res, err := client.Get(url); err == nil {
		res.Body.Close()
		t.Error("a reply held for an hour arrived")
	}
	for deadline := time.Now().Add(5 * time.Second); hits.Load() != 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a held reply's request was not processed: %d", hits.Load())
		}
	}
	in.Set(Faults{Down: true})
	for range 2 {
		if _, err := get(); err == nil {
			t.Error("down answered")
		}
	}
}

func TestSaverCoalescesAndFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var mu sync.Mutex
	n, snaps := 0, 0
	sv := &Saver{Path: path, Delay: time.Hour, Snapshot: func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		snaps++
		return MarshalState(map[string]int{"n": n})
	}}
	for range 100 {
		mu.Lock()
		n++
		mu.Unlock()
		sv.Changed()
	}
	if err := sv.Flush(); err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if found, err := LoadState(path, &got); !found || err != nil || got["n"] != 100 {
		t.Fatalf("after flush: %v %v %v", found, err, got)
	}
	if err := sv.Flush(); err != nil || snaps != 1 {
		t.Errorf("100 changes, two flushes: %d writes, %v", snaps, err)
	}
	var none *Saver
	none.Changed()
	if err := none.Flush(); err != nil {
		t.Error(err)
	}
}

func TestPruneTokens(t *testing.T) {
	m := map[string]int64{"old": 5, "a": 100, "b": 200}
	PruneTokens(m, func(v int64) int64 { return v }, 10)
	if _, has := m["old"]; has || len(m) != 2 {
		t.Fatalf("expired entry kept: %v", m)
	}
	for i := range MaxTokens {
		m[strconv.Itoa(i)] = int64(1000 + i)
	}
	PruneTokens(m, func(v int64) int64 { return v }, 10)
	if len(m) != MaxTokens-1 || m["a"] != 0 || m["b"] != 0 {
		t.Errorf("full table: %d entries, a=%d b=%d (the soonest to expire go first)", len(m), m["a"], m["b"])
	}
}

func TestCoreStateFaultsAndStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var mu sync.Mutex
	st := map[string]int{}
	var c Core
	if found, err := c.Open(CoreOptions{Name: "test emulator", Addr: "0.0.0.0:0", StateFile: path}, &mu, &st); found || err != nil {
		t.Fatalf("new state: %v %v", found, err)
	}
	if _, _, err := c.Start("", http.NotFoundHandler()); err == nil {
		t.Error("listened on the default non-loopback address")
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st["n"]++
		c.Changed()
		mu.Unlock()
		WriteJSON(w, 200, map[string]string{"path": r.URL.Path})
	})
	h := c.Handler(api, func(w http.ResponseWriter) { WriteJSON(w, 500, map[string]string{"message": "x"}) },
		func(f Faults) { c.SetFaults(f) })
	url, stop, err := c.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(url+"/_emulator/faults", "application/json", strings.NewReader(`{"fail_500":1}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("set faults: %v", err)
	}
	res.Body.Close()
	for _, want := range []int{500, 200} {
		res, err := http.Get(url + "/a//b")
		if err != nil || res.StatusCode != want {
			t.Fatalf("want %d: %v %v", want, res, err)
		}
		res.Body.Close()
	}
	stop()
	var again Core
	got := map[string]int{}
	if found, err := again.Open(CoreOptions{Name: "test emulator", StateFile: path}, &mu, &got); !found || err != nil || got["n"] != 1 {
		t.Errorf("state after stop: %v %v %v", found, err, got)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Open(CoreOptions{Name: "test emulator", StateFile: path}, &mu, &got); err == nil || !strings.Contains(err.Error(), "test emulator") {
		t.Errorf("corrupt state: %v", err)
	}
}

func TestCheckReply(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, `{"a":1}`, true},
		{204, ``, true},
		{400, `{"message":"no"}`, true},
		{500, `{"message":"no"}`, false},
		{200, `{`, false},
		{404, `{"error":"no"}`, false},
		{400, `[1]`, false},
	} {
		if err := CheckReply(tc.status, []byte(tc.body), "message"); (err == nil) != tc.ok {
			t.Errorf("%d %s: %v", tc.status, tc.body, err)
		}
	}
}
