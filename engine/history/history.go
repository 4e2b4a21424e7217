// Package history reconstructs a device at a past instant: the revision and state it was
// served then, that state recompiled from the revision's catalog and checked against the served
// hash, what the device reported, and the waivers in force.
package history

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/store"
)

// Timelines is the part of the store's past that history reads.
type Timelines interface {
	RevisionAt(ctx context.Context, ring string, at time.Time) (*store.RevisionEvent, error)
	DeviceAt(ctx context.Context, id string, at time.Time) (*store.DeviceAt, error)
	DeviceTimeline(ctx context.Context, id string, from, to time.Time) (*store.DeviceTimeline, error)
}

var _ Timelines = (store.Timelines)(nil)

// Devices reads a device as it is now, for the member its routes are checked against.
type Devices interface {
	Device(ctx context.Context, id string, staleBefore time.Time) (*store.Device, error)
}

var _ Devices = (store.Store)(nil)

// Revisions gives a commit's tree: the repository the daemon follows.
type Revisions interface {
	Snapshot(commit plumbing.Hash) (*gitfs.FS, error)
}

var _ Revisions = (*source.Source)(nil)

// Options configure a Service. Timelines, Devices and Revisions are required.
type Options struct {
	Timelines Timelines
	Devices   Devices
	Revisions Revisions
	// Path is the catalog's directory in the repository, as the daemon's --path (default: the
	// repository root).
	Path string
	// Load bounds the loader, as the daemon bounds it for each new commit (the CUE evaluator
	// above all). A past revision is loaded and compiled, not validated again: it passed
	// validation when it was published, and the policies of today are not those of then.
	Load catalog.Options
	// Cache is the number of compiled revisions kept (default 4). Each holds a whole catalog
	// and its compiled states, so a few are enough: queries cluster on a few revisions.
	Cache int
	// Logger receives failures to read the store (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service answers what a device looked like at a past instant.
type Service struct {
	opt   Options
	log   *slog.Logger
	cache *cache
}

// New returns a Service.
func New(opt Options) (*Service, error) {
	if opt.Timelines == nil || opt.Devices == nil || opt.Revisions == nil {
		return nil, errors.New("history: timelines, devices and revisions are required")
	}
	if opt.Path != "" {
		clean := path.Clean(strings.Trim(opt.Path, "/"))
		if !fs.ValidPath(clean) {
			return nil, fmt.Errorf("history: catalog path %q: want a directory inside the repository", opt.Path)
		}
		if clean == "." {
			clean = ""
		}
		opt.Path = clean
	}
	if opt.Cache <= 0 {
		opt.Cache = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{opt: opt, log: log, cache: newCache(opt.Cache)}, nil
}

// ErrNotFound is returned (wrapped) when the device does not exist.
var ErrNotFound = store.ErrNotFound

// Snapshot is a device at one instant.
type Snapshot struct {
	Device string `json:"device"`
	// Member is the member the device belonged to at At.
	Member string    `json:"member"`
	At     time.Time `json:"at"`
	// Facts are what the device had reported of itself at At; nil before it enrolled.
	Facts *store.FactsPeriod `json:"facts,omitempty"`
	// Served is the state the device was being served at At; nil when it had not been served
	// yet.
	Served *store.ServedPeriod `json:"served,omitempty"`
	// Ring is the revision the device's ring was being served at At.
	Ring *store.RevisionEvent `json:"ring,omitempty"`
	// Pending, when set, is a newer revision of the ring that would have changed the device's
	// state, which the device had not fetched yet at At.
	Pending *Pending `json:"pending,omitempty"`
	// Recompiled is the served state compiled again from its revision and the facts the
	// device had when it was served, and whether it matches what was served.
	Recompiled *Recompiled `json:"recompiled,omitempty"`
	// Outcome is the device's reported outcome at At; nil when it had not reported yet.
	Outcome *store.OutcomePeriod `json:"outcome,omitempty"`
	// Report is the last raw report at or before At, while raw reports of then are kept.
	Report *store.StoredReport `json:"report,omitempty"`
	// Difference is how the last report stood to the state served.
	Difference *Difference `json:"difference,omitempty"`
	// Waivers are the waivers in force at At, from the catalog of the revision in force: the
	// consortium's and those of the device's member.
	Waivers []Waiver `json:"waivers"`
	// WaiversRevision is the revision whose catalog the waivers were read from: the one the
	// ring was being served at At (else the one served).
	WaiversRevision string `json:"waiversRevision,omitempty"`
	// WaiversError says why the waivers could not be read.
	WaiversError string `json:"waiversError,omitempty"`
	// Grants are the grants (services requested and approved) active for the device at At.
	// Service requests do not exist yet, so this is always empty; it is here so that exports
	// keep their shape when they come.
	Grants []Grant `json:"grants"`
}

// Pending is a revision a device had not fetched yet.
type Pending struct {
	Revision string    `json:"revision"`
	Since    time.Time `json:"since"`
	// Hash is the state that revision compiles to for the device, when it could be compiled.
	Hash string `json:"hash,omitempty"`
	// Error says why it could not be compiled.
	Error string `json:"error,omitempty"`
}

// Recompiled is a served state compiled again.
type Recompiled struct {
	Revision string `json:"revision"`
	// FactsFrom is when the facts compiled with began: those the device had when the state was
	// first served.
	FactsFrom time.Time `json:"factsFrom"`
	// Verified is true only when the recompiled hash equals the served hash.
	Verified       bool   `json:"verified"`
	ServedHash     string `json:"servedHash"`
	RecompiledHash string `json:"recompiledHash,omitempty"`
	// Reason says why the state is not verified.
	Reason  string          `json:"reason,omitempty"`
	Profile string          `json:"profile,omitempty"`
	Summary Summary         `json:"summary"`
	State   *desired.State  `json:"state,omitempty"`
	Docs    []string        `json:"documents,omitempty"`
	docs    map[string]bool // Docs, as a set
}

// Summary counts what a state holds.
type Summary struct {
	Packages int `json:"packages"`
	// Absent counts the packages to be removed.
	Absent   int    `json:"absent"`
	Settings int    `json:"settings"`
	OS       string `json:"os,omitempty"`
	// PackageList is "product version" for each package present.
	PackageList []string `json:"packageList,omitempty"`
}

// Difference is how a device's report stood to the state it was served.
type Difference struct {
	// Applied is true when the report applied the state served.
	Applied     bool   `json:"applied"`
	AppliedHash string `json:"appliedHash"`
	ServedHash  string `json:"servedHash"`
	// Failed and Drifted are the resources that failed to converge or were found out of line.
	Failed  []desired.ResourceResult `json:"failed,omitempty"`
	Drifted []desired.ResourceResult `json:"drifted,omitempty"`
}

// Waiver is a waiver in force.
type Waiver struct {
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Policy    string   `json:"policy"`
	Targets   []string `json:"targets"`
	Reason    string   `json:"reason,omitempty"`
	Approver  string   `json:"approver,omitempty"`
	Expires   string   `json:"expires"`
	// Concerns lists the targets the device's state was compiled from.
	Concerns []string `json:"concerns,omitempty"`
}

// Grant is a service granted to a device for a time. None exist yet.
type Grant struct {
	Service  string `json:"service"`
	Request  string `json:"request"`
	Revision string `json:"revision"`
	store.Interval
}

// At reconstructs device id at instant at (later than now means now). It returns an error
// wrapping ErrNotFound when the device does not exist. A state that cannot be recompiled, or
// that recompiles to another hash than was served, is reported in Recompiled, not as an error.
func (s *Service) At(ctx context.Context, id string, at time.Time) (*Snapshot, error) {
	if now := s.opt.Now(); at.After(now) {
		at = now
	}
	at = at.UTC()
	d, err := s.opt.Timelines.DeviceAt(ctx, id, at)
	if err != nil {
		return nil, fmt.Errorf("history: device %s at %s: %w", id, at.Format(time.RFC3339), err)
	}
	snap := &Snapshot{Device: id, Member: d.Member, At: at, Facts: d.Facts, Served: d.Served,
		Outcome: d.Outcome, Report: d.Report, Waivers: []Waiver{}, Grants: []Grant{}}
	if d.Facts != nil && d.Facts.Member != "" {
		snap.Member = d.Facts.Member
	}
	if d.Served == nil {
		return snap, nil
	}
	ring, err := s.opt.Timelines.RevisionAt(ctx, d.Served.Ring, at)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("history: revision of ring %q at %s: %w", d.Served.Ring, at.Format(time.RFC3339), err)
	default:
		snap.Ring = ring
	}

	// The facts the state was compiled with are those of when it was first served.
	facts := d.Facts
	if facts == nil || !facts.Contains(d.Served.From) {
		then, err := s.opt.Timelines.DeviceAt(ctx, id, d.Served.From)
		if err != nil {
			return nil, fmt.Errorf("history: device %s at %s: %w", id, d.Served.From.Format(time.RFC3339), err)
		}
		facts = then.Facts
	}
	rc, comp, err := s.recompile(ctx, d.Served, facts)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	snap.Recompiled = rc
	if snap.Ring != nil && snap.Ring.Revision != d.Served.Revision && facts != nil && snap.Ring.At.After(d.Served.From) {
		snap.Pending = s.pending(ctx, snap.Ring, facts, d.Served.Hash)
	}
	// The waivers in force are those of the revision the ring was being served, whether or
	// not the device had fetched it: a waiver exempts catalog documents from policies, and
	// the revision being served is the one whose validation they took part in.
	snap.WaiversRevision = d.Served.Revision
	if snap.Ring != nil && snap.Ring.Revision != d.Served.Revision {
		snap.WaiversRevision = snap.Ring.Revision
		comp, err = s.compiler(ctx, snap.Ring.Revision)
	}
	if err != nil {
		snap.WaiversError = err.Error()
	} else {
		snap.Waivers = waiversAt(comp.Index().Catalog(), snap.Member, at, rc.docs)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // a half-built answer is no answer
	}
	if d.Outcome != nil {
		snap.Difference = difference(d.Outcome, d.Report, d.Served.Hash)
	}
	return snap, nil
}

// recompile compiles the served state again and checks it against the served hash.
// It returns the revision's compiler, or why there is none.
func (s *Service) recompile(ctx context.Context, sv *store.ServedPeriod, facts *store.FactsPeriod) (*Recompiled, *compile.Compiler, error) {
	rc := &Recompiled{Revision: sv.Revision, ServedHash: sv.Hash}
	comp, err := s.compiler(ctx, sv.Revision)
	if err != nil {
		rc.Reason = err.Error()
		return rc, nil, err
	}
	if facts == nil {
		rc.Reason = "the store holds no facts of the device when the state was served"
		return rc, comp, nil
	}
	rc.FactsFrom = facts.From
	st, p := comp.Desired(compile.FromFacts(facts.Member, facts.Facts))
	rc.State, rc.Profile, rc.RecompiledHash = st, p.Key(), st.Hash
	rc.Summary = summarize(st)
	rc.docs = documents(comp.Index().Catalog(), p, st)
	rc.Docs = slices.Sorted(func(yield func(string) bool) {
		for d := range rc.docs {
			if !yield(d) {
				return
			}
		}
	})
	switch {
	case st.Hash != sv.Hash:
		rc.Reason = fmt.Sprintf("revision %s compiles, for the facts the device had from %s, to state %s, not to the state %s it was served",
			short(sv.Revision), facts.From.Format(time.RFC3339), short(st.Hash), short(sv.Hash))
	case sv.Group != "" && st.Group != sv.Group:
		rc.Reason = fmt.Sprintf("the state recompiles to the same hash, but for group %s where %s was recorded", st.Group, sv.Group)
	default:
		rc.Verified = true
	}
	return rc, comp, nil
}

// pending compiles the ring's revision for the device: when it gives another state than the
// one served, the device had not fetched it yet.
func (s *Service) pending(ctx context.Context, ring *store.RevisionEvent, facts *store.FactsPeriod, served string) *Pending {
	p := &Pending{Revision: ring.Revision, Since: ring.At}
	comp, err := s.compiler(ctx, ring.Revision)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	st, _ := comp.Desired(compile.FromFacts(facts.Member, facts.Facts))
	if st.Hash == served {
		return nil // the newer revision did not change the device's state
	}
	p.Hash = st.Hash
	return p
}

// compiler returns the compiled catalog of revision, from the cache or loaded from Git.
func (s *Service) compiler(ctx context.Context, revision string) (*compile.Compiler, error) {
	return s.cache.get(ctx, revision, func() (*compile.Compiler, error) { return s.load(revision) })
}

// load reads and compiles a revision's catalog.
func (s *Service) load(revision string) (*compile.Compiler, error) {
	cat, err := s.Catalog(revision)
	if err != nil {
		return nil, err
	}
	comp := compile.New(cat, revision)
	if err := comp.Err(); err != nil {
		return nil, fmt.Errorf("revision %s: compile: %w", short(revision), err)
	}
	return comp, nil
}

// Catalog reads the catalog of an earlier revision from the repository, bounded as the daemon
// bounds each new commit; it must load whole, as it did when it was published.
func (s *Service) Catalog(revision string) (*catalog.Catalog, error) {
	if len(revision) != 40 || strings.Trim(revision, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("revision %q is not a commit hash", revision)
	}
	snap, err := s.opt.Revisions.Snapshot(plumbing.NewHash(revision))
	if err != nil {
		return nil, fmt.Errorf("revision %s cannot be read from the repository: %w", short(revision), err)
	}
	var fsys fs.FS = snap
	if s.opt.Path != "" {
		if fsys, err = fs.Sub(snap, s.opt.Path); err != nil {
			return nil, fmt.Errorf("revision %s: catalog path: %w", short(revision), err)
		}
	}
	lr, err := catalog.Load(fsys, s.opt.Load)
	if err != nil {
		return nil, fmt.Errorf("revision %s: load catalog: %w", short(revision), err)
	}
	if n := len(lr.Findings); n > 0 {
		// It loaded whole when it was published: a file refused now means the loader's
		// bounds or the repository are not what they were.
		return nil, fmt.Errorf("revision %s no longer loads whole: %d finding(s), the first: %s",
			short(revision), n, lr.Findings[0].Message)
	}
	return lr.Catalog, nil
}

// summarize counts a state's packages and settings.
func summarize(st *desired.State) Summary {
	var sum Summary
	for _, r := range st.Resources {
		switch {
		case r.Type == desired.TypePackage && r.Ensure == "absent":
			sum.Absent++
		case r.Type == desired.TypePackage:
			sum.Packages++
			if r.Package != nil {
				sum.PackageList = append(sum.PackageList, r.Package.Product+" "+r.Package.Version)
			}
		default:
			sum.Settings++
		}
	}
	if st.OS != nil {
		sum.OS = st.OS.Action + " " + st.OS.Release
		if st.OS.Build != "" {
			sum.OS += " (build " + st.OS.Build + ")"
		}
	}
	return sum
}

// documents are the catalog documents a device's state was compiled from: its group, the
// group's baselines and services, its hardware model and OS releases, and its packages.
func documents(cat *catalog.Catalog, p compile.Profile, st *desired.State) map[string]bool {
	out := map[string]bool{}
	add := func(kind, ns, name string) {
		if name == "" {
			return
		}
		if d := cat.Resolve(kind, ns, name); d != nil {
			out[d.Ref().String()] = true
		}
	}
	add(catalog.KindHardwareModel, "", p.HardwareModel)
	add(catalog.KindOSRelease, "", p.OSRelease)
	if st.OS != nil {
		add(catalog.KindOSRelease, "", st.OS.Release)
	}
	if g := cat.Get(catalog.KindDeviceGroup, p.Member, p.Group); g != nil {
		out[g.Ref().String()] = true
		var spec catalog.DeviceGroupSpec
		if g.DecodeSpec(&spec) == nil {
			for _, b := range spec.Baselines {
				add(catalog.KindBaseline, p.Member, b)
			}
			for _, sv := range spec.Services {
				add(catalog.KindService, p.Member, sv)
			}
		}
	}
	for _, r := range st.Resources {
		if r.Package != nil {
			add(catalog.KindPackage, "", r.Package.Name)
		}
	}
	return out
}

// waiversAt lists the waivers of cat in force at at that member may see: the consortium's
// and member's own. A waiver is in force until the start of its expiry date (UTC), as the
// policies judge it.
func waiversAt(cat *catalog.Catalog, member string, at time.Time, docs map[string]bool) []Waiver {
	out := []Waiver{}
	for _, d := range cat.OfKind(catalog.KindWaiver) {
		if d.Namespace != "" && d.Namespace != member {
			continue
		}
		var spec catalog.WaiverSpec
		if err := d.DecodeSpec(&spec); err != nil {
			continue // it passed the schema when published; nothing to list if not
		}
		expires, err := time.Parse(time.DateOnly, spec.Expires)
		if err != nil || !at.Before(expires) {
			continue
		}
		w := Waiver{Namespace: d.Namespace, Name: d.Name, Policy: spec.Policy, Reason: spec.Reason,
			Approver: spec.ApprovedBy, Expires: spec.Expires, Targets: []string{}}
		for _, t := range spec.Targets {
			ref := policy.TargetRef(cat, d, t).String()
			w.Targets = append(w.Targets, ref)
			if docs[ref] {
				w.Concerns = append(w.Concerns, ref)
			}
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Waiver) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

// difference compares a reported outcome with the state served.
func difference(o *store.OutcomePeriod, r *store.StoredReport, served string) *Difference {
	d := &Difference{AppliedHash: o.AppliedHash, ServedHash: served, Applied: o.AppliedHash == served}
	res := o.Resources
	if r != nil && o.Contains(r.At) {
		// The last report kept within the period says how it stood last. One kept from
		// before the period (the store keeps noteworthy reports only) says nothing of it.
		res = r.Resources
	}
	for _, x := range res {
		switch x.Outcome {
		case desired.Failed:
			d.Failed = append(d.Failed, x)
		case desired.Drifted:
			d.Drifted = append(d.Drifted, x)
		}
	}
	return d
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
