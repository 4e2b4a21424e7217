// Package source follows the catalog's Git repository: it keeps a bare clone in the data
// directory, fetches one branch on demand, verifies commit signatures and hands out snapshots.
package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/signing"
)

// Options configure a Source. URL and Dir are required; the rest has working defaults.
type Options struct {
	// URL is the repository: https://host/path, ssh://user@host/path, user@host:path, or a local
	// path. It must not carry a password; give a token in Token instead.
	URL string
	// Branch is the branch followed (default "main").
	Branch string
	// Dir is where the bare clone is kept (created if missing). It is never a working tree.
	Dir string

	// Token authenticates HTTPS fetches as the password of basic auth (GitHub and GitLab
	// access tokens both work this way). It never appears in an error.
	Token string
	// TokenUser is the basic-auth user name sent with Token (default "git"; GitLab OAuth
	// tokens want "oauth2").
	TokenUser string
	// SSHKeyFile is the private key for SSH URLs (default: the SSH agent, as git does).
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile when it is encrypted.
	SSHKeyPassphrase string
	// KnownHostsFile lists the SSH host keys trusted (default: $SSH_KNOWN_HOSTS, then
	// ~/.ssh/known_hosts). Host keys are always checked.
	KnownHostsFile string

	// TrustedKeys is an armored OpenPGP key ring. When set, Verify accepts only commits signed
	// by one of its keys; when empty, Verify accepts every commit.
	TrustedKeys string

	// FetchTimeout bounds one fetch (default 2 minutes).
	FetchTimeout time.Duration
	// Metrics, when set, records fetch durations and failures.
	Metrics *Metrics
}

// Errors that decide whether a commit may be published. They are wrapped with the commit.
var (
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUntrusted is a signature that does not verify against any trusted key: made by
	// another key, or over different content.
	ErrUntrusted = errors.New("commit signature does not verify against any trusted key")
	// ErrUnsupportedSignature is an SSH or X.509 signature: go-git verifies OpenPGP only.
	ErrUnsupportedSignature = errors.New("commit carries an SSH or X.509 signature, which samverk cannot verify")
)

// Source is one followed branch of one repository.
type Source struct {
	opt     Options
	remote  string // the ref fetched into, refs/remotes/origin/<branch>
	auth    transport.AuthMethod
	keyRing openpgp.EntityList

	mu   sync.Mutex // guards repo: go-git repositories are not safe for concurrent use
	repo *git.Repository
}

// Open opens the clone in opt.Dir, creating an empty bare repository there the first time. It
// does not touch the network: the first Fetch clones.
func Open(opt Options) (*Source, error) {
	if opt.URL == "" {
		return nil, errors.New("source: no repository URL")
	}
	if opt.Dir == "" {
		return nil, errors.New("source: no directory for the clone")
	}
	if opt.Branch == "" {
		opt.Branch = "main"
	}
	if opt.TokenUser == "" {
		opt.TokenUser = "git"
	}
	if opt.FetchTimeout <= 0 {
		opt.FetchTimeout = 2 * time.Minute
	}
	if !plumbing.NewBranchReferenceName(opt.Branch).IsBranch() || strings.ContainsAny(opt.Branch, " ~^:?*[\\") {
		return nil, fmt.Errorf("source: invalid branch name %q", opt.Branch)
	}
	auth, err := authFor(opt)
	if err != nil {
		return nil, err
	}
	s := &Source{opt: opt, auth: auth, remote: "refs/remotes/origin/" + opt.Branch}
	if strings.TrimSpace(opt.TrustedKeys) != "" {
		ring, err := signing.ReadKeyRing(opt.TrustedKeys)
		if err != nil {
			return nil, fmt.Errorf("source: trusted keys: %w", err)
		}
		s.keyRing = ring
	}
	repo, err := git.PlainOpen(opt.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		repo, err = git.PlainInit(opt.Dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("source: open clone: %w", err)
	}
	s.repo = repo
	return s, nil
}

// authFor picks the credentials for the URL's transport.
func authFor(opt Options) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(opt.URL)
	if err != nil {
		// The URL may hold a secret: do not repeat it or the parser's message.
		return nil, errors.New("source: repository URL cannot be parsed")
	}
	if ep.Password != "" {
		return nil, errors.New("source: repository URL carries a password; give a token with SAMVERK_GIT_TOKEN instead")
	}
	switch ep.Protocol {
	case "http", "https":
		if opt.Token == "" {
			return nil, nil
		}
		if ep.Protocol == "http" && !loopback(ep.Host) {
			return nil, errors.New("source: refusing to send the access token over plain http: use https")
		}
		return &githttp.BasicAuth{Username: opt.TokenUser, Password: opt.Token}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		var auth transport.AuthMethod
		if opt.SSHKeyFile != "" {
			keys, err := gitssh.NewPublicKeysFromFile(user, opt.SSHKeyFile, opt.SSHKeyPassphrase)
			if err != nil {
				return nil, fmt.Errorf("source: ssh key %s: %w", opt.SSHKeyFile, err)
			}
			if opt.KnownHostsFile != "" {
				cb, err := gitssh.NewKnownHostsCallback(opt.KnownHostsFile)
				if err != nil {
					return nil, fmt.Errorf("source: known hosts: %w", err)
				}
				keys.HostKeyCallback = cb
			}
			auth = keys
		} else {
			agent, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("source: ssh agent: %w", err)
			}
			if opt.KnownHostsFile != "" {
				cb, err := gitssh.NewKnownHostsCallback(opt.KnownHostsFile)
				if err != nil {
					return nil, fmt.Errorf("source: known hosts: %w", err)
				}
				agent.HostKeyCallback = cb
			}
			auth = agent
		}
		return auth, nil
	case "file":
		return nil, nil
	}
	return nil, fmt.Errorf("source: unsupported transport %q", ep.Protocol)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Branch is the branch followed.
