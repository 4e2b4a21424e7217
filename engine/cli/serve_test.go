package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/datadir"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source/gittest"
)

// syncBuffer is written by the daemon's goroutines while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeBundledCatalog is the README's demo: `samverk serve` with no --repo publishes the
// bundled catalog, the client commands talk to it, and SIGTERM (a cancelled context) stops it.
func TestServeBundledCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	server := "http://" + addr
	if err := os.WriteFile(filepath.Join(dir, "admin"), []byte("s3cret-admin-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Flags from the environment; the flag on the command line wins over SAMVERK_BRANCH.
	t.Setenv("SAMVERK_LISTEN", addr)
	t.Setenv("SAMVERK_ADMIN_TOKEN_FILE", filepath.Join(dir, "admin"))
	t.Setenv("SAMVERK_BRANCH", "no-such-branch")

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(dir, "data"), "--branch", "main"}, nil, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never became ready; log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"status", "--server", server, "--output", "json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("status exit %d: %s%s", code, out.String(), errOut.String())
	}
	var st reconcile.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.LastAppliedRevision == "" || st.Report == nil || !st.Report.Passed || st.Report.Documents == 0 {
		t.Errorf("the bundled catalog is not served clean: %+v", st)
	}

	out.Reset()
	if code := run(ctx, []string{"status", "--server", server}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Ready        True") {
		t.Errorf("status text (exit %d):\n%s", code, out.String())
	}

	// A second daemon on the same data directory is refused, clearly, and the first one is
	// left alone.
	errOut.Reset()
	if code := run(ctx, []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", freeAddr(t)}, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), "in use by another samverk daemon") {
		t.Errorf("a second serve on the same data directory: exit %d: %s", code, errOut.String())
	}

	t.Setenv("SAMVERK_SERVER", server)
	for _, args := range [][]string{{"suspend", "--reason", "test"}, {"resume"}, {"reconcile"}} {
		out.Reset()
		errOut.Reset()
		if code := run(ctx, args, nil, &out, &errOut); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut.String())
		}
	}

	// API tokens: the admin creates one, it works, it is listed without its secret, revoked
	// it stops working.
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"token", "create", "--member", "region-norr", "--role", "viewer", "--expires", "30d", "--name", "ci"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	id, _, _ := strings.Cut(strings.TrimPrefix(errOut.String(), "token "), ":")
	if !strings.HasPrefix(tok, "svk_") || id == "" {
		t.Fatalf("token create printed %q, %q", out.String(), errOut.String())
	}
	out.Reset()
	if code := run(ctx, []string{"token", "list"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), id) ||
		!strings.Contains(out.String(), "viewer  region-norr") || strings.Contains(out.String(), tok) {
		t.Errorf("token list (exit %d):\n%s", code, out.String())
	}
	tokFile := filepath.Join(dir, "api-token")
	os.WriteFile(tokFile, []byte(tok+"\n"), 0o600)
	out.Reset()
	if code := run(ctx, []string{"status", "--token-file", tokFile}, nil, &out, &errOut); code != 0 {
		t.Errorf("status with a viewer token: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"suspend", "--token-file", tokFile}, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), "403") {
		t.Errorf("suspend with a member viewer token: exit %d: %s", code, errOut.String())
	}
	if code := run(ctx, []string{"token", "revoke", id}, nil, &out, &errOut); code != 0 {
		t.Errorf("token revoke: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"status", "--token-file", tokFile}, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), "401") {
		t.Errorf("status with a revoked token: exit %d: %s", code, errOut.String())
	}

	t.Setenv("SAMVERK_ADMIN_TOKEN_FILE", "")
	t.Setenv("SAMVERK_ADMIN_TOKEN", "wrong")
	errOut.Reset()
	if code := run(ctx, []string{"reconcile"}, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), "401") {
		t.Errorf("reconcile with a wrong token: exit %d: %s", code, errOut.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d; log:\n%s", code, stderr.String())
		}
		done <- code // for the deferred receive
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if !strings.Contains(stderr.String(), `"msg":"samverk serve stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
	// Everything the daemon wrote is its user's alone: the data directory is 0700, and below
	// it nothing has a permission bit for group or others, except Git's objects, which go-git
	// (like git) makes read-only 0444 and which the directory keeps out of reach.
	if runtime.GOOS != "windows" {
		data := filepath.Join(dir, "data")
		if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("data directory: %v, %v", fi.Mode(), err)
		}
		err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			perm := fi.Mode().Perm()
			gitObject := strings.Contains(p, string(filepath.Separator)+"objects"+string(filepath.Separator)) && perm == 0o444
			if d.Type()&fs.ModeSymlink == 0 && perm&0o077 != 0 && !gitObject {
				t.Errorf("%s: mode %04o, open to others", p, perm)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, secret := range []string{"s3cret-admin-token", tok} {
		if strings.Contains(stderr.String(), secret) {
			t.Error("the log reveals a token")
		}
	}
}

func TestServeUsage(t *testing.T) {
	shortToken := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(shortToken, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badNotify := filepath.Join(t.TempDir(), "notify.yaml")
	if err := os.WriteFile(badNotify, []byte("sinks:\n  - name: ops\n    type: email\n    url: https://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"keys without verification", []string{"serve", "--trusted-keys", "k.asc"}, "need --verify-signatures"},
		{"member keys without verification", []string{"serve", "--member-keys", "keys"}, "need --verify-signatures"},
		{"verification without keys", []string{"serve", "--verify-signatures"}, "needs --trusted-keys"},
		{"bad interval", []string{"serve", "--interval", "0s"}, "--interval"},
		{"missing admin token file", []string{"serve", "--admin-token-file", "/nonexistent/token"}, "--admin-token-file"},
		{"short admin token", []string{"serve", "--admin-token-file", shortToken}, "at least 32 are needed"},
		{"bad notify config", []string{"serve", "--notify-config", badNotify}, "line 2: sinks[0] (ops): type: \"email\""},
		{"missing notify config", []string{"serve", "--notify-config", "/nonexistent/notify.yaml"}, "--notify-config"},
		{"commit status on a local repository", []string{"serve", "--commit-status", "github"}, "a local path has no commit status API"},
		{"commit status token without a host", []string{"serve", "--commit-status-token-file", shortToken}, "need a GitHub or GitLab --repo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tt.args, "--data", t.TempDir())
			if code := run(context.Background(), args, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitUsage, tt.want)
			}
		})
	}
}

// TestServeSQLiteOneProcess: a second daemon on the same SQLite file, with its own data
// directory, is refused with a message that says why and what to use instead.
func TestServeSQLiteOneProcess(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	held, err := datadir.LockSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--store", "sqlite:" + db}, nil, &out, &errOut)
	for _, want := range []string{db, "in use by another samverk daemon", "postgres://"} {
		if code != ExitUsage || !strings.Contains(errOut.String(), want) {
			t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitUsage, want)
		}
	}
}

func TestServeMemberKeysUsage(t *testing.T) {
	dir := t.TempDir()
	_, pub := gittest.NewKey(t, "Strategigruppen")
	keys := filepath.Join(dir, "consortium.asc")
	if err := os.WriteFile(keys, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "member-keys")
	if err := os.MkdirAll(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "region-norr.asc"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing directory", []string{"--member-keys", filepath.Join(dir, "nonexistent")}, "member keys"},
		{"a file that is not a key", []string{"--member-keys", bad}, "region-norr.asc"},
		{"known keys that are not keys", []string{"--known-keys", filepath.Join(bad, "region-norr.asc")}, "--known-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"serve", "--verify-signatures", "--trusted-keys", keys, "--data", t.TempDir()}, tt.args...)
			if code := run(context.Background(), args, nil, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitUsage, tt.want)
			}
		})
	}
}

func TestDisplayURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@git.example.org/c.git": "https://git.example.org/c.git",
		"ssh://git@git.example.org/c.git":        "ssh://git.example.org/c.git",
		"git@git.example.org:eklient/c.git":      "git.example.org:eklient/c.git",
		"/srv/catalog.git":                       "/srv/catalog.git",
	} {
		if got := displayURL(in); got != want {
			t.Errorf("displayURL(%q) = %q, want %q", in, got, want)
		}
	}
}
