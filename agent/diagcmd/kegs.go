package diagcmd

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
)

// maxMQTTEntries bounds pours.query over MQTT: an answer is one message.
const maxMQTTEntries = 500

// opParams are the parameters of the keg and line commands. by names the
// person (the operator's signature covers it); volumes are "50L"/"330ml".
type opParams struct {
	Line      int       `json:"line"`
	Size      string    `json:"size"`
	Remaining string    `json:"remaining"`
	PLU       int       `json:"plu"`
	KegID     string    `json:"keg_id"`
	Tapped    time.Time `json:"tapped"`
	Stop      bool      `json:"stop"`
	By        string    `json:"by"`
}

// mqttActor is who a signed command came from: the name its params give,
// with the operator role the signature proves and, in Via, the key that
// signed it (the name is the signer's word; the key is the proof).
func mqttActor(ctx context.Context, raw json.RawMessage) device.Actor {
	var p opParams
	_ = json.Unmarshal(raw, &p)
	name := p.By
	if name == "" {
		name = "operator key"
	}
	return device.Actor{Name: name, Role: "operator", Via: MQTTVia(ctx)}
}

// MQTTVia is how a command over MQTT came in: "mqtt" and the KeyID of the
// operator key that signed it ("mqtt key 1f2e3d4c5b6a7988").
func MQTTVia(ctx context.Context) string {
	if s := diag.Signer(ctx); s != "" {
		return "mqtt " + s
	}
	return "mqtt"
}

// operations are the keg and line commands (docs/operations.md).
func operations(a Wall, h *history.Log) map[string]diag.Handler {
	op := func(f func(device.Actor, opParams) error) diag.Handler {
		return func(ctx context.Context, raw json.RawMessage) (int, any) {
			var p opParams
			if err := json.Unmarshal(raw, &p); err != nil || p.Line <= 0 {
				return 400, `params must be {"line": N, ...} (docs/operations.md)`
			}
			if err := f(mqttActor(ctx, raw), p); err != nil {
				return opStatus(err), err.Error()
			}
			return 200, kegOf(a, p.Line)
		}
	}
	return map[string]diag.Handler{
		"keg.change": op(func(by device.Actor, p opParams) error {
			size, err := flow.ParseVol(p.Size)
			if err != nil {
				return errors.Join(device.ErrBadOperation, err)
			}
			return a.ChangeKeg(by, device.KegChange{Line: p.Line, PLU: p.PLU, Size: size, KegID: p.KegID, Tapped: p.Tapped})
		}),
		"keg.adjust": op(func(by device.Actor, p opParams) error {
			left, err := flow.ParseVol(p.Remaining)
			if err != nil {
				return errors.Join(device.ErrBadOperation, err)
			}
			return a.AdjustKeg(by, p.Line, left)
		}),
		"keg.empty":   op(func(by device.Actor, p opParams) error { return a.MarkEmpty(by, p.Line) }),
		"line.lock":   op(func(by device.Actor, p opParams) error { return a.SetLocked(by, p.Line, true) }),
		"line.unlock": op(func(by device.Actor, p opParams) error { return a.SetLocked(by, p.Line, false) }),
		"line.clean":  op(func(by device.Actor, p opParams) error { return a.SetCleaning(by, p.Line, !p.Stop) }),
		"kegs":        func(context.Context, json.RawMessage) (int, any) { return 200, a.Kegs() },
		"pours.query": func(ctx context.Context, raw json.RawMessage) (int, any) { return poursQuery(ctx, h, raw) },
	}
}

// opStatus maps an operation's refusal to a status.
func opStatus(err error) int {
	switch {
	case errors.Is(err, device.ErrNoLine):
		return 404
	case errors.Is(err, device.ErrBadOperation), errors.Is(err, device.ErrKegSize):
		return 400
	case errors.Is(err, device.ErrNotRecorded):
		return 500
	}
	return 409 // the line's state, not the request, is wrong
}

func kegOf(a Wall, line int) any {
	for _, k := range a.Kegs() {
		if k.Line == line {
			return k
		}
	}
	return nil
}

// poursQuery is pours.query {"from","to" (RFC 3339),"line","product","card","payment","kinds","limit","totals"}.
func poursQuery(ctx context.Context, h *history.Log, raw json.RawMessage) (int, any) {
	var req struct {
		history.Query
		Totals string `json:"totals"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return 400, "params: " + err.Error()
		}
	}
	q := req.Query
	if q.Limit == 0 || q.Limit > maxMQTTEntries {
		q.Limit = maxMQTTEntries
	}
	if req.Totals != "" {
		t, err := h.Totals(ctx, q, req.Totals)
		if err != nil {
			return 400, err.Error()
		}
		return 200, t
	}
	if len(q.Kinds) == 0 {
		q.Kinds = []string{history.KindPour}
	}
	es, err := h.Find(ctx, q)
	if err != nil {
		return 400, err.Error()
	}
	return 200, es
}
