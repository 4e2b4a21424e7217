// Package signing decides whether the commits leading to a new catalog revision were signed by
// keys trusted for what they change: a member's keys for members/<member>/, the consortium's
// keys for everything else, with trust read from the last published revision.
package signing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"samverk.io/samverk/engine/catalog"
)

// Options configure a Policy. Consortium and Open are required.
type Options struct {
	// Consortium holds armored OpenPGP public keys: the keys trusted for shared files
	// (everything outside members/), for the folders of members that trust no key of their
	// own, and for the first revision a daemon publishes.
	Consortium string
	// Members maps a member's name to armored public keys that member trusts for its folder
	// (the files of a --member-keys directory). Keys found here or in Consortium may also be
	// trusted by fingerprint, from a Member document's spec.signingKeys.
	Members map[string]string
	// Known holds armored public keys trusted for nothing by themselves: a Member document
	// trusts one of them by listing its fingerprint in spec.signingKeys.
	Known string
	// Root is the catalog's directory in the repository, slash-separated ("" when the
	// catalog is the whole repository). Member folders are Root/members/<member>/; every
	// other path, inside Root or not, is shared.
	Root string
	// Open returns a handle on the repository whose commits are checked.
	Open func() (*git.Repository, error)
	// Now is the clock used to say whether a key is still valid today (default time.Now).
	// Signatures themselves are judged at their commit's time.
	Now func() time.Time
}

// Policy checks commits against per-path trust. It is safe for concurrent use.
type Policy struct {
	opt        Options
	root       string
	consortium openpgp.EntityList
	members    map[string]openpgp.EntityList
	known      openpgp.EntityList // every key of every ring, to pick keys by fingerprint
}

// New parses the key rings of opt.
func New(opt Options) (*Policy, error) {
	if opt.Open == nil {
		return nil, errors.New("signing: no repository")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	cons, err := ReadKeyRing(opt.Consortium)
	if err != nil {
		return nil, fmt.Errorf("signing: consortium keys: %w", err)
	}
	p := &Policy{opt: opt, root: strings.Trim(opt.Root, "/"), consortium: cons, members: map[string]openpgp.EntityList{}}
	p.known = append(p.known, cons...)
	for _, name := range slices.Sorted(maps.Keys(opt.Members)) {
		ring, err := ReadKeyRing(opt.Members[name])
		if err != nil {
			return nil, fmt.Errorf("signing: keys of member %s: %w", name, err)
		}
		p.members[name] = ring
		p.known = append(p.known, ring...)
	}
	if strings.TrimSpace(opt.Known) != "" {
		ring, err := ReadKeyRing(opt.Known)
		if err != nil {
			return nil, fmt.Errorf("signing: known keys: %w", err)
		}
		p.known = append(p.known, ring...)
	}
	return p, nil
}

// ReadMemberKeys reads a directory of per-member key rings: every <member>.asc file holds the
// armored public keys that member trusts. Other files are ignored.
func ReadMemberKeys(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("signing: member keys: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".asc")
		if !ok || e.IsDir() || !catalog.ValidName(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("signing: member keys: %w", err)
		}
		if _, err := ReadKeyRing(string(b)); err != nil {
			return nil, fmt.Errorf("signing: member keys %s: %w", filepath.Join(dir, e.Name()), err)
		}
		out[name] = string(b)
	}
	return out, nil
}

// Trust says which keys may sign changes to which folder, as of one revision.
type Trust struct {
	consortium openpgp.EntityList
	members    map[string]openpgp.EntityList
	all        openpgp.EntityList
	// Unknown lists, per member, the fingerprints its Member document names that no key ring
	// holds: they cannot sign anything until the key is added to a ring.
	Unknown map[string][]string
}

// memberSpec is the part of a Member document's spec this package reads.
type memberSpec struct {
	SigningKeys []string `json:"signingKeys"`
}

// Trust derives the trust of a revision from its validated catalog: each member trusts the
// keys of its key ring file and the keys its Member document lists in spec.signingKeys. A nil
// catalog gives the key ring files alone.
func (p *Policy) Trust(cat *catalog.Catalog) *Trust {
	t := &Trust{consortium: p.consortium, members: map[string]openpgp.EntityList{}, Unknown: map[string][]string{}}
	for name, ring := range p.members {
		t.members[name] = append(openpgp.EntityList(nil), ring...)
	}
	if cat != nil {
		for _, d := range cat.OfKind(catalog.KindMember) {
			if owner := folderOf(d.File); owner != "" && owner != d.Name {
				// A Member document in another member's folder speaks for nobody: that
				// member's keys must not choose whom this one trusts.
				continue
			}
			var spec memberSpec
			if err := d.DecodeSpec(&spec); err != nil {
				continue // the schema refused it already; a published catalog has none
			}
			for _, fp := range spec.SigningKeys {
				fp = normalFingerprint(fp)
				e := p.byFingerprint(fp)
				if e == nil {
					t.Unknown[d.Name] = append(t.Unknown[d.Name], fp)
					continue
				}
				if !containsKey(t.members[d.Name], fp) {
					t.members[d.Name] = append(t.members[d.Name], e)
				}
			}
		}
	}
	t.all = append(t.all, p.consortium...)
	for _, name := range slices.Sorted(maps.Keys(t.members)) {
		t.all = append(t.all, t.members[name]...)
	}
	return t
}

func normalFingerprint(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}

func (p *Policy) byFingerprint(fp string) *openpgp.Entity {
	for _, e := range p.known {
		if fingerprint(e) == fp {
			return e
		}
	}
	return nil
}

func containsKey(ring openpgp.EntityList, fp string) bool {
	return slices.ContainsFunc(ring, func(e *openpgp.Entity) bool { return fingerprint(e) == fp })
}

// Relation is where a new head stands to the published revision.
type Relation string

const (
	// NoBase: nothing is published yet.
	NoBase Relation = "none"
	// Descendant: the head builds on the published revision (a fast-forward).
	Descendant Relation = "descendant"
	// Ancestor: the head is an older commit of the published revision's history.
	Ancestor Relation = "ancestor"
	// Diverged: the head does not contain the published revision (history rewritten, or
	// another history altogether).
	Diverged Relation = "diverged"
)

// Verdict is the outcome of a check.
type Verdict struct {
	// Relation of the head to the base.
	Relation Relation
	// Commits is the number of commits checked.
	Commits int
	// Head is the head commit's signature, when it verified against a known key.
	Head *Signature
	// Violations are the commits and files that break the policy; none means the head passes.
	Violations []Violation
}

// ErrRefused is wrapped by Verdict.Err.
var ErrRefused = errors.New("refused by the signing policy")

// maxListed bounds the violations an error message lists.
const maxListed = 20

// Err is nil when the verdict has no violations, and otherwise an error that lists them and
// wraps ErrRefused.
func (v *Verdict) Err() error {
	if len(v.Violations) == 0 {
		return nil
	}
	var b strings.Builder
	for i, x := range v.Violations {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(v.Violations)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x.String())
	}
	return fmt.Errorf("%w: %s", ErrRefused, b.String())
}

