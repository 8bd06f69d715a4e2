package web

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// A sink's health row says what waits for it, its dead letters and its
// last error in words; a sink whose last delivery failed is not ok.
func TestSinkComponent(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		st     storage.SinkStatus
		ok     bool
		detail string
	}{
		{storage.SinkStatus{Name: "ttg"}, true, "0 records waiting"},
		{storage.SinkStatus{Name: "smartnow", Depth: 1, Oldest: storage.Record{EndedAt: now.Add(-90 * time.Second).UnixMilli()}, Dead: 1},
			true, "1 record waiting, the oldest 1m30s old; 1 dead letter"},
		{storage.SinkStatus{Name: "telemetron", Depth: 3, Oldest: storage.Record{EndedAt: now.Add(-time.Hour).UnixMilli()},
			LastError: storage.SinkError{Msg: "telemetron /auth/: HTTP 503", At: now.Add(-time.Minute).UnixMilli()}},
			false, "3 records waiting, the oldest 1h0m0s old; last error at 2026-12-02T09:59:00Z: telemetron /auth/: HTTP 503"},
	} {
		c := sinkComponent(tc.st, now)
		if c.Name != "sink "+tc.st.Name || c.OK != tc.ok || c.Detail != tc.detail {
			t.Errorf("%s: %+v, want ok=%v %q", tc.st.Name, c, tc.ok, tc.detail)
		}
	}
}

// A peer's health report reads as words, not as raw JSON.
func TestPeerReadable(t *testing.T) {
	h := struct {
		Ready     bool           `json:"ready"`
		Port      string         `json:"port"`
		Polls     int64          `json:"polls"`
		LastError string         `json:"last_error"`
		Firmware  map[string]int `json:"firmware"`
		Since     *time.Time     `json:"since"`
		Reader    struct {
			Errors      int
			FrameErrors int
			Lines       []int
		} `json:"reader"`
	}{Ready: false, Port: "/dev/ttyUSB0", Polls: 1234567, LastError: "no answer", Firmware: map[string]int{"ic": 50}}
	h.Reader.FrameErrors, h.Reader.Lines = 2, []int{1, 2}
	c := peer("terminal", h)
	want := "no answer; firmware ic 50, last error no answer, polls 1234567, port /dev/ttyUSB0, " +
		"reader errors 0, reader frame errors 2, reader lines [1,2], ready no, since -"
	if c.OK || c.Detail != want {
		t.Fatalf("%+v\nwant %q", c, want)
	}
}
