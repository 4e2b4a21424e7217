// Package gpgtest makes throwaway OpenPGP keys with the gpg binary and commits signed with them
// by the git binary, for tests that check signatures the way people make them.
package gpgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/source/gittest"
)

// GPG is a temporary GnuPG home directory.
type GPG struct {
	Home    string
	wrapper string // gpg with the signing time taken from SAMVERK_TEST_GPG_TIME
	tb      testing.TB
}

// New makes an empty GnuPG home, and stops its agent when the test ends. It skips the test when
// gpg or git is not installed.
func New(tb testing.TB) *GPG {
	tb.Helper()
	for _, bin := range []string{"gpg", "git", "gpgconf"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("%s is not installed", bin)
		}
	}
	// Not t.TempDir: the agent's socket path must stay short.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		tb.Fatal(err)
	}
	g := &GPG{Home: home, tb: tb, wrapper: filepath.Join(home, "gpg-at")}
	script := "#!/bin/sh\nif [ -n \"$SAMVERK_TEST_GPG_TIME\" ]; then exec gpg --faked-system-time \"$SAMVERK_TEST_GPG_TIME\" \"$@\"; fi\nexec gpg \"$@\"\n"
	if err := os.WriteFile(g.wrapper, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	return g
}

func (g *GPG) run(at time.Time, args ...string) string {
	g.tb.Helper()
	base := []string{"--batch", "--yes", "--no-tty", "--passphrase", "", "--pinentry-mode", "loopback"}
	if !at.IsZero() {
		base = append(base, "--faked-system-time", strconv.FormatInt(at.Unix(), 10))
	}
	cmd := exec.Command("gpg", append(base, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		g.tb.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// Key is a key pair in the GnuPG home.
type Key struct {
	Fingerprint string
	UserID      string
	g           *GPG
}

// Key generates an Ed25519 signing key for uid ("Name <email>"), created at created (zero:
// 30 days ago) and expiring after expire, in gpg's notation ("1y", "2d", "never").
func (g *GPG) Key(uid string, created time.Time, expire string) *Key {
	g.tb.Helper()
	if created.IsZero() {
		created = time.Now().Add(-30 * 24 * time.Hour)
	}
	g.run(created, "--quick-gen-key", uid, "ed25519", "sign", expire)
	out := g.run(time.Time{}, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			return &Key{Fingerprint: f[9], UserID: uid, g: g}
		}
	}
	g.tb.Fatalf("no fingerprint for %s in:\n%s", uid, out)
	return nil
}

// Public is the key's armored public key, as it is now (with its current expiry).
func (k *Key) Public() string {
	k.g.tb.Helper()
	return k.g.run(time.Time{}, "--armor", "--export", k.Fingerprint)
}

// SetExpiry changes the key's expiry as gpg would at time at: expire counts from at.
func (k *Key) SetExpiry(at time.Time, expire string) {
	k.g.tb.Helper()
	k.g.run(at, "--quick-set-expire", k.Fingerprint, expire)
}

// Repo is a Git working tree made and committed to by the git binary, on branch main.
type Repo struct {
	Dir string
	g   *GPG
	tb  testing.TB
	// Clock is the committer time of the next commit made with a zero time; each such commit
	// moves it a minute on. It starts a week ago.
	Clock time.Time
}

// NewRepo runs git init in a temporary directory.
func (g *GPG) NewRepo() *Repo {
	g.tb.Helper()
	r := &Repo{Dir: g.tb.TempDir(), g: g, tb: g.tb, Clock: time.Now().Add(-7 * 24 * time.Hour).Truncate(time.Second)}
	r.Git(time.Time{}, "init", "-q", "-b", "main")
	return r
}

// Git runs git in the working tree with its dates set to at (when not zero) and returns its
// output.
func (r *Repo) Git(at time.Time, args ...string) string {
	r.tb.Helper()
	return r.git(at, at, args...)
}

func (r *Repo) git(at, signAt time.Time, args ...string) string {
	r.tb.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Catalog Editor", "-c", "user.email=editor@example.org",
		"-c", "gpg.program=" + r.g.wrapper, "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GNUPGHOME="+r.g.Home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if !at.IsZero() {
		d := "@" + strconv.FormatInt(at.Unix(), 10) + " +0000"
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	}
	if !signAt.IsZero() {
		cmd.Env = append(cmd.Env, "SAMVERK_TEST_GPG_TIME="+strconv.FormatInt(signAt.Unix(), 10))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write sets files in the working tree (slash-separated path → content).
func (r *Repo) Write(files map[string]string) { gittest.WriteFiles(r.tb, r.Dir, files) }

// Remove deletes files from the working tree.
func (r *Repo) Remove(paths ...string) { gittest.RemoveFiles(r.tb, r.Dir, paths...) }

// Commit stages everything and commits it, signed by key unless key is nil, at time at (zero:
// the repository's clock). The signature is made at the same time.
func (r *Repo) Commit(msg string, key *Key, at time.Time) plumbing.Hash {
	r.tb.Helper()
	return r.CommitSignedAt(msg, key, at, at)
}

// CommitSignedAt is Commit with the signature made at signAt rather than at the commit's time:
// a commit whose date lies, the way anyone can make one.
func (r *Repo) CommitSignedAt(msg string, key *Key, at, signAt time.Time) plumbing.Hash {
	r.tb.Helper()
	if at.IsZero() {
		at = r.Clock
		r.Clock = r.Clock.Add(time.Minute)
	}
	if signAt.IsZero() {
		signAt = at
	}
	r.Git(at, "add", "-A")
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if key != nil {
		args = append(args, "--gpg-sign="+key.Fingerprint)
	} else {
		args = append(args, "--no-gpg-sign")
	}
	r.git(at, signAt, args...)
	return r.Head()
}

// Head is the commit checked out.
func (r *Repo) Head() plumbing.Hash {
	r.tb.Helper()
	return plumbing.NewHash(r.Git(time.Time{}, "rev-parse", "HEAD"))
}

// Reset moves the branch to commit, as a force-push would leave it.
func (r *Repo) Reset(commit plumbing.Hash) {
	r.tb.Helper()
	r.Git(time.Time{}, "reset", "-q", "--hard", commit.String())
}

// String is for messages.
func (k *Key) String() string { return fmt.Sprintf("%s (%s)", k.Fingerprint, k.UserID) }
