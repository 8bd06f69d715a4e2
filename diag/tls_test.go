package diag

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"github.com/tapagent/tapagent/internal/testwait"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/internal/mqtttest"
	"github.com/tapagent/tapagent/storage"
)

// pki is a throw-away CA with one server and one client certificate.
type pki struct {
	pool           *x509.CertPool
	server, client tls.Certificate
	stranger       tls.Certificate // signed by another CA
}

func newPKI(t *testing.T) pki {
	ca, caKey := selfSigned(t, "tapagent test CA")
	other, otherKey := selfSigned(t, "someone else")
	p := pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = leaf(t, ca, caKey, "broker", x509.ExtKeyUsageServerAuth)
	p.client = leaf(t, ca, caKey, "tapagent-1001", x509.ExtKeyUsageClientAuth)
	p.stranger = leaf(t, other, otherKey, "intruder", x509.ExtKeyUsageClientAuth)
	return p
}

// serverTLS is a broker listener's TLS: our server certificate, and a
// client certificate from our CA required.
func (p pki) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: p.pool, MinVersion: tls.VersionTLS12}
}

func selfSigned(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, use x509.ExtKeyUsage) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{use},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	addr := mqtttest.BrokerTLS(t, p.serverTLS())

	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := New(Config{Broker: "ssl://" + addr, DeviceID: 1001, TLS: &tls.Config{RootCAs: p.pool,
		Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}}, st,
		map[string]Handler{"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testwait.Until(t, 10*time.Second, "the agent connects with its client certificate", d.client.IsConnected)
	// A client without a certificate from our CA is turned away.
	for _, certs := range [][]tls.Certificate{nil, {p.stranger}} {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ssl://" + addr).SetClientID("x").
			SetTLSConfig(&tls.Config{RootCAs: p.pool, Certificates: certs, MinVersion: tls.VersionTLS12}).SetConnectTimeout(2 * time.Second))
		tok := c.Connect()
		tok.WaitTimeout(3 * time.Second)
		if tok.Error() == nil && c.IsConnected() {
			c.Disconnect(0)
			t.Fatalf("connected with certificates %v", certs != nil)
		}
	}
}

// lockedBuffer is a log sink the test reads while the agent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLinkFailuresAreExplained: a refused certificate or password is
// logged with its reason and kept for doctor, not retried in silence.
func TestLinkFailuresAreExplained(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	addr := mqtttest.BrokerTLS(t, p.serverTLS())
	pwAddr := mqtttest.BrokerWithUsers(t, map[string]string{"1001": "right"})
	cases := []struct {
		name, broker, password string
		tls                    *tls.Config
		want                   string
	}{
		{"untrusted broker", "ssl://" + addr, "", &tls.Config{RootCAs: other.pool, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}, "not signed by a CA in mqtt.ca_file"},
		{"client certificate refused", "ssl://" + addr, "", &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.stranger}, MinVersion: tls.VersionTLS12}, "refused the TLS handshake"},
		{"wrong password", "tcp://" + pwAddr, "wrong", nil, "refused mqtt.username and mqtt.password"},
		{"nobody there", "tcp://" + freeAddr(t), "", nil, "cannot be reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var logs lockedBuffer
			d, err := New(Config{Broker: c.broker, DeviceID: 1001, Username: "1001", Password: c.password, TLS: c.tls,
				Log: slog.New(slog.NewTextHandler(&logs, nil))}, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { d.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			testwait.Until(t, 10*time.Second, "a connection failure", func() bool { return d.LinkError() != nil })
			if got := Explain(d.LinkError()); !strings.Contains(got, c.want) {
				t.Fatalf("explained as %q (%v), want %q", got, d.LinkError(), c.want)
			}
			if !testwait.For(5*time.Second, func() bool { return strings.Contains(logs.String(), c.want) }) {
				t.Fatalf("log says %q", logs.String())
			}
		})
	}
}
