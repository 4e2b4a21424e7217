package source_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
)

func open(t *testing.T, opt source.Options) *source.Source {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = filepath.Join(t.TempDir(), "clone")
	}
	s, err := source.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFetchLocalPath(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "one\n"})
	first := up.Commit("first", nil)

	reg := prometheus.NewRegistry()
	m, err := source.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, source.Options{URL: up.Dir, Metrics: m})
	ctx := context.Background()
	h, err := s.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h != first {
		t.Fatalf("head = %s, want %s", h, first)
	}
	// The clone is bare: no working tree in the data directory.
	if _, err := os.Stat(filepath.Join(s.Dir(), "a.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the clone has a working tree: %v", err)
	}

	up.Write(map[string]string{"a.yaml": "two\n"})
	second := up.Commit("second", nil)
	h, err = s.Fetch(ctx)
	if err != nil || h != second {
		t.Fatalf("head = %s, %v; want %s", h, err, second)
	}
	// Fetching again with nothing new is no error.
	if h, err = s.Fetch(ctx); err != nil || h != second {
		t.Fatalf("up-to-date fetch = %s, %v", h, err)
	}
	if head, err := s.Head(); err != nil || head != second {
		t.Errorf("Head = %s, %v", head, err)
	}

	for rev, want := range map[plumbing.Hash]string{first: "one\n", second: "two\n"} {
		snap, err := s.Snapshot(rev)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fs.ReadFile(snap, "a.yaml")
		if err != nil || string(b) != want {
			t.Errorf("snapshot %s: a.yaml = %q, %v; want %q", rev, b, err, want)
		}
	}
	if n := gathered(t, reg, "samverk_source_fetch_duration_seconds").GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("fetch duration samples = %d, want 3", n)
	}
	if v := gathered(t, reg, "samverk_source_fetch_failures_total").GetCounter().GetValue(); v != 0 {
		t.Errorf("fetch failures = %v, want 0", v)
	}
}

// gathered returns the single series of the named metric.
func gathered(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	t.Fatalf("no single series of %s", name)
	return nil
}

func TestFetchReopensExistingClone(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "one\n"})
	first := up.Commit("first", nil)
	dir := filepath.Join(t.TempDir(), "clone")
	s := open(t, source.Options{URL: up.Dir, Dir: dir})
	if _, err := s.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A restart finds the clone and its objects without the network.
	again := open(t, source.Options{URL: "/nonexistent/repository", Dir: dir})
	if !again.Has(first) {
		t.Error("reopened clone lacks the fetched commit")
	}
	if _, err := again.Snapshot(first); err != nil {
		t.Error(err)
	}
	if _, err := again.Fetch(context.Background()); err == nil {
		t.Error("fetch from a missing repository succeeded")
	}
}

func TestFetchFollowsForcePush(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "one\n"})
	first := up.Commit("first", nil)
	up.Write(map[string]string{"a.yaml": "two\n"})
	up.Commit("second", nil)
	s := open(t, source.Options{URL: up.Dir})
	if _, err := s.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Rewind main to the first commit and commit something else on top.
	if err := up.Repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", first)); err != nil {
		t.Fatal(err)
	}
	wt, _ := up.Repo.Worktree()
	if err := wt.Reset(&git.ResetOptions{Commit: first, Mode: git.HardReset}); err != nil {
		t.Fatal(err)
	}
	up.Write(map[string]string{"b.yaml": "other\n"})
	rewritten := up.Commit("rewritten", nil)
	h, err := s.Fetch(context.Background())
	if err != nil || h != rewritten {
		t.Fatalf("after force-push head = %s, %v; want %s", h, err, rewritten)
	}
}