// Violation is one commit that breaks the policy, and the first file it changes in the
// folder concerned.
type Violation struct {
	Commit string `json:"commit"`
	// Path is the file, as a path in the repository; empty when the commit changes nothing.
	Path string `json:"path,omitempty"`
	// More counts the commit's other files in the same folder.
	More int `json:"more,omitempty"`
	// Member owns the folder of Path; empty for a shared file.
	Member string `json:"member,omitempty"`
	// Signer is who signed the commit, when the signature verified.
	Signer *Signature `json:"signer,omitempty"`
	// Problem is what is wrong, in words.
	Problem string `json:"problem"`
}

func (v Violation) String() string {
	where := v.Path
	if v.More > 0 {
		where += fmt.Sprintf(" (and %d more file(s) there)", v.More)
	}
	if where == "" {
		return fmt.Sprintf("commit %s: %s", short(v.Commit), v.Problem)
	}
	return fmt.Sprintf("commit %s: %s %s", short(v.Commit), where, v.Problem)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Check decides whether head may follow base. With a zero base (nothing published yet), the
// head alone is checked and must be signed by a consortium key: it vouches for the whole tree.
// Otherwise every commit reachable from head and not from base must carry a signature that
// verifies, at the commit's time, against a key of trust, and each file it changes must be
// within what that key is trusted for: a member's folder needs a key the member trusts (a
// consortium key when it trusts none), everything else a consortium key. trust is base's, so a
// commit cannot grant trust to a key and use it at once. When head is not a descendant of base,
// the verdict says so; the caller decides whether to publish such a rollback.
func (p *Policy) Check(ctx context.Context, base plumbing.Hash, trust *Trust, head plumbing.Hash) (*Verdict, error) {
	repo, err := p.opt.Open()
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	hc, err := repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("signing: commit %s: %w", head, err)
	}
	if base.IsZero() {
		return p.checkFirst(hc)
	}
	if trust == nil {
		trust = p.Trust(nil)
	}
	rel, commits, err := walk(ctx, repo, base, head)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	v := &Verdict{Relation: rel, Commits: len(commits)}
	headInRange := false
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.Hash == head {
			headInRange = true
		}
		sig, vs, err := p.checkCommit(ctx, repo, c, trust)
		if err != nil {
			return nil, err
		}
		if c.Hash == head {
			v.Head = sig
		}
		v.Violations = append(v.Violations, vs...)
	}
	if !headInRange {
		// An older commit: its files were checked when they first came; its signature must
		// still verify against a key trusted today.
		v.Commits++
		sig, problem := p.verify(hc, trust.all)
		v.Head = sig
		if problem != "" {
			v.Violations = append(v.Violations, Violation{Commit: head.String(), Signer: sig, Problem: problem})
		}
	}
	return v, nil
}

