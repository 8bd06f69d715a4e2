package simwall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/sim"
)

// postCredit plays the cash register over HTTP, exactly as a register
// does: an empty POST /credits then PUT of the content, or (form "post")
// one POST carrying the register's own ID; the call with the content is
// re-sent st.Replay times, as after lost answers: at once, or in the step
// ParseScenario adds st.ReplayAfter later (resendCredit).
func (r *runner) postCredit(st sim.Step) error {
	if r.asm.CashURL() == "" {
		return errors.New("the cash interface is off (pos.listen)")
	}
	if st.ResendOf != nil {
		return r.resendCredit(*st.ResendOf)
	}
	replays := st.Replay
	if st.ReplayAfter.Duration > 0 {
		replays = 0
	}
	if st.Form == "post" {
		return r.sendCredit(http.MethodPost, "/credits", st, 1+replays)
	}
	res, err := r.registerCall(http.MethodPost, "/credits", nil, http.StatusCreated)
	if err != nil {
		return err
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "/credits/") {
		return fmt.Errorf("POST /credits: Location %q", loc)
	}
	if r.creditAt == nil {
		r.creditAt = map[int64]string{}
	}
	r.creditAt[registerID(st)] = loc
	return r.sendCredit(http.MethodPut, loc, st, 1+replays)
}

// resendCredit sends the delayed replays of credit step st.
func (r *runner) resendCredit(st sim.Step) error {
	if st.Form == "post" {
		return r.sendCredit(http.MethodPost, "/credits", st, st.Replay)
	}
	loc, ok := r.creditAt[registerID(st)]
	if !ok {
		return errors.New("the credit to replay was never created")
	}
	return r.sendCredit(http.MethodPut, loc, st, st.Replay)
}

// sendCredit sends the content call of credit step st n times.
func (r *runner) sendCredit(method, path string, st sim.Step, n int) error {
	c := cashregister.Credit{Waiter: cashregister.Num(st.Waiter), PLU: cashregister.Num(st.PLU), Count: cashregister.Num(st.Count), Table: cashregister.Num(st.Table)}
	want := http.StatusOK
	if method == http.MethodPost {
		c.ID, want = cashregister.Num(registerID(st)), http.StatusCreated
	}
	for range n {
		if _, err := r.registerCall(method, path, c, want); err != nil {
			return err
		}
	}
	return nil
}

// registerCall sends one call with the configured key and wants status.
func (r *runner) registerCall(method, path string, body any, want int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.asm.CashURL()+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.POS.APIKey != "" {
		req.Header.Set("X-API-Key", r.cfg.POS.APIKey)
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("%s %s: %s %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	return res, nil
}

// registerID is the id a register gives the step's credit: the same step
// always the same id, as a register's own booking number would be.
func registerID(st sim.Step) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d/%d/%d", st.At.Duration, st.Waiter, st.PLU, st.Count, st.Table)
	return int64(h.Sum64()>>17) + 1 // 47 bits: a register's numbers are 14 digits
}
