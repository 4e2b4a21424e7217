package signing_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/signing/gpgtest"
)

func member(name string, keys ...string) string {
	s := `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: ` + name + `
  owner: ` + name + `
spec:
  type: municipality
  displayName: ` + name + `
  contacts: []
`
	if len(keys) > 0 {
		s += "  signingKeys:\n"
		for _, k := range keys {
			s += "    - " + k + "\n"
		}
	}
	return s
}

// world is a catalog repository with a consortium key and one key per member, each member
// trusting its own key in its Member document.
type world struct {
	t                *testing.T
	gpg              *gpgtest.GPG
	repo             *gpgtest.Repo
	consortium       *gpgtest.Key
	anna, bertil     *gpgtest.Key // kommun-vasterby's and region-norr's
	stranger         *gpgtest.Key // in no key ring
	policy           *signing.Policy
	base             plumbing.Hash
	baseTrust        *signing.Trust
	root             string
	memberKeyRings   map[string]string
	withoutDocuments bool
}

func newWorld(t *testing.T, root string) *world {
	t.Helper()
	g := gpgtest.New(t)
	w := &world{t: t, gpg: g, repo: g.NewRepo(), root: root}
	w.consortium = g.Key("Strategigruppen <strategi@samverk.example>", time.Time{}, "2y")
	w.anna = g.Key("Anna Berg <anna@kommun-vasterby.se>", time.Time{}, "2y")
	w.bertil = g.Key("Bertil Ek <bertil@regionnorr.example>", time.Time{}, "2y")
	w.stranger = g.Key("Someone Else <someone@example.net>", time.Time{}, "2y")
	w.repo.Write(map[string]string{
		w.path("os/windows.yaml"):                     "# shared\n",
		w.path("members/kommun-vasterby/member.yaml"): member("kommun-vasterby", w.anna.Fingerprint),
		w.path("members/region-norr/member.yaml"):     member("region-norr", w.bertil.Fingerprint),
		w.path("members/region-norr/groups.yaml"):     "# groups\n",
		w.path("members/kommun-vasterby/groups.yaml"): "# groups\n",
		w.path("members/ny-kommun/groups.yaml"):       "# a member with no keys yet\n",
		"README.md":                                   "outside the catalog when root is set\n",
	})
	w.base = w.repo.Commit("base", w.consortium, time.Time{})
	w.newPolicy(nil)
	return w
}

func (w *world) path(p string) string {
	if w.root == "" {
		return p
	}
	return w.root + "/" + p
}

