// Package httpguard protects the agent's HTTP listeners that can grant beer
// or money (the cash-register interface, the client-control API): who may
// call (a shared secret, source addresses), how large a request may be, how
// long a client may hold a connection, and whether a listen address needs
// protection at all. Both listeners use it so that they refuse the same way.
package httpguard

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Placeholder is the secret the example configurations ship with; it is
// never accepted, so a copied example cannot run with a known key.
const Placeholder = "change-me"

// docExample reports one of the secrets the documentation and
// examples/tapagent.toml show in their samples: a copied sample must not
// run with a key anyone can read.
func docExample(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case Placeholder, "a-long-random-secret", "a-secret-of-16-or-more":
		return true
	}
	return false
}

// MinSecret is the shortest secret accepted (16 characters: what
// `openssl rand -hex 8` prints; 32 hex digits are recommended).
const MinSecret = 16

// Loopback reports whether listen ("host:port") takes only local callers:
// a loopback IP or "localhost". An empty host (all interfaces), an
// unspecified address and any other name count as reachable from the network.
func Loopback(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("%q is not host:port: %w", listen, err)
	}
	return LoopbackHost(host), nil
}

// LoopbackHost reports whether host (a name or an IP, brackets allowed)
// names this machine only, by the rules of Loopback.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// Exposed refuses a listen address reachable from the network unless
// secret and allow keep the network out (Protection); loopback needs
// neither, though a secret that is set is still required of every caller.
func Exposed(listen, secret string, allow []netip.Prefix) error {
	local, err := Loopback(listen)
	if err != nil {
		return err
	}
	if local {
		return nil
	}
	if err := Protection(secret, allow); err != nil {
		return fmt.Errorf("%s is reachable from the network: %w", listen, err)
	}
	return nil
}

// Protection says why a listener guarded by secret and allow does not
// keep the network out, or nil when it does: a secret must pass
// CheckSecret; without one, an allow-list must be present and narrow
// (CheckAllow).
func Protection(secret string, allow []netip.Prefix) error {
	switch {
	case secret != "":
		if err := CheckSecret(secret); err != nil {
			return fmt.Errorf("its key %w", err)
		}
		return nil
	case len(allow) == 0:
		return errors.New("nothing authenticates its callers")
	}
	return CheckAllow(allow)
}

// Widest networks an allow-list may name when it alone admits callers: a
// /16 (65,536 IPv4 addresses) or a /48 (one site's IPv6 prefix). Anything
// wider names a provider or the whole Internet, not a server.
const (
	MinAllowBits4 = 16
	MinAllowBits6 = 48
)

// CheckAllow says which network of an allow-list is too wide to count as
// naming callers, if any.
func CheckAllow(allow []netip.Prefix) error {
	for i, p := range allow {
		if least := minBits(p); p.Bits() < least {
			return fmt.Errorf("[%d] %s admits more than a /%d; list the callers' own addresses or networks, or set a token as well", i, p, least)
		}
	}
	return nil
}

func minBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return MinAllowBits4
	}
	return MinAllowBits6
}

// CheckSecret says what is wrong with a configured secret, if anything.
func CheckSecret(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case docExample(s):
		return fmt.Errorf("is the example placeholder %q; set a random key (e.g. `openssl rand -hex 16`)", strings.TrimSpace(s))
	case len(s) < MinSecret:
		return fmt.Errorf("is shorter than %d characters", MinSecret)
	case strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n"):
		return errors.New("contains white space, which an HTTP header cannot carry")
	}
	return nil
}

// ParseAllow reads an allow-list of addresses ("192.168.0.13", "::1") and
// networks ("192.168.0.0/24"). IPv4-mapped entries ("::ffff:192.168.0.0/120")
// are read as the IPv4 ones they map, because callers are compared in IPv4
// form; a mapped network shorter than /96 would reach past the mapped
// space and is refused.
func ParseAllow(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("[%d] %q is neither an IP address nor a network (a.b.c.d/n)", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("[%d] %q: an IPv4-mapped network needs /96 or longer; write it as IPv4", i, s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Guard is the admission check in front of a handler. With Allow set the
// caller's address must be in it; with Secret set the request must carry it
// as "Authorization: Bearer SECRET" or, if HeaderKey is set, in that header.
// Both set: both are required.
type Guard struct {
	Secret    string
	HeaderKey string // e.g. "X-API-Key"; empty: bearer only
	Allow     []netip.Prefix
	Realm     string // named in WWW-Authenticate
	// Deny writes a refusal in the listener's own reply shape.
	Deny func(w http.ResponseWriter, status int, msg string)
}

// Wrap returns h behind the guard.
func (g Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(g.Allow) > 0 && !g.allowed(r.RemoteAddr) {
			g.Deny(w, http.StatusForbidden, "this address may not call here")
			return
		}
		if g.Secret != "" {
			if msg := g.credentialProblem(r.Header); msg != "" {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", g.Realm))
				g.Deny(w, http.StatusUnauthorized, msg)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// allowed uses the connection's own address: a forwarded-for header is the
// caller's word, not evidence.
func (g Guard) allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// credentialProblem is "" when the request carries the secret; every
// credential it carries must be right, so a wrong one is never outvoted.
func (g Guard) credentialProblem(h http.Header) string {
	var got []string
	if g.HeaderKey != "" {
		switch v := h.Values(g.HeaderKey); len(v) {
		case 0:
		case 1:
			got = append(got, v[0])
		default:
			return g.HeaderKey + " is repeated"
		}
	}
	switch v := h.Values("Authorization"); len(v) {
	case 0:
	case 1:
		tok, ok := Bearer(v[0])
		if !ok {
			return "the Authorization scheme must be Bearer"
		}
		got = append(got, tok)
	default:
		return "Authorization is repeated"
	}
	if len(got) == 0 {
		if g.HeaderKey != "" {
			return "missing credentials: send Authorization: Bearer KEY or " + g.HeaderKey + ": KEY"
		}
		return "missing credentials: send Authorization: Bearer KEY"
	}
	for _, k := range got {
		if subtle.ConstantTimeCompare([]byte(k), []byte(g.Secret)) != 1 {
			return "wrong key"
		}
	}
	return ""
}

// Bearer extracts the token of an Authorization value of the Bearer
// scheme; the scheme name is case-insensitive (RFC 9110 §11.1), the token
// is one word (RFC 6750 §2.1).
func Bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// ErrTooLarge is a request body over the listener's limit.
var ErrTooLarge = errors.New("request body too large")

// ReadBody reads the whole body, refusing one larger than limit bytes
// without reading it all.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return raw, nil
}

// Server is a running listener.
type Server struct {
	Addr string // host:port it listens on
	hs   *http.Server
}

// Serve listens on listen ("127.0.0.1:0" picks a port) with timeouts that
// keep slow or idle clients from holding connections.
func Serve(listen string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", listen, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() { _ = hs.Serve(ln) }()
	return &Server{Addr: ln.Addr().String(), hs: hs}, nil
}

// Close stops serving, letting requests in flight finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.hs.Shutdown(ctx)
}
