package ttgserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tapagent/tapagent/ttg"
)

// RegisterClient records where a device's client-control listener is and
// the bearer token it requires ("" for none); the real server has both in
// its client configuration. Every forwarded call carries the token.
func (s *Server) RegisterClient(device int64, baseURL, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ClientURLs == nil {
		s.st.ClientURLs = map[int64]string{}
	}
	if s.st.ClientTokens == nil {
		s.st.ClientTokens = map[int64]string{}
	}
	s.st.ClientURLs[device] = strings.TrimRight(baseURL, "/")
	if token == "" {
		delete(s.st.ClientTokens, device)
	} else {
		s.st.ClientTokens[device] = token
	}
	return s.persist()
}

// clientsHandler registers a client: POST {"device_id": N, "url": "...",
// "token": "..."}; the answer lists the URLs, never the tokens.
func (s *Server) clientsHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			DeviceID int64  `json:"device_id"`
			URL      string `json:"url"`
			Token    string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.DeviceID <= 0 || req.URL == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "need device_id and url"})
			return
		}
		if err := s.RegisterClient(req.DeviceID, req.URL, req.Token); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.st.ClientURLs)
}

// clientControl forwards a call to the device's client-control listener and
// relays its answer; an unknown device is 4001, an unreachable one 5004.
// forwardedCall says whether a call is one of the client-control calls
// forwarded to a device: those check their own body and answer a bad one
// in the device's error format (error 4000 and a description).
func forwardedCall(name string) bool {
	switch name {
	case "remoteLogin", "remoteLoginPurchase", "restartClientApplication", "getdevicestatus", "setBacklightBrightness":
		return true
	}
	return false
}

func (s *Server) clientControl(name string) handler {
	return func(raw []byte) reply {
		var req struct {
			DeviceID      int64  `json:"deviceID"`
			TransactionID string `json:"transactionId"`
			Line          int    `json:"line"`
			VolumeLimit   int64  `json:"volumeLimit"`
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			return ok(apiError(0, ttg.RLInvalidJSON, "invalid JSON request: "+err.Error()))
		}
		s.mu.Lock()
		dev := req.DeviceID
		if name == "remoteLoginPurchase" {
			dev = s.logins[req.TransactionID]
		}
		url, known := s.st.ClientURLs[dev]
		token := s.st.ClientTokens[dev]
		s.mu.Unlock()
		switch {
		case name == "remoteLoginPurchase" && dev == 0:
			return ok(apiError(0, ttg.RLBadTransaction, "no remote login with this transactionId"))
		case !known:
			return ok(apiError(dev, ttg.RLClientNotFound, fmt.Sprintf("client not found: no TTG client with deviceID %d is connected", dev)))
		case name == "remoteLogin":
			if code, msg := s.checkPortion(dev, req.Line, req.VolumeLimit); code != 0 {
				return ok(apiError(dev, code, msg))
			}
		}
		res, err := forward(url+"/"+name, token, raw)
		if err != nil {
			return ok(apiError(dev, ttg.RLClientTimeout, "client cannot be reached: "+err.Error()))
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		var out map[string]any
		switch {
		case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
			return ok(apiError(dev, ttg.RLUnexpected, fmt.Sprintf("client refused the server: %s (check the token or allow-list registered for device %d)", res.Status, dev)))
		case err != nil || json.Unmarshal(body, &out) != nil:
			return ok(apiError(dev, ttg.RLUnexpected, fmt.Sprintf("client answered %s with no JSON", res.Status)))
		}
		if name == "remoteLogin" {
			if code, _ := out["error"].(float64); code == 0 && req.TransactionID != "" {
				s.mu.Lock()
				s.logins[req.TransactionID] = dev
				s.mu.Unlock()
			}
		}
		return ok(out)
	}
}

// broadcast records a notification and passes it on to every registered
// client; the answer does not wait for them ("sends a notification to all
// connected clients").
func (s *Server) broadcast(name string, record handler) handler {
	return func(raw []byte) reply {
		s.mu.Lock()
		urls := make(map[string]string, len(s.st.ClientURLs))
		for dev, u := range s.st.ClientURLs {
			urls[u] = s.st.ClientTokens[dev]
		}
		s.mu.Unlock()
		for u, token := range urls {
			go func() {
				if res, err := forward(u+"/"+name, token, raw); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}()
		}
		return record(raw)
	}
}

// forward posts a call to a client with its bearer token.
func forward(url, token string, raw []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return (&http.Client{Timeout: 5 * time.Second}).Do(req)
}

// checkPortion is what the server itself knows before asking the client:
// the line exists on the device (4003) and offers that portion (4002).
func (s *Server) checkPortion(dev int64, line int, volume int64) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, l := s.lineSetup(dev, line)
	if l == nil {
		return ttg.RLLineNotFound, fmt.Sprintf("line %d not found on device %d", line, dev)
	}
	for _, id := range l.Items {
		for _, it := range s.st.Items {
			if it.ItemID != id {
				continue
			}
			for _, p := range s.st.Portions {
				// volumeLimit has three decimals; portions carry their own.
				if p.Name == it.PortionName && p.Quantity*int64(math.Pow10(3-p.QuantityDP)) == volume {
					return 0, ""
				}
			}
		}
	}
	return ttg.RLPortionNotFound, fmt.Sprintf("no portion of %d (3 decimals) configured on device %d line %d", volume, dev, line)
}

func apiError(device int64, code int, msg string) map[string]any {
	return map[string]any{"deviceId": device, "error": code, "errorDescriptionAPI": msg,
		"errorCodeClient": 0, "errorDescriptionClient": ""}
}
