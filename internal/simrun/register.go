package simrun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tapagent/tapagent/pos"
	"github.com/tapagent/tapagent/sim"
)

// postCredit plays the cash register: POST /credits, then PUT the content,
// over HTTP, exactly as a register does.
func (r *runner) postCredit(st sim.Step) error {
	if r.cash == nil {
		return errors.New("the cash interface is off (pos.listen)")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	do := func(method, url string, body any) (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if r.cfg.POS.APIKey != "" {
			req.Header.Set("X-API-Key", r.cfg.POS.APIKey)
		}
		return hc.Do(req)
	}
	res, err := do(http.MethodPost, r.cash.URL+"/credits", nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/credits/") {
		return fmt.Errorf("POST /credits: %s, Location %q", res.Status, loc)
	}
	c := pos.Credit{Waiter: pos.Num(st.Waiter), PLU: pos.Num(st.PLU), Count: pos.Num(st.Count), Table: pos.Num(st.Table)}
	res, err = do(http.MethodPut, r.cash.URL+loc, c)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("PUT %s: %s %s", loc, res.Status, bytes.TrimSpace(b))
	}
	return nil
}