func TestFetchMissingBranch(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "one\n"})
	up.Commit("first", nil)
	reg := prometheus.NewRegistry()
	m, _ := source.NewMetrics(reg)
	s := open(t, source.Options{URL: up.Dir, Branch: "release", Metrics: m})
	if _, err := s.Fetch(context.Background()); err == nil {
		t.Fatal("fetch of a missing branch succeeded")
	}
	if v := gathered(t, reg, "samverk_source_fetch_failures_total").GetCounter().GetValue(); v != 1 {
		t.Errorf("fetch failures = %v, want 1", v)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  source.Options
		want string
	}{
		{"no url", source.Options{Dir: t.TempDir()}, "no repository URL"},
		{"no dir", source.Options{URL: "/tmp/x"}, "no directory"},
		{"password in url", source.Options{URL: "https://user:hunter2@git.example.org/cat.git", Dir: t.TempDir()}, "carries a password"},
		{"token over plain http", source.Options{URL: "http://git.example.org/cat.git", Dir: t.TempDir(), Token: "hunter2"}, "plain http"},
		{"bad branch", source.Options{URL: "/tmp/x", Dir: t.TempDir(), Branch: "a..b~"}, "invalid branch"},
		{"bad keys", source.Options{URL: "/tmp/x", Dir: t.TempDir(), TrustedKeys: "not a key"}, "trusted keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.Open(tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	trusted, trustedPub := gittest.NewKey(t, "Catalog Signer")
	other, otherPub := gittest.NewKey(t, "Someone Else")
	_ = otherPub
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "signed\n"})
	signed := up.Commit("signed", trusted)
	up.Write(map[string]string{"a.yaml": "unsigned\n"})
	unsigned := up.Commit("unsigned", nil)
	up.Write(map[string]string{"a.yaml": "other\n"})
	byOther := up.Commit("signed by another key", other)
	sshSigned := commitWithSignature(t, up.Repo, byOther, "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")
	tampered := commitWithSignature(t, up.Repo, byOther, mustCommit(t, up.Repo, signed).PGPSignature)

	// A second trusted key in the same file: both blocks must count.
	_, extraPub := gittest.NewKey(t, "Second Signer")
	s := open(t, source.Options{URL: up.Dir, TrustedKeys: extraPub + "\n" + trustedPub})
	if !s.Verifying() {
		t.Fatal("Verifying() = false with trusted keys")
	}
	tests := []struct {
		name   string
		commit plumbing.Hash
		want   error
	}{
		{"signed by trusted key", signed, nil},
		{"unsigned", unsigned, source.ErrUnsigned},
		{"signed by untrusted key", byOther, source.ErrUntrusted},
		{"signature copied from another commit", tampered, source.ErrUntrusted},
		{"ssh signature", sshSigned, source.ErrUnsupportedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The commit becomes the branch head, as a push would make it.
			if err := up.Repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", tt.commit)); err != nil {
				t.Fatal(err)
			}
			head, err := s.Fetch(context.Background())
			if err != nil || head != tt.commit {
				t.Fatalf("fetch = %s, %v", head, err)
			}
			signer, err := s.Verify(head)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !strings.Contains(signer, "Catalog Signer") {
					t.Errorf("signer = %q", signer)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.want)
			}
		})
	}

	// Without trusted keys every commit passes.
	plain := open(t, source.Options{URL: up.Dir})
	if _, err := plain.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Verify(unsigned); err != nil {
		t.Errorf("Verify without keys: %v", err)
	}
}

func mustCommit(t *testing.T, repo *git.Repository, h plumbing.Hash) *object.Commit {
	t.Helper()
	c, err := repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// commitWithSignature stores a copy of commit base whose signature header is sig.
func commitWithSignature(t *testing.T, repo *git.Repository, base plumbing.Hash, sig string) plumbing.Hash {
	t.Helper()
	c := *mustCommit(t, repo, base)
	c.Message += "\nresigned\n"
	c.PGPSignature = sig
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestFetchHTTPSWithToken fetches over smart HTTP from git http-backend behind basic auth on
// loopback, and checks the token never shows in an error.
func TestFetchHTTPSWithToken(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git CLI not installed: no http-backend to serve from")
	}
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "over http\n"})
	head := up.Commit("first", nil)
	root := t.TempDir()
	if _, err := git.PlainClone(filepath.Join(root, "catalog.git"), true, &git.CloneOptions{URL: up.Dir}); err != nil {
		t.Fatal(err)
	}
	const token = "glpat-s3cr3t-t0ken"
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/catalog.git"

	s := open(t, source.Options{URL: url, Token: token})
	h, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h != head {
		t.Errorf("head = %s, want %s", h, head)
	}

	wrong := open(t, source.Options{URL: url, Token: "wrong-" + token})
	_, err = wrong.Fetch(context.Background())
	if err == nil {
		t.Fatal("fetch with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error reveals the token: %v", err)
	}
	none := open(t, source.Options{URL: url})
	if _, err := none.Fetch(context.Background()); err == nil {
		t.Fatal("fetch without a token succeeded")
	}
}
