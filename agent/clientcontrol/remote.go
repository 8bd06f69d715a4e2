// Package clientcontrol is the device's client-control listener: the calls a TTG
// server forwards to a tap client (remote login with its payment step,
// device status, backlight, restart), with the spec's fields and error codes.
package clientcontrol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/ttg"
)

// BasePath is where the calls are served: BasePath + "/remoteLogin", ...
const BasePath = "/client/api"

// Options are what the listener reports on and acts through.
type Options struct {
	Agent    Wall
	DeviceID int64
	Sys      *sysinfo.Reader
	// Link reports the TTG server link: 1 connected, 0 broken, and the server URL.
	Link func() (int, string)
	// ServerToken is the TTG server token in use; 3.34's
	// ttg_server_auth_token reports only its fingerprint (TokenFingerprint),
	// never the token; nil reports "". Not to be confused with
	// Access.Token, the secret callers of this API must send.
	ServerToken func() string
	// FirmwareNotified is run, in its own goroutine, when the server says
	// a firmware update is available; nil answers 501.
	FirmwareNotified func()
	// Zone is the TTG wire time zone (ttg.time_zone): 3.34's
	// current_date_time is a wall-clock time in it, as every time the
	// device sends; nil means UTC.
	Zone *time.Location
	Now  func() time.Time
	// Access says who may call; on an address other than loopback Serve
	// refuses to start without a token or an allow-list.
	Access Access
}

// Wall is what the client-control calls need of the tap wall.
// *device.Agent is one.
type Wall interface {
	RemoteLogin(r device.RemoteLogin) device.LoginAnswer
	RemoteLoginPurchase(r device.RemotePurchase) device.PurchaseAnswer
	SetBacklight(percent int) (int, error)
	Backlight() int
	Restart() error
	Report(ev device.Event)
}

// Access admits callers: with Token they must send "Authorization: Bearer
// TOKEN", with Allow their address must be in it; with both, both.
type Access struct {
	Token string
	Allow []netip.Prefix
	// RestartInterval is the least time between two accepted restarts,
	// counted from the listener's start; 0 is DefaultRestartInterval.
	RestartInterval time.Duration
}

// DefaultRestartInterval is control.restart_interval's default.
const DefaultRestartInterval = 5 * time.Minute

// MaxBody bounds a request body; the calls' bodies are a few hundred bytes.
const MaxBody = 64 << 10

// AccessFrom reads the [control] settings.
func AccessFrom(c config.Control) (Access, error) {
	allow, err := httpguard.ParseAllow(c.Allow)
	if err != nil {
		return Access{}, fmt.Errorf("control.allow: %w", err)
	}
	return Access{Token: c.Token, Allow: allow, RestartInterval: c.RestartInterval.Duration}, nil
}

// guarded reports whether any admission rule is set; whether the rules
// keep the network out is httpguard.Protection's to say.
func (a Access) guarded() bool { return a.Token != "" || len(a.Allow) > 0 }

// Handler serves the client-control calls.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Link == nil {
		o.Link = func() (int, string) { return 0, "" }
	}
	gate := &restartGate{every: o.Access.RestartInterval, last: o.Now()}
	if gate.every <= 0 {
		gate.every = DefaultRestartInterval
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BasePath+"/remoteLogin", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.RemoteLoginRequest
		if !decode(w, r, &req, &ttg.RemoteLoginResponse{}) {
			return
		}
		reply(w, loginResponse(o.Agent.RemoteLogin(loginRequest(req))))
	})
	mux.HandleFunc("POST "+BasePath+"/remoteLoginPurchase", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.RemoteLoginPurchaseRequest
		if !decode(w, r, &req, &ttg.RemoteLoginPurchaseResponse{}) {
			return
		}
		reply(w, purchaseResponse(o.Agent.RemoteLoginPurchase(purchaseRequest(req))))
	})
	mux.HandleFunc("POST "+BasePath+"/getdevicestatus", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.DeviceRequest
		if !decode(w, r, &req, &ttg.DeviceStatus{}) {
			return
		}
		reply(w, status(o))
	})
	mux.HandleFunc("POST "+BasePath+"/setBacklightBrightness", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.BacklightRequest
		out := ttg.BacklightResponse{DeviceID: o.DeviceID}
		if !decode(w, r, &req, &out) {
			return
		}
		b, err := o.Agent.SetBacklight(req.Brightness)
		out.Brightness = b
		if err != nil {
			out.Brightness = o.Agent.Backlight()
			out.ClientError = ttg.ClientError{Error: ttg.RLInvalidJSON, DescriptionAPI: err.Error()}
		}
		reply(w, out)
	})
	mux.HandleFunc("POST "+BasePath+"/restartClientApplication", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.DeviceRequest
		out := ttg.RestartResponse{DeviceID: o.DeviceID}
		if !decode(w, r, &req, &out) {
			return
		}
		if wait := gate.pass(o.Now()); wait > 0 {
			refuseRestart(w, o, out, gate.every, wait)
			return
		}
		reply(w, out)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// Answer first: the restart takes this listener down.
		go func() { _ = o.Agent.Restart() }()
	})
	// The server's firmware update notification (the server-control call
	// firmwareupdate, forwarded): it names no release, so the agent looks
	// its manifest up and reports progress as events.
	mux.HandleFunc("POST "+BasePath+"/firmwareupdate", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID int64 `json:"id"`
		}
		out := map[string]any{"deviceID": o.DeviceID}
		if !decode(w, r, &req, &out) {
			return
		}
		if o.FirmwareNotified == nil {
			replyStatus(w, http.StatusNotImplemented, map[string]any{"deviceID": o.DeviceID, "error": "firmware updates are off on this device"})
			return
		}
		go o.FirmwareNotified()
		out["state"] = "notified"
		reply(w, out)
	})
	return protect(o, mux)
}

