package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/agent"
	"samverk.io/samverk/engine/agent/statedir"
	"samverk.io/samverk/engine/server/tlstest"
)

// TestServeTLS runs `samverk serve --tls-cert --tls-key` with a certificate from a CA made in
// the test, and a real agent against it: with another CA in --ca-file it refuses the server,
// with the right one it enrolls and converges.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "samverk test CA")
	other := tlstest.NewCA(t, "someone else's CA")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t).Write(t, certFile, keyFile)
	rightCA, wrongCA := ca.WriteCA(t, dir, "ca.pem"), other.WriteCA(t, dir, "other-ca.pem")
	const enrollToken = "tls-test-enrollment-token-0123456789abcdef"
	tokens := filepath.Join(dir, "enroll-tokens")
	if err := os.WriteFile(tokens, []byte("mittlands-universitet="+enrollToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	server := "https://" + addr

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", addr,
			"--tls-cert", certFile, "--tls-key", keyFile, "--enroll-tokens", tokens}, nil, &syncBuffer{}, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := hc.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d; log:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never became ready; log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain http is answered on the TLS port")
		}
		resp.Body.Close()
	}

	newAgent := func(caFile, stateDir string) *agent.Agent {
		t.Helper()
		a, err := agent.New(agent.Options{Server: server, EnrollToken: enrollToken, StateDir: stateDir,
			CAFile: caFile, Once: true, Noop: true, Root: t.TempDir(), Systemctl: "off",
			Labels: map[string]string{"lab": "linux"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	state := filepath.Join(dir, "agent")
	err := newAgent(wrongCA, state).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("agent with another CA: %v, want a certificate error", err)
	}
	if _, err := os.Stat(filepath.Join(state, statedir.CredentialFile)); err == nil {
		t.Fatal("the agent enrolled with a server it cannot trust")
	}

	if err := newAgent(rightCA, state).Run(ctx); err != nil && !errors.Is(err, agent.ErrResourcesFailed) {
		t.Fatalf("agent with the right CA: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, statedir.CredentialFile)); err != nil {
		t.Fatalf("no credential after enrolling over TLS: %v", err)
	}
	// Enrolled: a second run needs no enrollment token.
	a, err := agent.New(agent.Options{Server: server, StateDir: state, CAFile: rightCA, Once: true, Noop: true,
		Root: t.TempDir(), Systemctl: "off"}, nil)
	if err != nil {
		t.Fatalf("after enrolling over TLS: %v", err)
	}
	if err := a.Run(ctx); err != nil && !errors.Is(err, agent.ErrResourcesFailed) {
		t.Fatalf("second run: %v", err)
	}
}

func TestServeTLSUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"serve", "--tls-cert", filepath.Join(dir, "c.pem")}, "both a certificate and a key"},
		{"missing files", []string{"serve", "--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem")}, "c.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut syncBuffer
			args := append(tt.args, "--data", t.TempDir(), "--listen", freeAddr(t))
			if code := run(context.Background(), args, nil, &syncBuffer{}, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitUsage, tt.want)
			}
		})
	}
}
