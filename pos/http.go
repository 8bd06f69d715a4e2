package pos

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// BasePath is where the interface is served.
const BasePath = "/cash/1.0"

// Handler serves the cash interface under BasePath. With a non-empty key,
// requests must carry it as "X-API-Key: KEY" or "Authorization: Bearer KEY".
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
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if apiKey != "" && !keyOK(req, apiKey) {
			fail(w, http.StatusUnauthorized, "missing or wrong API key")
			return
		}
		mux.ServeHTTP(w, req)
	})
}

func keyOK(req *http.Request, key string) bool {
	got := req.Header.Get("X-API-Key")
	if got == "" {
		got, _ = strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
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
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNotEnough):
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
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, "reading body: "+err.Error())
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

// postCredit creates a credit resource; a body, if sent, fills it at once.
func (r *Register) postCredit(w http.ResponseWriter, req *http.Request) {
	var c Credit
	empty, ok := readBody(w, req, &c)
	if !ok {
		return
	}
	if !empty {
		if err := validate(c); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	id, err := r.Create()
	if err != nil {
		failErr(w, err)
		return
	}
	if !empty {
		if err := r.Fill(id, c); err != nil {
			_ = r.DeleteCredit(id)
			r.fillError(w, err)
			return
		}
	}
	w.Header().Set("Location", fmt.Sprintf("/credits/%d", id))
	reply(w, http.StatusCreated, map[string]int64{"ID": id})
}

func (r *Register) fillError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotEnough) {
		failErr(w, err)
		return
	}
	fail(w, http.StatusBadRequest, err.Error())
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
	if err := r.Fill(id, c); err != nil {
		r.fillError(w, err)
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