// protect puts h behind o.Access; a refusal is error 5000 in the calls'
// common reply shape, with the HTTP status as the client's error code.
func protect(o Options, h http.Handler) http.Handler {
	if !o.Access.guarded() {
		return h
	}
	deny := func(w http.ResponseWriter, status int, msg string) {
		replyStatus(w, status, ttg.RestartResponse{DeviceID: o.DeviceID,
			ClientError: ttg.ClientError{Error: ttg.RLUnexpected, CodeClient: status, DescriptionClnt: msg}})
	}
	return httpguard.Guard{Secret: o.Access.Token, Allow: o.Access.Allow, Realm: "client-control", Deny: deny}.Wrap(h)
}

// restartGate lets one restart through per interval, counted from the
// listener's start as well: an agent just restarted cannot be restarted
// again at once, so no caller can hold the wall in a restart loop.
type restartGate struct {
	mu    sync.Mutex
	every time.Duration
	last  time.Time
}

// pass takes the restart, or says how long until one is allowed.
func (g *restartGate) pass(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.last) { // the clock was set back: count from now
		g.last = now
	}
	if wait := g.every - now.Sub(g.last); wait > 0 {
		return wait
	}
	g.last = now
	return 0
}

// refuseRestart answers 429 in the reply's shape (error 200, a workflow
// error on the client) and leaves an event for the operator.
func refuseRestart(w http.ResponseWriter, o Options, out ttg.RestartResponse, every, wait time.Duration) {
	msg := fmt.Sprintf("restart refused: at most one per %s, the next in %s", every, wait.Round(time.Second))
	out.ClientError = ttg.ClientError{Error: ttg.RLWorkflow, CodeClient: http.StatusTooManyRequests, DescriptionClnt: msg}
	o.Agent.Report(device.Event{Type: device.EventRestartRefused, Detail: msg})
	w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
	replyStatus(w, http.StatusTooManyRequests, out)
}

// decode reads a request; on bad JSON it answers 4000 in the reply shape,
// on a body over MaxBody the same with status 413.
func decode(w http.ResponseWriter, r *http.Request, v any, shape any) bool {
	raw, err := httpguard.ReadBody(w, r, MaxBody)
	if err == nil {
		if err = json.Unmarshal(raw, v); err == nil {
			return true
		}
		err = fmt.Errorf("invalid JSON request: %w", err)
	}
	b, _ := json.Marshal(shape)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["error"], m["errorDescriptionAPI"] = ttg.RLInvalidJSON, err.Error()
	status := http.StatusOK
	if errors.Is(err, httpguard.ErrTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	replyStatus(w, status, m)
	return false
}

// reply answers 200 with v as JSON, the calls' usual shape even for errors.
func reply(w http.ResponseWriter, v any) { replyStatus(w, http.StatusOK, v) }

// replyStatus answers status with v as JSON.
func replyStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func status(o Options) ttg.DeviceStatus {
	zone := o.Zone
	if zone == nil {
		zone = time.UTC
	}
	out := ttg.DeviceStatus{DeviceID: o.DeviceID, CurrentTime: o.Now().In(zone).Format(ttg.TimeLayout)}
	if o.Sys != nil {
		s, err := o.Sys.Read()
		out.CPUUsage, out.MemAvailable, out.MemUsed = s.CPUPercent, s.MemAvailable, s.MemUsed
		out.SwapAvailable, out.SwapInUse, out.Uptime = s.SwapAvailable, s.SwapUsed, s.UptimeSeconds
		out.DataDiskFree, out.DataDiskUsed, out.SystemDiskFree, out.SystemDiskUsed = s.DataFree, s.DataUsed, s.SystemFree, s.SystemUsed
		if err != nil {
			out.ClientError = ttg.ClientError{Error: ttg.RLOK, DescriptionClnt: err.Error()}
		}
	}
	state, url := o.Link()
	out.ServerComm = state
	if o.ServerToken != nil {
		out.ServerToken = TokenFingerprint(o.ServerToken())
	}
	if host, port, err := hostPort(url); err == nil {
		out.ServerIP, out.ServerPort, out.ServerDomain = host, port, host
	}
	return out
}

// TokenFingerprint is how the device status call (3.34) reports the TTG
// server token: "sha256:" and the first 16 hex digits of its SHA-256, or
// "" for none. Anyone who may call this API could otherwise read a bearer
// token that acts as this device on the server; the fingerprint still lets
// the server (which can hash the tokens it issued) see which one the
// device holds.
func TokenFingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

func hostPort(url string) (string, int, error) {
	for _, p := range []string{"http://", "https://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			url = url[len(p):]
		}
	}
	h, p, err := net.SplitHostPort(url)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return h, n, nil
}

// Server is the running listener.
type Server struct {
	URL string // base URL including BasePath
	*httpguard.Server
}

// Serve starts the listener ("127.0.0.1:0" picks a port). It refuses an
// address reachable from the network unless o.Access admits only some
// callers: a real token, or a narrow allow-list (httpguard.Protection, the
// check control's validation makes too).
func Serve(listen string, o Options) (*Server, error) {
	if err := httpguard.Exposed(listen, o.Access.Token, o.Access.Allow); err != nil {
		return nil, fmt.Errorf("set control.token and/or control.allow: %w", err)
	}
	s, err := httpguard.Serve(listen, Handler(o))
	if err != nil {
		return nil, err
	}
	return &Server{URL: "http://" + s.Addr + BasePath, Server: s}, nil
}
