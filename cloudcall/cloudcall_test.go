package cloudcall_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/cloudcall"
)

// TestDo: the body goes as JSON with the credential in its header; the
// reply comes back with its status; a reply over the bound is ErrTooLarge;
// a network failure names no URL (it may carry a secret).
func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
		case r.Header.Get("Authorization") == "Bearer tok" && r.Header.Get("Content-Type") == "application/json" &&
			r.Header.Get("Accept") == "application/json" && string(b) == `{"a":1}`:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":7}`))
		case r.Header.Get("X-API-KEY") == "k" && len(b) == 0:
			_, _ = w.Write([]byte(`{"status":1}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		r      cloudcall.Request
		status int
		reply  string
	}{
		{"bearer and body", cloudcall.Request{Method: http.MethodPost, URL: srv.URL + "/x", Bearer: "tok", Body: map[string]int{"a": 1}}, 201, `{"id":7}`},
		{"api key", cloudcall.Request{Method: http.MethodGet, URL: srv.URL + "/y", Header: "X-API-KEY", Key: "k"}, 200, `{"status":1}`},
	} {
		tc.r.MaxReply = 64
		status, raw, err := cloudcall.Do(ctx, srv.Client(), tc.r)
		if err != nil || status != tc.status || string(raw) != tc.reply {
			t.Errorf("%s: %d %q %v", tc.name, status, raw, err)
		}
	}
	if _, _, err := cloudcall.Do(ctx, srv.Client(), cloudcall.Request{Method: http.MethodGet, URL: srv.URL + "/big", MaxReply: 64}); !errors.Is(err, cloudcall.ErrTooLarge) {
		t.Errorf("a 100-byte reply with a 64-byte bound: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/path?token=SECRET"
	ln.Close()
	if _, _, err := cloudcall.Do(ctx, http.DefaultClient, cloudcall.Request{Method: http.MethodGet, URL: dead, MaxReply: 64}); err == nil ||
		strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "/path") {
		t.Errorf("a refused connection: %v", err)
	}
}
