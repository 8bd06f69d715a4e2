package cashregister_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/storage"
)

// benchRegister is the interface on a real bbolt file behind a loopback
// HTTP server with a key.
func benchRegister(b *testing.B) (string, func(method, path, body string) *http.Response) {
	st, err := storage.Open(filepath.Join(b.TempDir(), "db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	reg := cashregister.NewRegister(st, []cashregister.Article{{PLU: 102, Line: 2, Name: "Pils", Portion: 3000, Price: 420}}, nil)
	hs := httptest.NewServer(reg.Handler(apiKey))
	b.Cleanup(hs.Close)
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, hs.URL+cashregister.BasePath+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	return hs.URL, do
}

// BenchmarkCreditPostPut is the spec's send-credit use case: an empty POST
// and the PUT that fills it, each a durable commit.
func BenchmarkCreditPostPut(b *testing.B) {
	_, do := benchRegister(b)
	for b.Loop() {
		res := do("POST", "/credits", "")
		if res.StatusCode != http.StatusCreated {
			b.Fatal(res.Status)
		}
		if res := do("PUT", res.Header.Get("Location"), `{"Waiter": 3, "PLU": 102, "Count": 2}`); res.StatusCode != http.StatusOK {
			b.Fatal(res.Status)
		}
	}
}

// BenchmarkReplayedPost is a register re-sending a POST with its own ID:
// found, compared, answered with the first answer.
func BenchmarkReplayedPost(b *testing.B) {
	_, do := benchRegister(b)
	body := fmt.Sprintf(`{"ID": %d, "Waiter": 3, "PLU": 102, "Count": 2}`, int64(11696861732318))
	do("POST", "/credits", body)
	for b.Loop() {
		if res := do("POST", "/credits", body); res.StatusCode != http.StatusCreated {
			b.Fatal(res.Status)
		}
	}
}
