package telemetronapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/testwait"
	"github.com/tapagent/tapagent/storage"
)

// benchRig is a rig with a busy month: 500 pours a day for 31 days, and a
// full durable event log (10 000 events).
func benchRig(b *testing.B) (*rig, string) {
	r := newRig(b)
	now := r.clk.Now()
	for d := range 31 {
		cs := make([]storage.Change, 0, 500)
		for i := range 500 {
			at := now.Add(-time.Duration(d)*24*time.Hour - time.Duration(i)*time.Minute)
			cs = append(cs, history.Change(pour(at, 1+i%4, "Lager", 650, history.PayCard)))
		}
		if err := r.store.Apply(cs...); err != nil {
			b.Fatal(err)
		}
	}
	evs := make([]device.Event, 0, 10000)
	for i := range 10000 {
		evs = append(evs, device.Event{Time: now.Add(-time.Duration(i) * 10 * time.Second), Type: device.EventAlarm, Line: 1 + i%4,
			Alarm: &flow.Alarm{Kind: "no_flow", Active: i%2 == 0}})
	}
	for i := len(evs) - 1; i >= 0; i-- {
		raw, _ := json.Marshal(evs[i])
		r.store.AppendEvent(raw, func(error) {})
	}
	testwait.Until(b, 10*time.Second, "the event log written", func() bool {
		es, err := r.store.EventLog(10001)
		return err == nil && len(es) >= 10000
	})
	return r, login(b, r.url).AccessToken
}

func benchGet(b *testing.B, url, tok string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ResetTimer()
	for b.Loop() {
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("%v %v", res, err)
		}
		res.Body.Close()
	}
}

// BenchmarkProductsToday: GET .../stats/vends/products for the default
// range (today: about 500 rows) over loopback HTTP.
func BenchmarkProductsToday(b *testing.B) {
	r, tok := benchRig(b)
	benchGet(b, r.vm("/stats/vends/products"), tok)
}

// BenchmarkSummary31Days: the longest statistics call, 15 500 pours.
func BenchmarkSummary31Days(b *testing.B) {
	r, tok := benchRig(b)
	benchGet(b, r.vm("/stats/vends/summary?since="+ts(r.clk.Now().Add(-31*24*time.Hour))), tok)
}

// BenchmarkEvents: the last day of a full event log (8 640 events).
func BenchmarkEvents(b *testing.B) {
	r, tok := benchRig(b)
	benchGet(b, r.vm("/events"), tok)
}

// BenchmarkMachine: GET .../{id} (state and service from a month's history).
func BenchmarkMachine(b *testing.B) {
	r, tok := benchRig(b)
	benchGet(b, r.vm(""), tok)
}

// BenchmarkRefresh: one refresh_token grant over loopback HTTP, each
// continuing the session the one before left.
func BenchmarkRefresh(b *testing.B) {
	r := newRig(b)
	rt := login(b, r.url).RefreshToken
	for b.Loop() {
		rt = refreshed(b, r.url, rt).RefreshToken
	}
}