// Relation says where head stands to base, without checking signatures. A base the
// repository no longer holds is not in head's history: Diverged.
func (p *Policy) Relation(ctx context.Context, base, head plumbing.Hash) (Relation, error) {
	repo, err := p.opt.Open()
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	if _, err := repo.CommitObject(base); errors.Is(err, plumbing.ErrObjectNotFound) {
		return Diverged, nil
	}
	rel, _, err := walk(ctx, repo, base, head)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return rel, nil
}

// CheckServed checks a revision that was published before (restored after a restart): its
// signature must verify, at the commit's time, against a key of trust — the consortium's or a
// key some member trusts.
func (p *Policy) CheckServed(ctx context.Context, head plumbing.Hash, trust *Trust) (*Verdict, error) {
	repo, err := p.opt.Open()
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	hc, err := repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("signing: commit %s: %w", head, err)
	}
	if trust == nil {
		trust = p.Trust(nil)
	}
	v := &Verdict{Relation: NoBase, Commits: 1}
	sig, problem := p.verify(hc, trust.all)
	v.Head = sig
	if problem != "" {
		v.Violations = append(v.Violations, Violation{Commit: head.String(), Signer: sig, Problem: problem})
	}
	return v, nil
}

func (p *Policy) checkFirst(hc *object.Commit) (*Verdict, error) {
	v := &Verdict{Relation: NoBase, Commits: 1}
	sig, problem := p.verify(hc, p.known)
	v.Head = sig
	switch {
	case problem != "":
		v.Violations = append(v.Violations, Violation{Commit: hc.Hash.String(), Signer: sig, Problem: problem})
	case !containsKey(p.consortium, sig.Fingerprint):
		v.Violations = append(v.Violations, Violation{Commit: hc.Hash.String(), Signer: sig,
			Problem: fmt.Sprintf("is the first revision published and must be signed by a consortium key; it is signed by key %s", sig)})
	}
	return v, nil
}

// checkCommit verifies one commit of the range and the files it changes.
func (p *Policy) checkCommit(ctx context.Context, repo *git.Repository, c *object.Commit, trust *Trust) (*Signature, []Violation, error) {
	paths, err := changedPaths(ctx, repo, c)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: commit %s: %w", c.Hash, err)
	}
	sig, problem := p.verify(c, trust.all)
	if problem != "" {
		v := Violation{Commit: c.Hash.String(), Signer: sig, Problem: problem}
		if len(paths) > 0 {
			v.Path, v.More = paths[0], len(paths)-1
			v.Problem = "changed in a commit that " + problem
		}
		return sig, []Violation{v}, nil
	}
	// Group the files by folder: one violation per folder the signer may not change.
	type group struct {
		member string
		paths  []string
	}
	var groups []*group
	byFolder := map[string]*group{}
	for _, path := range paths {
		member := p.folder(path)
		g := byFolder[member]
		if g == nil {
			g = &group{member: member}
			byFolder[member] = g
			groups = append(groups, g)
		}
		g.paths = append(g.paths, path)
	}
	var out []Violation
	for _, g := range groups {
		allowed, who := trust.consortium, ""
		if g.member != "" {
			if ring := trust.members[g.member]; len(ring) > 0 {
				allowed = ring
			}
			who = g.member
		}
		if containsKey(allowed, sig.Fingerprint) {
			continue
		}
		var problem string
		switch {
		case who == "":
			problem = fmt.Sprintf("changed by key %s, which is not a consortium key (shared files need one)", sig)
		case len(trust.members[who]) == 0:
			problem = fmt.Sprintf("changed by key %s, which %s does not trust (%s names no signing key of its own, so its folder needs a consortium key)", sig, who, who)
		default:
			problem = fmt.Sprintf("changed by key %s, which %s does not trust", sig, who)
		}
		out = append(out, Violation{Commit: c.Hash.String(), Path: g.paths[0], More: len(g.paths) - 1, Member: g.member, Signer: sig, Problem: problem})
	}
	return sig, out, nil
}

// folder names the member whose folder holds path (a repository path), or "" for a shared
// file.
func (p *Policy) folder(path string) string {
	rel := path
	if p.root != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(path, p.root+"/"); !ok {
			return ""
		}
	}
	return folderOf(rel)
}

// folderOf names the member whose folder holds rel (a path relative to the catalog root), or
// "" for a shared file.
func folderOf(rel string) string {
	rest, ok := strings.CutPrefix(rel, "members/")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return ""
	}
	return rest[:i]
}
