// Package remote is the device's client-control listener: the calls a TTG
// server forwards to a tap client (remote login with its payment step,
// device status, backlight, restart), with the spec's fields and error codes.
package remote

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/ttg"
)

// BasePath is where the calls are served: BasePath + "/remoteLogin", ...
const BasePath = "/client/api"

// Options are what the listener reports on and acts through.
type Options struct {
	Agent    *device.Agent
	DeviceID int64
	Sys      *sysinfo.Reader
	// Link reports the TTG server link: 1 connected, 0 broken, and the server URL.
	Link func() (int, string)
	// Token is the TTG server token in use (3.34 ttg_server_auth_token); nil reports "".
	Token func() string
	// FirmwareNotified is run, in its own goroutine, when the server says
	// a firmware update is available; nil answers 501.
	FirmwareNotified func()
	Now              func() time.Time
}

// Handler serves the client-control calls.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Link == nil {
		o.Link = func() (int, string) { return 0, "" }
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BasePath+"/remoteLogin", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.RemoteLoginRequest
		if !decode(w, r, &req, &ttg.RemoteLoginResponse{}) {
			return
		}
		reply(w, o.Agent.RemoteLogin(req))
	})
	mux.HandleFunc("POST "+BasePath+"/remoteLoginPurchase", func(w http.ResponseWriter, r *http.Request) {
		var req ttg.RemoteLoginPurchaseRequest
		if !decode(w, r, &req, &ttg.RemoteLoginPurchaseResponse{}) {
			return
		}
		reply(w, o.Agent.RemoteLoginPurchase(req))
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
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotImplemented)
			json.NewEncoder(w).Encode(map[string]any{"deviceID": o.DeviceID, "error": "firmware updates are off on this device"})
			return
		}
		go o.FirmwareNotified()
		out["state"] = "notified"
		reply(w, out)
	})
	return mux
}

// decode reads a request; on bad JSON it answers 4000 in the reply shape.
func decode(w http.ResponseWriter, r *http.Request, v any, shape any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err == nil {
		return true
	}
	b, _ := json.Marshal(shape)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["error"], m["errorDescriptionAPI"] = ttg.RLInvalidJSON, "invalid JSON request: "+err.Error()
	reply(w, m)
	return false
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func status(o Options) ttg.DeviceStatus {
	out := ttg.DeviceStatus{DeviceID: o.DeviceID, CurrentTime: o.Now().Format(ttg.TimeLayout)}
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
	if o.Token != nil {
		out.ServerToken = o.Token()
	}
	if host, port, err := hostPort(url); err == nil {
		out.ServerIP, out.ServerPort, out.ServerDomain = host, port, host
	}
	return out
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
	hs  *http.Server
}

// Serve starts the listener ("127.0.0.1:0" picks a port).
func Serve(listen string, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: Handler(o), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &Server{URL: "http://" + ln.Addr().String() + BasePath, hs: hs}, nil
}

// Close stops the listener.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.hs.Shutdown(ctx)
}