func (s *Source) Branch() string { return s.opt.Branch }

// Verifying reports whether Verify checks signatures.
func (s *Source) Verifying() bool { return len(s.keyRing) > 0 }

// Dir is the clone's directory.
func (s *Source) Dir() string { return s.opt.Dir }

// Fetch brings the branch up to date from the remote and returns its head. The first fetch is
// the clone. Force-pushes are followed: the head is whatever the remote says.
func (s *Source) Fetch(ctx context.Context) (plumbing.Hash, error) {
	start := time.Now()
	h, err := s.fetch(ctx)
	s.opt.Metrics.observe(time.Since(start), err)
	return h, err
}

func (s *Source) fetch(ctx context.Context) (plumbing.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.FetchTimeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	remote := git.NewRemote(s.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{s.localURL()}})
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:%s", s.opt.Branch, s.remote))
	err := remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{spec},
		Auth:     s.auth,
		Tags:     git.NoTags,
		Force:    true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, s.redact(fmt.Errorf("source: fetch %s: %w", s.opt.Branch, err))
	}
	ref, err := s.repo.Reference(plumbing.ReferenceName(s.remote), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: fetch %s: branch head: %w", s.opt.Branch, err)
	}
	return ref.Hash(), nil
}

// localURL makes a relative local path absolute, since go-git resolves it against the
// process's working directory at fetch time.
func (s *Source) localURL() string {
	u := s.opt.URL
	if ep, err := transport.NewEndpoint(u); err == nil && ep.Protocol == "file" && !strings.HasPrefix(u, "file://") {
		if abs, err := filepath.Abs(u); err == nil {
			return abs
		}
	}
	return u
}

// Head is the branch head as last fetched, without touching the network.
func (s *Source) Head() (plumbing.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, err := s.repo.Reference(plumbing.ReferenceName(s.remote), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: head of %s: %w", s.opt.Branch, err)
	}
	return ref.Hash(), nil
}

// Has reports whether the clone holds commit.
func (s *Source) Has(commit plumbing.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.repo.CommitObject(commit)
	return err == nil
}

// Verify checks commit's signature against the trusted keys and returns the signer's identity.
// The key is judged at the commit's committer time, so a revision signed while its key was
// valid stays valid after the key expires. Without trusted keys it accepts every commit and
// returns "". A refusal wraps ErrUnsigned, ErrUntrusted or ErrUnsupportedSignature.
func (s *Source) Verify(commit plumbing.Hash) (string, error) {
	if !s.Verifying() {
		return "", nil
	}
	s.mu.Lock()
	c, err := s.repo.CommitObject(commit)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("source: verify %s: %w", commit, err)
	}
	sig, err := signing.VerifyCommit(c, s.keyRing, time.Now())
	switch {
	case errors.Is(err, signing.ErrUnsigned):
		return "", fmt.Errorf("source: verify %s: %w", commit, ErrUnsigned)
	case errors.Is(err, signing.ErrUnsupported):
		return "", fmt.Errorf("source: verify %s: %w", commit, ErrUnsupportedSignature)
	case err != nil:
		return "", fmt.Errorf("source: verify %s: %w: commit %w", commit, ErrUntrusted, err)
	}
	if sig.UserID != "" {
		return fmt.Sprintf("%s (%s)", sig.UserID, sig.Fingerprint), nil
	}
	return sig.Fingerprint, nil
}

// Repository opens its own handle on the clone, for reading commits while the Source fetches.
func (s *Source) Repository() (*git.Repository, error) {
	repo, err := git.PlainOpen(s.opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("source: open clone: %w", err)
	}
	return repo, nil
}

// Snapshot returns commit's tree. Each snapshot reads through its own repository handle, so it
// may be read while the Source fetches.
func (s *Source) Snapshot(commit plumbing.Hash) (*gitfs.FS, error) {
	repo, err := git.PlainOpen(s.opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("source: snapshot: %w", err)
	}
	f, err := gitfs.Snapshot(repo, commit)
	if err != nil {
		return nil, fmt.Errorf("source: snapshot: %w", err)
	}
	return f, nil
}

// Close releases the clone.
func (s *Source) Close() error { return nil }

// redact removes the token from an error's message; errors.Is and As still see the cause.
func (s *Source) redact(err error) error {
	if err == nil || s.opt.Token == "" || !strings.Contains(err.Error(), s.opt.Token) {
		return err
	}
	return &redacted{err: err, secret: s.opt.Token}
}

type redacted struct {
	err    error
	secret string
}

func (r *redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.secret, "[redacted]") }
func (r *redacted) Unwrap() error { return r.err }

// ReadTrustedKeys reads armored OpenPGP public keys from one or more files (each may hold
// several armored blocks) and checks they parse. The result is Options.TrustedKeys.
func ReadTrustedKeys(files ...string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("source: trusted keys: %w", err)
		}
		if _, err := signing.ReadKeyRing(string(data)); err != nil {
			return "", fmt.Errorf("source: trusted keys %s: %w", f, err)
		}
		b.Write(data)
		b.WriteString("\n")
	}
	return b.String(), nil
}
