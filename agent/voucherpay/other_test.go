package voucherpay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
)

// otherCodeProxy is a caching proxy gone wrong in front of the emulator:
// every validate reply it passes names the voucher other instead.
func otherCodeProxy(t *testing.T, target, other string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(res *http.Response) error {
		if !strings.HasSuffix(res.Request.URL.Path, "/validate") || res.StatusCode != http.StatusOK {
			return nil
		}
		var v map[string]any
		raw, err := io.ReadAll(res.Body)
		if err != nil || json.Unmarshal(raw, &v) != nil {
			return errors.New("proxy: unreadable validate reply")
		}
		v["code"] = other
		raw, _ = json.Marshal(v)
		res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
		res.Header.Set("Content-Length", strconv.Itoa(len(raw)))
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// otherCodeValidator is a Validator (not SmartNow's client) that answers
// for another voucher: the service checks the reply itself too.
type otherCodeValidator struct{}

func (otherCodeValidator) Validate(context.Context, string, string, time.Duration, int64) (smartnow.Voucher, error) {
	return smartnow.Voucher{Code: "SOMEONE-ELSES", CampaignType: smartnow.CampaignGift, Valid: true, VoucherValue: 5000}, nil
}

// TestAnswerForAnotherCodeIsRefused: a validate reply that names another
// voucher than the one scanned is malformed: refused, nothing poured, not
// counted as offline (offline = "accept" does not pour it either).
func TestAnswerForAnotherCodeIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(r *rig) *voucherpay.Service
	}{
		{"through a proxy", func(r *rig) *voucherpay.Service {
			cfg := *r.cfg
			cfg.SmartNow.URL = otherCodeProxy(t, r.url, "SOMEONE-ELSES")
			svc, err := voucherpay.Build(&cfg, r.agent, r.store, nil, r.clk.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			return svc
		}},
		{"from another validator", func(r *rig) *voucherpay.Service {
			return voucherpay.New(voucherpay.Options{Config: r.cfg.SmartNow, PLUs: map[int]int{1: 101}, Wall: r.agent,
				SmartNow: otherCodeValidator{}, Now: r.clk.Now})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{offline: "accept"})
			r.voucher("MY-CODE-1234", "discount", 100) // a small discount: not fully covered, no terminal
			svc := tc.build(r)
			err := svc.Scan(context.Background(), 1, "MY-CODE-1234", "scanner")
			if !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "about voucher") || strings.Contains(r.refused(), "MY-CODE") {
				t.Fatalf("scan: %v, refused %q", err, r.refused())
			}
			if r.ev.Count(device.EventVoucherAccepted) != 0 {
				t.Fatalf("poured: %s", r.ev.String())
			}
		})
	}
}
