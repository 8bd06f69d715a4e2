package serversync_test

import (
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	. "github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/storage"
)

// TestStopClosesSpareConnections: Stop closes the embedded server even
// with a connection open that never sent a request, as an HTTP client's
// spare keep-alive connection does. A graceful shutdown counted it busy
// and let every such exit wait out its grace (issue 18: `tapagent sim
// --speed 0` stalled a second in about one run of ten).
func TestStopClosesSpareConnections(t *testing.T) {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	up, err := New(cfg, store, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClosesSpare(t, up.URL, func() error { return up.Stop(5 * time.Second) })
	emb, err := StartEmbedded(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClosesSpare(t, emb.URL, emb.Close)
}

// assertClosesSpare opens a connection to the server at base that sends
// nothing, closes the server and checks the connection was closed too.
func assertClosesSpare(t *testing.T, base string, closeServer func() error) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	spare, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	if err := closeServer(); err != nil {
		t.Fatal(err)
	}
	// Closed by the time the server is: the end of file (or a reset) is
	// there at once. (Before, the server dropped the connection only at
	// its 5 s header timeout; the deadline just keeps that from hanging
	// the test.)
	spare.SetReadDeadline(time.Now().Add(time.Second))
	_, err = spare.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the spare connection is still open after closing: %v", err)
	}
}
