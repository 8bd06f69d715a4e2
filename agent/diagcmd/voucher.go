package diagcmd

import (
	"context"
	"encoding/json"

	"github.com/tapagent/tapagent/diag"
)

// voucherScan is voucher.scan {"line": N, "code": "..."}: a code sent
// instead of scanned. It grants beer, so it is not read-only: the link
// runs it only with an operator's signature.
func voucherScan(scan func(ctx context.Context, line int, code string) error) diag.Handler {
	return func(ctx context.Context, raw json.RawMessage) (int, any) {
		var req struct {
			Line int    `json:"line"`
			Code string `json:"code"`
		}
		if err := json.Unmarshal(raw, &req); err != nil || req.Line <= 0 || req.Code == "" {
			return 400, `params must be {"line": N, "code": "..."}`
		}
		if err := scan(ctx, req.Line, req.Code); err != nil {
			return 422, err.Error()
		}
		return 200, map[string]int{"line": req.Line}
	}
}
