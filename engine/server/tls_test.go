package server

import (
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samverk.io/samverk/engine/server/tlstest"
)

// serial dials ln with the CA's pool and returns the serial number of the certificate served.
func serial(t *testing.T, ln net.Listener, ca *tlstest.CA) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// serveHandshakes accepts connections on ln and completes their handshakes until ln closes.
func serveHandshakes(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}()
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := tlstest.NewCA(t, "samverk test CA")
	first := ca.Issue(t)
	first.Write(t, certFile, keyFile)

	c, err := newCertificate(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveHandshakes(ln)

	if got := serial(t, ln, ca); got != first.Serial {
		t.Fatalf("serial %d, want %d", got, first.Serial)
	}

	// A renewal on disk is served from the next handshake on, without a signal.
	second := ca.Issue(t)
	second.Write(t, certFile, keyFile)
	if got := serial(t, ln, ca); got != second.Serial {
		t.Fatalf("after renewal on disk: serial %d, want %d", got, second.Serial)
	}

	// A broken renewal (key of another pair) keeps the good certificate in service, and an
	// explicit reload says what is wrong.
	third := ca.Issue(t)
	if err := os.WriteFile(certFile, third.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, ln, ca); got != second.Serial {
		t.Fatalf("after a broken renewal: serial %d, want %d kept", got, second.Serial)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("reload of a mismatched pair: %v", err)
	}

	// Reload (SIGHUP) loads a repaired pair at once.
	fourth := ca.Issue(t)
	if err := os.WriteFile(keyFile, fourth.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, fourth.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, ln, ca); got != fourth.Serial {
		t.Fatalf("after Reload: serial %d, want %d", got, fourth.Serial)
	}
}

func TestCertificateMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := newCertificate(filepath.Join(dir, "none.crt"), filepath.Join(dir, "none.key"), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "none.crt") {
		t.Fatalf("missing files: %v", err)
	}
}
