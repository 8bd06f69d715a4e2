// Package mqtttest starts an in-process MQTT broker for tests (mochi-mqtt,
// allow-all), closed when the test ends.
package mqtttest

import (
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker starts a broker on a free loopback port and returns its address.
func Broker(t testing.TB) string {
	t.Helper()
	return start(t, new(auth.AllowHook), nil, nil)
}

// BrokerTLS starts an allow-all broker whose listener speaks TLS with tc
// (the server certificate, and the client CAs when it asks for one).
func BrokerTLS(t testing.TB, tc *tls.Config) string {
	t.Helper()
	return start(t, new(auth.AllowHook), nil, tc)
}

// BrokerWithUsers starts a broker that admits only these usernames with
// their passwords, for tests of refused credentials.
func BrokerWithUsers(t testing.TB, users map[string]string) string {
	t.Helper()
	var rules auth.AuthRules
	for u, p := range users {
		rules = append(rules, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(p), Allow: true})
	}
	return start(t, new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Auth: rules}}, nil)
}

func start(t testing.TB, hook mochi.Hook, opts any, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(hook, opts); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr, TLSConfig: tc})); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { CloseQuiet(srv) })
	return addr
}

// CloseQuiet waits for the clients to leave before closing the broker:
// mochi v2.6.6 takes a read lock twice in Close, which deadlocks when a
// client's removal is waiting for the write lock at that moment.
func CloseQuiet(srv *mochi.Server) {
	for deadline := time.Now().Add(3 * time.Second); srv.Clients.Len() > 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the inline client stays
	}
	srv.Close()
}
