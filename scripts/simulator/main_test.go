package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// logins is a broker hook that admits everyone and records the logins.
type logins struct {
	mqtt.HookBase
	mu   sync.Mutex
	seen map[string]string // username → password
	live sync.WaitGroup    // connections not yet fully detached
}

func (h *logins) ID() string { return "test-logins" }

func (h *logins) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (h *logins) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[string(pk.Connect.Username)] = string(pk.Connect.Password)
	return true
}

func (h *logins) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *logins) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if !cl.Net.Inline {
		h.live.Add(1)
	}
}

func (h *logins) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if !cl.Net.Inline {
		h.live.Done()
	}
}

func (h *logins) passwords() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.seen {
		out[k] = v
	}
	return out
}

// startBroker serves MQTT on ln until the test ends. mochi v2.7.9's Close
// can deadlock when a client detaches during it (see
// shared/local/stack/broker.go), so the cleanup drops the connections and
// waits for them to detach first.
func startBroker(t *testing.T, ln net.Listener) *logins {
	t.Helper()
	h := &logins{seen: map[string]string{}}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("test", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ln.Close()
		done := make(chan struct{})
		go func() { h.live.Wait(); close(done) }()
		select {
		case <-done:
			time.Sleep(50 * time.Millisecond) // let mochi finish deleting them
		case <-time.After(5 * time.Second):
		}
		_ = srv.Close()
	})
	return h
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoDevices = `{"devices":[
	{"id":"v-101","kind":"valve","asset":"v-101","token":"tok-valve"},
	{"id":"A-North","kind":"gauge","asset":"A-North","token":"tok-gauge"}]}`

func TestRunSimulatesTheDevicesOfTheFileAndPrintsWhatTheySent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := startBroker(t, ln)
	devices := writeFile(t, "devices.json", twoDevices)

	var stdout, stderr bytes.Buffer
	err = run([]string{"-url", "tcp://" + ln.Addr().String(), "-devices", devices,
		"-telemetry-every", "20ms", "-leak-every", "0", "-duration", "500ms"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	sent := regexp.MustCompile(`acknowledged: telemetry [1-9][0-9]*, pressure [1-9][0-9]*`)
	if !sent.MatchString(stdout.String()) {
		t.Errorf("stdout %q: want the stats, with readings of both kinds", stdout.String())
	}
	want := map[string]string{"v-101": "tok-valve", "A-North": "tok-gauge"}
	if got := broker.passwords(); len(got) != 2 || got["v-101"] != want["v-101"] || got["A-North"] != want["A-North"] {
		t.Errorf("logins %v, want each device's id and token from the file %v", got, want)
	}
}

func TestRunConnectsToIoTCoreWithAClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "Test Root CA", true)
	server, serverKey := newCert(t, ca, caKey, "broker", false)
	client, clientKey := newCert(t, ca, caKey, "v-101", false)
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, caFile, "CERTIFICATE", ca.Raw)
	writePEM(t, certFile, "CERTIFICATE", client.Raw)
	der, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", der)

	// The broker, like IoT Core, admits only clients with a certificate
	// from its CA.
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(raw, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey}},
		ClientCAs:    pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	broker := startBroker(t, ln)
	devices := writeFile(t, "devices.json", `{"devices":[{"id":"v-101","kind":"valve","asset":"v-101"}]}`)

	var stdout, stderr bytes.Buffer
	err = run([]string{"-url", "ssl://" + raw.Addr().String(), "-devices", devices, "-cert", certFile, "-key", keyFile, "-ca", caFile,
		"-telemetry-every", "20ms", "-leak-every", "0", "-duration", "500ms"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if _, ok := broker.passwords()["v-101"]; !ok || !regexp.MustCompile(`telemetry [1-9]`).MatchString(stdout.String()) {
		t.Errorf("the valve did not get through over TLS: stdout %q", stdout.String())
	}
}

func TestRunRefusesWhatItCannotUse(t *testing.T) {
	good := writeFile(t, "devices.json", twoDevices)
	certOnly := writeFile(t, "cert.pem", "not a certificate")
	for name, c := range map[string]struct {
		args []string
		want string // in the error
	}{
		"an unknown flag":          {[]string{"-devices", good, "-speed", "9"}, "flag provided but not defined"},
		"an argument":              {[]string{"-devices", good, "now"}, "unexpected arguments"},
		"no devices file":          {[]string{"-devices", filepath.Join(t.TempDir(), "none.json")}, "make run"},
		"a devices file not JSON":  {[]string{"-devices", writeFile(t, "bad.json", "devices: v-101")}, "bad.json"},
		"a devices file, empty":    {[]string{"-devices", writeFile(t, "empty.json", `{"devices":[]}`)}, "no devices"},
		"a certificate, no key":    {[]string{"-devices", good, "-cert", certOnly}, "-cert and -key"},
		"a CA file with no CA":     {[]string{"-devices", good, "-ca", certOnly}, "no PEM certificate"},
		"a bad certificate":        {[]string{"-devices", good, "-cert", certOnly, "-key", certOnly}, "client certificate"},
		"a negative duration":      {[]string{"-devices", good, "-duration", "-1s"}, "-duration"},
		"a url it cannot dial":     {[]string{"-devices", good, "-url", "http://127.0.0.1:1883"}, "scheme"},
		"a negative telemetry gap": {[]string{"-devices", good, "-telemetry-every", "-5s"}, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(c.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run %v = %v, want an error mentioning %q", c.args, err, c.want)
			}
		})
	}
}

// newCert makes an ECDSA certificate signed by parent (self-signed when
// parent is nil), valid for 127.0.0.1.
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
