package cashregister

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tapagent/tapagent/httpguard"
)

// BasePath is where the interface is served.
const BasePath = "/cash/1.0"

// MaxBody bounds a request body (a DebitList of MaxDebitList entries fits).
const MaxBody = 1 << 20

// MaxDebitList bounds the debits one DELETE /debits may name.
const MaxDebitList = 10000

// Handler serves the cash interface under BasePath. With a non-empty key,
// requests must carry it as "X-API-Key: KEY" or "Authorization: Bearer KEY"
// (no other scheme, every credential sent must be right).
func (r *Register) Handler(apiKey string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BasePath+"/credits", r.listCredits)
	mux.HandleFunc("POST "+BasePath+"/credits", r.postCredit)
	mux.HandleFunc("GET "+BasePath+"/credits/{id}", r.getCredit)
	mux.HandleFunc("PUT "+BasePath+"/credits/{id}", r.putCredit)
	mux.HandleFunc("DELETE "+BasePath+"/credits/{id}", r.deleteCredit)
	mux.HandleFunc("GET "+BasePath+"/debits", r.listDebits)
	mux.HandleFunc("DELETE "+BasePath+"/debits", r.deleteDebitList)
	mux.HandleFunc("GET "+BasePath+"/debits/{id}", r.getDebit)
	mux.HandleFunc("DELETE "+BasePath+"/debits/{id}", r.deleteDebit)
	if apiKey == "" {
		return mux
	}
	return httpguard.Guard{Secret: apiKey, HeaderKey: "X-API-Key", Realm: "cash", Deny: fail}.Wrap(mux)
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]string{"error": msg})
}

// failErr maps register errors to statuses.
func failErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		fail(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNotEnough), errors.Is(err, ErrConflict):
		fail(w, http.StatusConflict, err.Error())
	default:
		fail(w, http.StatusInternalServerError, err.Error())
	}
}

func pathID(w http.ResponseWriter, req *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		fail(w, http.StatusBadRequest, fmt.Sprintf("id %q is not a positive number", req.PathValue("id")))
		return 0, false
	}
	return id, true
}

// readBody reads a JSON body into v; empty reports whether there was none.
func readBody(w http.ResponseWriter, req *http.Request, v any) (empty, ok bool) {
	raw, err := httpguard.ReadBody(w, req, MaxBody)
	if errors.Is(err, httpguard.ErrTooLarge) {
		fail(w, http.StatusRequestEntityTooLarge, err.Error())
		return false, false
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return false, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return true, true
	}
	if err := json.Unmarshal(raw, v); err != nil {
		fail(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false, false
	}
	return false, true
}

func (r *Register) listCredits(w http.ResponseWriter, _ *http.Request) {
	cs, err := r.Credits()
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, CreditList{Credits: cs})
}

// postCredit creates a credit resource; a body, if sent, fills it at once,
// and an ID in it makes the call idempotent.
func (r *Register) postCredit(w http.ResponseWriter, req *http.Request) {
	var c Credit
	empty, ok := readBody(w, req, &c)
	if !ok {
		return
	}
	var id int64
	var err error
	if empty {
		id, err = r.Create()
	} else {
		id, _, err = r.CreateFilled(c)
	}
	if err != nil {
		failErr(w, err)
		return
	}
	// A replay answers as the first call did: a register that retries
	// after a lost answer must see success, not a reason to post again.
	w.Header().Set("Location", fmt.Sprintf("/credits/%d", id))
	reply(w, http.StatusCreated, map[string]int64{"ID": id})
}

func (r *Register) putCredit(w http.ResponseWriter, req *http.Request) {
	id, ok := pathID(w, req)
	if !ok {
		return
	}
	var c Credit
	empty, ok := readBody(w, req, &c)
	if !ok {
		return
	}
	if empty {
		fail(w, http.StatusBadRequest, "a credit body is required")
		return
	}
	if c.ID != 0 && int64(c.ID) != id {
		fail(w, http.StatusBadRequest, fmt.Sprintf("ID %d in the body is not the %d of the URL", c.ID, id))
		return
	}
	if _, err := r.Fill(id, c); err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, nil)
}

func (r *Register) getCredit(w http.ResponseWriter, req *http.Request) {
	id, ok := pathID(w, req)
	if !ok {
		return
	}
	c, err := r.Credit(id)
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, c)
}

func (r *Register) deleteCredit(w http.ResponseWriter, req *http.Request) {
	id, ok := pathID(w, req)
	if !ok {
		return
	}
	if err := r.DeleteCredit(id); err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, nil)
}

func (r *Register) listDebits(w http.ResponseWriter, _ *http.Request) {
	ds, err := r.Debits()
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, DebitList{Debits: ds})
}

func (r *Register) getDebit(w http.ResponseWriter, req *http.Request) {
	id, ok := pathID(w, req)
	if !ok {
		return
	}
	d, err := r.Debit(id)
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, d)
}

func (r *Register) deleteDebit(w http.ResponseWriter, req *http.Request) {
	id, ok := pathID(w, req)
	if !ok {
		return
	}
	if _, err := r.DeleteDebits(true, id); err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, nil)
}

// deleteDebitList removes the listed debits; ids already gone are fine.
func (r *Register) deleteDebitList(w http.ResponseWriter, req *http.Request) {
	var l DebitList
	empty, ok := readBody(w, req, &l)
	if !ok {
		return
	}
	if empty || l.Debits == nil {
		fail(w, http.StatusBadRequest, `a DebitList body {"Debits": [...]} is required`)
		return
	}
	if len(l.Debits) > MaxDebitList {
		fail(w, http.StatusBadRequest, fmt.Sprintf("a DebitList names at most %d debits, this one %d", MaxDebitList, len(l.Debits)))
		return
	}
	ids := make([]int64, 0, len(l.Debits))
	for i, d := range l.Debits {
		if d.ID <= 0 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Debits[%d].ID is required", i))
			return
		}
		ids = append(ids, int64(d.ID))
	}
	n, err := r.DeleteDebits(false, ids...)
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]int{"Deleted": n})
}
