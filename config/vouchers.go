package config

import "time"

// Voucher defaults: a hold long enough to walk to the tap and pour, a
// half-litre portion, ten offline voucher pours an hour at most.
const (
	defaultVoucherHold      = 60 * time.Second
	defaultVoucherPortionML = 500
	defaultOfflineMax       = 10
)

// validateVouchers checks the voucher keys of [smartnow]; lines are the
// configured line ids.
func (s SmartNow) validateVouchers(bad badFunc, lines map[int]bool) {
	if !s.Vouchers {
		return
	}
	if s.URL == "" {
		bad("smartnow.vouchers", "vouchers need smartnow.url")
	}
	if s.VoucherHold.Duration < 5*time.Second || s.VoucherHold.Duration > time.Hour {
		bad("smartnow.voucher_hold", "must be between 5s and 1h")
	}
	if s.VoucherPortionML <= 0 || s.VoucherPortionML > 5000 {
		bad("smartnow.voucher_portion_ml", "must be between 0 and 5000")
	}
	if s.OfflineMax < 0 || s.OfflineMax > 1000 {
		bad("smartnow.offline_max", "must be 0..1000")
	}
	if s.Scanner != "" && !lines[s.ScannerLine] {
		bad("smartnow.scanner_line", "line %d is not configured: a scanner arms one line", s.ScannerLine)
	}
}
