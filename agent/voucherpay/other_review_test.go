package voucherpay_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/smartnow"
)

type otherCodeValidator struct{}

func (otherCodeValidator) Validate(context.Context, string, string, time.Duration, int64) (smartnow.Voucher, error) {
	// SmartNow (a proxy's cache, a bug) answers for another voucher.
	return smartnow.Voucher{Code: "SOMEONE-ELSES", CampaignType: smartnow.CampaignGift, Valid: true, VoucherValue: 5000}, nil
}

// TestReviewAnswerForAnotherCodeIsRefused: the validate reply names the
// voucher it is about; one that names another code is taken as valid for
// the scanned one and pours.
func TestReviewAnswerForAnotherCodeIsRefused(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	svc := voucherpay.New(voucherpay.Options{Config: cfg.SmartNow, PLUs: map[int]int{1: 101}, Wall: guessWall{}, SmartNow: otherCodeValidator{}})
	if err := svc.Scan(context.Background(), 1, "MY-CODE-1234", "scanner"); err == nil {
		t.Fatal("a validate reply for code SOMEONE-ELSES poured for MY-CODE-1234")
	}
}