// newPolicy builds the policy with the consortium's key and the given per-member key rings, and
// reads the base's trust from its catalog.
func (w *world) newPolicy(memberRings map[string]string) {
	w.t.Helper()
	p, err := signing.New(signing.Options{
		Consortium: w.consortium.Public(),
		Known:      w.anna.Public() + w.bertil.Public(),
		Members:    memberRings,
		Root:       w.root,
		Open:       func() (*git.Repository, error) { return git.PlainOpen(w.repo.Dir) },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.policy = p
	dir := w.repo.Dir
	if w.root != "" {
		dir += "/" + w.root
	}
	res, err := catalog.Load(os.DirFS(dir), catalog.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.baseTrust = p.Trust(res.Catalog)
}

func (w *world) check(head plumbing.Hash) *signing.Verdict {
	w.t.Helper()
	v, err := w.policy.Check(context.Background(), w.base, w.baseTrust, head)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func TestMemberFolders(t *testing.T) {
	for _, root := range []string{"", "catalog"} {
		t.Run("root="+root, func(t *testing.T) {
			w := newWorld(t, root)
			w.memberKeyFiles()

			steps := []struct {
				name   string
				files  map[string]string
				key    *gpgtest.Key
				want   []string // substrings of the error; none: passes
				remove []string // files deleted
			}{
				{"a member's key in its own folder", map[string]string{"members/region-norr/groups.yaml": "# by bertil\n"}, w.bertil, nil, nil},
				{"another member's key in a member's folder", map[string]string{"members/region-norr/groups.yaml": "# by anna\n"},
					w.anna, []string{w.path("members/region-norr/groups.yaml"), w.anna.Fingerprint, "anna@kommun-vasterby.se", "which region-norr does not trust"}, nil},
				{"a member's key on a shared file", map[string]string{"os/windows.yaml": "# by bertil\n"},
					w.bertil, []string{w.path("os/windows.yaml"), w.bertil.Fingerprint, "not a consortium key"}, nil},
				{"the consortium's key on a shared file", map[string]string{"os/windows.yaml": "# by the consortium\n"}, w.consortium, nil, nil},
				{"the consortium's key in a member's folder", map[string]string{"members/kommun-vasterby/groups.yaml": "# by the consortium\n"},
					w.consortium, []string{"which kommun-vasterby does not trust"}, nil},
				{"a member with no key of its own takes the consortium's", map[string]string{"members/ny-kommun/groups.yaml": "# by the consortium\n"}, w.consortium, nil, nil},
				{"a member's key in a keyless member's folder", map[string]string{"members/ny-kommun/groups.yaml": "# by anna\n"},
					w.anna, []string{"which ny-kommun does not trust", "needs a consortium key"}, nil},
				{"a key no ring holds", map[string]string{"members/region-norr/groups.yaml": "# by a stranger\n"},
					w.stranger, []string{"which no trusted key ring holds"}, nil},
				{"unsigned", map[string]string{"members/region-norr/groups.yaml": "# unsigned\n"},
					nil, []string{w.path("members/region-norr/groups.yaml"), "is not signed"}, nil},
				{"another member's key deletes a member's file", nil,
					w.anna, []string{w.path("members/region-norr/groups.yaml"), "which region-norr does not trust"}, []string{"members/region-norr/groups.yaml"}},
				{"a member's folder replaced by a file", map[string]string{"members/ny-kommun": "# a file now\n"},
					w.anna, []string{w.path("members/ny-kommun/groups.yaml"), "which ny-kommun does not trust"}, []string{"members/ny-kommun"}},
				{"a file outside members/ is shared", map[string]string{"members.yaml": "# by bertil\n"},
					w.bertil, []string{"not a consortium key"}, nil},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					defer w.repo.Reset(w.base)
					files := map[string]string{}
					for p, c := range s.files {
						files[w.path(p)] = c
					}
					for _, p := range s.remove {
						w.repo.Remove(w.path(p))
					}
					w.repo.Write(files)
					head := w.repo.Commit(s.name, s.key, time.Time{})
					v := w.check(head)
					if v.Relation != signing.Descendant || v.Commits != 1 {
						t.Errorf("relation %s over %d commit(s), want a descendant of one", v.Relation, v.Commits)
					}
					err := v.Err()
					if len(s.want) == 0 {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if v.Head == nil || v.Head.Fingerprint != s.key.Fingerprint {
							t.Errorf("head signature = %+v", v.Head)
						}
						return
					}
					if err == nil {
						t.Fatal("passed, want refused")
					}
					for _, w := range s.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not contain %q", err, w)
						}
					}
					if !strings.Contains(err.Error(), "commit "+head.String()[:12]) {
						t.Errorf("error %q does not name the commit", err)
					}
				})
			}
		})
	}
}

// memberKeyFiles rebuilds the policy with the members' keys from per-member key ring files (as
// --member-keys gives them) rather than from their Member documents.
func (w *world) memberKeyFiles() {
	w.t.Helper()
	p, err := signing.New(signing.Options{
		Consortium: w.consortium.Public(),
		Members:    map[string]string{"kommun-vasterby": w.anna.Public(), "region-norr": w.bertil.Public()},
		Root:       w.root,
		Open:       func() (*git.Repository, error) { return git.PlainOpen(w.repo.Dir) },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.policy = p
	w.baseTrust = p.Trust(nil)
}

func TestMemberDocumentGrantsTrust(t *testing.T) {
	w := newWorld(t, "")
	// Keys known to the daemon, trust granted by fingerprint in the Member documents of the
	// published revision.
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# by bertil\n"})
	ok := w.repo.Commit("bertil in his folder", w.bertil, time.Time{})
	if err := w.check(ok).Err(); err != nil {
		t.Fatalf("the key region-norr's Member document lists: %v", err)
	}
	// region-norr trusts anna too, and anna uses that trust in the next commit: the trust
	// comes from the published revision, so the second commit is refused.
	w.repo.Write(map[string]string{"members/region-norr/member.yaml": member("region-norr", w.bertil.Fingerprint, w.anna.Fingerprint)})
	grant := w.repo.Commit("region-norr trusts anna", w.bertil, time.Time{})
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# by anna\n"})
	use := w.repo.Commit("anna in region-norr", w.anna, time.Time{})
	v := w.check(use)
	if v.Commits != 3 {
		t.Errorf("checked %d commits, want 3 (every commit since the base)", v.Commits)
	}
	if len(v.Violations) != 1 || v.Violations[0].Commit != use.String() || v.Violations[0].Member != "region-norr" {
		t.Fatalf("violations = %+v, want only anna's commit", v.Violations)
	}
	// Once the grant is published, anna's commit passes.
	w.base = grant
	w.newPolicy(nil)
	if err := w.check(use).Err(); err != nil {
		t.Fatalf("after the grant was published: %v", err)
	}
	// A member cannot grant itself a key in one commit and sign with it: a commit signed by
	// the stranger that adds the stranger's fingerprint is refused.
	w.repo.Write(map[string]string{"members/kommun-vasterby/member.yaml": member("kommun-vasterby", w.anna.Fingerprint, w.stranger.Fingerprint)})
	self := w.repo.Commit("self-granted", w.stranger, time.Time{})
	if err := w.check(self).Err(); err == nil {
		t.Fatal("a commit granting trust to its own key passed")
	}
}

// TestMemberDocumentInAnotherFolder: a Member document placed in another member's folder does
// not decide whom that member trusts.
func TestMemberDocumentInAnotherFolder(t *testing.T) {
	w := newWorld(t, "")
	w.repo.Remove("members/region-norr/member.yaml")
	w.repo.Write(map[string]string{"members/kommun-vasterby/region-norr.yaml": member("region-norr", w.anna.Fingerprint)})
	w.base = w.repo.Commit("region-norr's Member document, in kommun-vasterby's folder", w.consortium, time.Time{})
	w.newPolicy(nil)
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# by anna\n"})
	head := w.repo.Commit("anna in region-norr", w.anna, time.Time{})
	if err := w.check(head).Err(); err == nil || !strings.Contains(err.Error(), "which region-norr does not trust") {
		t.Fatalf("anna, trusted by a Member document in her own folder: %v", err)
	}
}

func TestEveryCommitIsChecked(t *testing.T) {
	w := newWorld(t, "")
	w.memberKeyFiles()
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# sneaked in by anna\n"})
	bad := w.repo.Commit("anna in region-norr", w.anna, time.Time{})
	w.repo.Write(map[string]string{"os/windows.yaml": "# later\n"})
	head := w.repo.Commit("a good head on top", w.consortium, time.Time{})
	v := w.check(head)
	if len(v.Violations) != 1 || v.Violations[0].Commit != bad.String() {
		t.Fatalf("violations = %+v, want the commit below the head", v.Violations)
	}
}

func TestMerges(t *testing.T) {
	w := newWorld(t, "")
	w.memberKeyFiles()
	// bertil's branch, merged by the consortium with a merge commit of no changes of its own.
	w.repo.Git(time.Time{}, "checkout", "-q", "-b", "feature")
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# feature\n"})
	w.repo.Commit("feature", w.bertil, time.Time{})
	w.repo.Git(time.Time{}, "checkout", "-q", "main")
	w.repo.Write(map[string]string{"os/windows.yaml": "# main moved on\n"})
	w.repo.Commit("main", w.consortium, time.Time{})
	at := w.repo.Clock
	w.repo.Clock = w.repo.Clock.Add(time.Minute)
	w.repo.Git(at, "merge", "-q", "--no-ff", "--gpg-sign="+w.consortium.Fingerprint, "-m", "merge feature", "feature")
	merge := w.repo.Head()
	v := w.check(merge)
	if err := v.Err(); err != nil {
		t.Fatalf("a clean merge: %v", err)
	}
	if v.Commits != 3 {
		t.Errorf("checked %d commits, want 3", v.Commits)
	}
	// An evil merge: the merge commit changes a member's file neither parent has.
	w.repo.Reset(w.base)
	w.repo.Git(time.Time{}, "branch", "-q", "-D", "feature")
	w.repo.Git(time.Time{}, "checkout", "-q", "-b", "feature")
	w.repo.Write(map[string]string{"os/windows.yaml": "# feature\n"})
	w.repo.Commit("feature", w.consortium, time.Time{})
	w.repo.Git(time.Time{}, "checkout", "-q", "main")
	w.repo.Write(map[string]string{"members/kommun-vasterby/groups.yaml": "# anna\n"})
	w.repo.Commit("anna's change", w.anna, time.Time{})
	at = w.repo.Clock
	w.repo.Clock = w.repo.Clock.Add(time.Minute)
	w.repo.Git(at, "merge", "-q", "--no-ff", "--no-commit", "feature")
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# slipped into the merge\n"})
	w.repo.Git(at, "add", "-A")
	w.repo.Git(at, "commit", "-q", "--gpg-sign="+w.anna.Fingerprint, "-m", "evil merge")
	evil := w.repo.Head()
	v = w.check(evil)
	if len(v.Violations) != 1 || v.Violations[0].Commit != evil.String() || v.Violations[0].Path != "members/region-norr/groups.yaml" {
		t.Fatalf("violations = %+v, want the merge's own change only", v.Violations)
	}
}

func TestRelation(t *testing.T) {
	w := newWorld(t, "")
	w.memberKeyFiles()
	w.repo.Write(map[string]string{"os/windows.yaml": "# two\n"})
	second := w.repo.Commit("second", w.consortium, time.Time{})
	w.base = second
	if v := w.check(w.repo.Head()); v.Relation != signing.Descendant && v.Commits != 0 {
		t.Errorf("the base itself: %+v", v)
	}
	// Back to the first commit: an ancestor, whose signature is still checked.
	first, _ := w.repo.Git(time.Time{}, "rev-parse", "HEAD~1"), 0
	v := w.check(plumbing.NewHash(first))
	if v.Relation != signing.Ancestor || v.Err() != nil || v.Head == nil {
		t.Errorf("rollback to the first commit: %+v, %v", v, v.Err())
	}
	// A rewritten history.
	w.repo.Reset(plumbing.NewHash(first))
	w.repo.Write(map[string]string{"os/windows.yaml": "# rewritten\n"})
	other := w.repo.Commit("rewritten", w.consortium, time.Time{})
	if v := w.check(other); v.Relation != signing.Diverged || v.Commits != 1 || v.Err() != nil {
		t.Errorf("rewritten history: %+v, %v", v, v.Err())
	}
	if rel, err := w.policy.Relation(context.Background(), second, other); err != nil || rel != signing.Diverged {
		t.Errorf("Relation of a rewritten history = %s, %v", rel, err)
	}
	if rel, err := w.policy.Relation(context.Background(), plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), other); err != nil || rel != signing.Diverged {
		t.Errorf("Relation to a commit the clone does not hold = %s, %v", rel, err)
	}
	// Another history altogether.
	w.repo.Git(time.Time{}, "checkout", "-q", "--orphan", "other")
	w.repo.Write(map[string]string{"os/windows.yaml": "# unrelated\n"})
	unrelated := w.repo.Commit("unrelated", w.consortium, time.Time{})
	if v := w.check(unrelated); v.Relation != signing.Diverged || v.Commits != 1 {
		t.Errorf("unrelated history: %+v", v)
	}
}

func TestFirstRevision(t *testing.T) {
	w := newWorld(t, "")
	w.memberKeyFiles()
	w.repo.Write(map[string]string{"members/region-norr/groups.yaml": "# by bertil\n"})
	head := w.repo.Commit("bertil", w.bertil, time.Time{})
	v, err := w.policy.Check(context.Background(), plumbing.ZeroHash, nil, head)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "must be signed by a consortium key") {
		t.Fatalf("first revision signed by a member: %v", err)
	}
	v, err = w.policy.Check(context.Background(), plumbing.ZeroHash, nil, w.base)
	if err != nil || v.Err() != nil {
		t.Fatalf("first revision signed by the consortium: %v %v", err, v.Err())
	}
}

// TestKeyExpiry: a key valid when it signed stays good for that commit after it expires; a
// commit made after the expiry is refused.
func TestKeyExpiry(t *testing.T) {
	g := gpgtest.New(t)
	repo := g.NewRepo()
	now := time.Now().Truncate(time.Second)
	created, signed := now.Add(-3*24*time.Hour), now.Add(-2*24*time.Hour)
	key := g.Key("Strategigruppen <strategi@samverk.example>", created, "1y")
	repo.Write(map[string]string{"os/windows.yaml": "# one\n"})
	head := repo.Commit("signed while valid", key, signed)
	// A day after the commit, the key's expiry is brought forward to yesterday.
	key.SetExpiry(signed.Add(time.Hour), "1d")
	p, err := signing.New(signing.Options{Consortium: key.Public(), Open: func() (*git.Repository, error) { return git.PlainOpen(repo.Dir) }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.CheckServed(context.Background(), head, p.Trust(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Err(); err != nil {
		t.Fatalf("a commit signed while the key was valid: %v", err)
	}
	if !v.Head.ExpiredAt(now) || v.Head.KeyExpires.After(now) || !v.Head.SignedAt.Equal(signed) {
		t.Errorf("signature = %+v, want a key expired since", v.Head)
	}
	// The library's own check, at today's time, refuses it: what the daemon did before.
	c, _ := mustRepo(t, repo.Dir).CommitObject(head)
	if _, err := c.Verify(key.Public()); err == nil {
		t.Error("go-git's Verify accepts an expired key; the test no longer shows the old failure")
	}

	// A commit dated after the expiry (signed with a faked clock) is refused.
	late := repo.CommitSignedAt("after expiry", key, signed.Add(36*time.Hour), signed)
	v, err = p.Check(context.Background(), head, p.Trust(nil), late)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "had expired") {
		t.Fatalf("a commit after the key expired: %v", err)
	}
	// A commit dated before the key existed is refused too.
	early := repo.CommitSignedAt("backdated", key, created.Add(-time.Hour), signed)
	v, _ = p.Check(context.Background(), head, p.Trust(nil), early)
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "created after") {
		t.Fatalf("a commit dated before the key: %v", err)
	}
}

func mustRepo(t *testing.T, dir string) *git.Repository {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadMemberKeys(t *testing.T) {
	g := gpgtest.New(t)
	k := g.Key("Anna Berg <anna@kommun-vasterby.se>", time.Time{}, "1y")
	dir := t.TempDir()
	os.WriteFile(dir+"/kommun-vasterby.asc", []byte(k.Public()), 0o600)
	os.WriteFile(dir+"/README", []byte("not a key"), 0o600)
	got, err := signing.ReadMemberKeys(dir)
	if err != nil || len(got) != 1 || got["kommun-vasterby"] == "" {
		t.Fatalf("ReadMemberKeys = %v, %v", got, err)
	}
	os.WriteFile(dir+"/region-norr.asc", []byte("garbage"), 0o600)
	if _, err := signing.ReadMemberKeys(dir); err == nil || !strings.Contains(err.Error(), "region-norr.asc") {
		t.Fatalf("a bad key file: %v", err)
	}
}
