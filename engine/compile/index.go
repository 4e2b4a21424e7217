package compile

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/pkgversion"
)

// digest is the SHA-256 of a document's content (or of a set of documents).
type digest [32]byte

// Index is the typed view of one catalog that compilation reads: every spec decoded once, and
// looked up by what a device reports. Once built it changes only by remembering the parts of
// States it has compiled; it is safe for concurrent use.
type Index struct {
	cat *catalog.Catalog
	// docs holds every document of a kind compilation reads, with its content hash.
	docs map[finding.DocRef]*indexed

	osByName map[string]*osRelease
	// osByBuild are the releases of a family and build: usually one, but an LTSC release may
	// share its build with a general one. The general ones come first, then by name.
	osByBuild map[osKey][]*osRelease
	hwByName  map[string]*hwModel
	hwExact   map[hwKey]*hwModel
	hwFold    map[hwKey]*hwModel
	pkgByName map[string]*pkg
	products  map[string]*product
	// supersedes are, per package, the versions it replaces.
	supersedes map[*pkg][]supersede
	baselines  map[finding.DocRef]*baseline
	services   map[string]*service
	// groups are each member's device groups, by priority and then name.
	groups map[string][]*group
	// memberGroups hashes the set of each member's groups.
	memberGroups map[string]digest
	// selectors find a member's group for a device, and remember the answer.
	selectors map[string]*selector

	settingsMu   sync.Mutex
	settingsMemo map[settingsKey]*settingsEntry
	bodyMu       sync.Mutex
	bodyMemo     map[bodyKey]*bodyEntry
	bodies       atomic.Int64 // bodies compiled
	patched      atomic.Int64 // bodies patched (see slotChange)
	// slots, when not nil, is the commit from the previous index, which bodies may be
	// patched for.
	slots *slotChange

	problems []error
}

type osKey struct{ family, build string }
type hwKey struct{ vendor, model string }

// indexed is one document's content hash and decoded form (nil if it did not decode).
type indexed struct {
	// doc is the document read; a catalog loaded through a catalog.Cache shares the
	// documents of unchanged files with the previous one, and those need no hashing.
	doc  *catalog.Document
	hash digest
	val  any
	err  error
}

type osRelease struct {
	name string
	spec catalog.OSReleaseSpec
}

type hwModel struct {
	name string
	spec catalog.HardwareModelSpec
	// status is the certification status per OS release: "certified" only when every
	// certification listed for that release says so.
	status map[string]string
}

type pkg struct {
	name string
	spec catalog.PackageSpec
	// resource is the desired form of the package and enc its JSON, shared by every State.
	resource desired.Package
	enc      []byte
	// Strings every State that has this version uses, made once.
	presentID, absentID, whyPrefix, supersededBy string
	dependsOn                                    []string // resource ids of the dependencies
	neededBy                                     []string // per dependency: "needed by <product> (<min> or later)"
	// retiredAfter and retiredAlone remove a retired version, after its product's present
	// version is in place or when there is none.
	retiredAfter, retiredAlone *item
	// superseded remembers the removals of the versions v supersedes, for indexes to come.
	superseded atomic.Pointer[[]supersede]
}

// removalOf returns the resource that removes old, which v supersedes. v outlives an index
// when it does not change, and old may change without it, so the answer is kept per old: the
// latest one per name v supersedes.
func (v *pkg) removalOf(old *pkg) *item {
	known := v.superseded.Load()
	if known != nil {
		for _, s := range *known {
			if s.old == old {
				return s.item
			}
		}
	}
	it := removal(old, v.supersededBy, v.presentID)
	next := []supersede{{name: old.name, old: old, item: it}}
	if known != nil {
		for _, s := range *known {
			if s.name != old.name {
				next = append(next, s)
			}
		}
	}
	// Indexes built at once may race here; either answer is right, one is kept.
	v.superseded.CompareAndSwap(known, &next)
	return it
}

// supersede is one version a package supersedes, and the resource that removes it.
type supersede struct {
	name string
	old  *pkg // nil when no Package document has the name
	item *item
}

type product struct {
	id string
	// versions are the product's Package documents, highest version first; retired those of
	// them at stage retired.
	versions, retired []*pkg
	hash              digest
	// picks remembers the answers of pick.
	picksMu sync.Mutex
	picks   []picked
}

type baseline struct {
	ref      finding.DocRef
	spec     catalog.BaselineSpec
	settings []prepared
}

type service struct {
	name        string
	spec        catalog.ServiceSpec
	deliveredBy string
}

type group struct {
	ref      finding.DocRef
	spec     catalog.DeviceGroupSpec
	hardware map[string]struct{}
	// namedBy is "named by group <name>".
	namedBy string
}

// compiledKinds are the kinds whose documents compilation reads.
var compiledKinds = []string{catalog.KindOSRelease, catalog.KindHardwareModel, catalog.KindPackage,
	catalog.KindBaseline, catalog.KindService, catalog.KindDeviceGroup}

// NewIndex decodes and indexes cat. The index is usable even when err is not nil: err joins
// the problems found (a spec that does not decode, two documents claiming the same OS build or
// SMBIOS identity), and every problem resolved deterministically; a catalog that has passed
// validation has none.
func NewIndex(cat *catalog.Catalog) (*Index, error) {
	ix := newIndex(cat, nil)
	return ix, ix.Err()
}

// Err joins the problems found while indexing, or is nil.
func (ix *Index) Err() error { return joinErrs(ix.problems) }

// Catalog is the catalog indexed.
func (ix *Index) Catalog() *catalog.Catalog { return ix.cat }

// newIndex indexes cat, reusing the decoded form of every document prev has with the same
// reference and content hash (not computed again for the very same *Document).
func newIndex(cat *catalog.Catalog, prev *Index) *Index {
	var docs []*catalog.Document
	for _, k := range compiledKinds {
		docs = append(docs, cat.OfKind(k)...)
	}
	entries := make([]*indexed, len(docs))
	parallel(len(docs), func(lo, hi int) {
		var h hasher
		for i := lo; i < hi; i++ {
			d := docs[i]
			var old *indexed
			if prev != nil {
				old = prev.docs[d.Ref()]
			}
			if old != nil && old.doc == d {
				entries[i] = old // the very same document: documents are read-only
				continue
			}
			sum := h.sum(d.Object)
			if old != nil && old.hash == sum {
				entries[i] = &indexed{doc: d, hash: sum, val: old.val, err: old.err}
				continue
			}
			val, err := decode(d)
			entries[i] = &indexed{doc: d, hash: sum, val: val, err: err}
		}
	})

	ix := &Index{
		cat:          cat,
		docs:         make(map[finding.DocRef]*indexed, len(docs)),
		osByName:     map[string]*osRelease{},
		osByBuild:    map[osKey][]*osRelease{},
		hwByName:     map[string]*hwModel{},
		hwExact:      map[hwKey]*hwModel{},
		hwFold:       map[hwKey]*hwModel{},
		pkgByName:    map[string]*pkg{},
		products:     map[string]*product{},
		supersedes:   map[*pkg][]supersede{},
		baselines:    map[finding.DocRef]*baseline{},
		services:     map[string]*service{},
		groups:       map[string][]*group{},
		memberGroups: map[string]digest{},
		selectors:    map[string]*selector{},
		settingsMemo: map[settingsKey]*settingsEntry{},
		bodyMemo:     map[bodyKey]*bodyEntry{},
	}
	for i, d := range docs {
		e := entries[i]
		ix.docs[d.Ref()] = e
		if e.err != nil {
			ix.problems = append(ix.problems, e.err)
			continue
		}
		switch v := e.val.(type) {
		case *osRelease:
			ix.osByName[v.name] = v
			k := osKey{strings.ToLower(v.spec.Family), v.spec.Build}
			for _, other := range ix.osByBuild[k] {
				if strings.EqualFold(other.spec.Edition, v.spec.Edition) {
					ix.problems = append(ix.problems, fmt.Errorf("compile: OSRelease %s and %s both have family %s build %s edition %q; using %s",
						other.name, v.name, k.family, k.build, v.spec.Edition, min(other.name, v.name)))
				}
			}
			ix.osByBuild[k] = append(ix.osByBuild[k], v)
		case *hwModel:
			ix.hwByName[v.name] = v
			k := hwKey{v.spec.Vendor, v.spec.Model}
			if other := ix.hwExact[k]; other != nil {
				ix.problems = append(ix.problems, fmt.Errorf("compile: HardwareModel %s and %s both have vendor %q model %q; using %s",
					other.name, v.name, k.vendor, k.model, min(other.name, v.name)))
				if other.name < v.name {
					continue
				}
			}
			ix.hwExact[k] = v
			if fk := foldHW(k.vendor, k.model); ix.hwFold[fk] == nil || v.name < ix.hwFold[fk].name {
				ix.hwFold[fk] = v
			}
		case *pkg:
			ix.pkgByName[v.name] = v
			p := ix.products[v.spec.Product]
			if p == nil {
				p = &product{id: v.spec.Product}
				ix.products[p.id] = p
			}
			p.versions = append(p.versions, v)
		case *baseline:
			ix.baselines[v.ref] = v
		case *service:
			ix.services[v.name] = v
		case *group:
			ix.groups[v.ref.Namespace] = append(ix.groups[v.ref.Namespace], v)
		}
	}
	for _, rs := range ix.osByBuild {
		slices.SortFunc(rs, func(a, b *osRelease) int {
			general := func(r *osRelease) int {
				if r.spec.Channel == "" || r.spec.Channel == "ga" {
					return 0
				}
				return 1
			}
			return cmp.Or(cmp.Compare(general(a), general(b)), cmp.Compare(a.name, b.name))
		})
	}
	for _, p := range ix.products {
		slices.SortFunc(p.versions, func(a, b *pkg) int {
			return cmp.Or(-pkgversion.CompareTotal(a.spec.Version, b.spec.Version), cmp.Compare(a.name, b.name))
		})
		for _, v := range p.versions {
			if v.spec.Lifecycle.Stage == catalog.StageRetired {
				p.retired = append(p.retired, v)
			}
			if len(v.spec.Supersedes) == 0 {
				continue
			}
			// Resolved per index, and kept beside v (which the previous index may share): the
			// superseded document may change while v does not.
			sups := make([]supersede, len(v.spec.Supersedes))
			for i, name := range v.spec.Supersedes {
				sups[i] = supersede{name: name}
				if old := ix.pkgByName[name]; old != nil {
					sups[i].old = old
					sups[i].item = v.removalOf(old)
				}
			}
			ix.supersedes[v] = sups
		}
		h := sha256.New()
		for _, v := range slices.SortedFunc(slices.Values(p.versions), func(a, b *pkg) int { return cmp.Compare(a.name, b.name) }) {
			sum := ix.docs[finding.DocRef{Kind: catalog.KindPackage, Name: v.name}].hash
			h.Write([]byte(v.name))
			h.Write([]byte{0})
			h.Write(sum[:])
		}
		h.Sum(p.hash[:0])
	}
	for m, gs := range ix.groups {
		slices.SortFunc(gs, func(a, b *group) int {
			return cmp.Or(cmp.Compare(a.spec.Priority, b.spec.Priority), cmp.Compare(a.ref.Name, b.ref.Name))
		})
		h := sha256.New()
		for _, g := range gs {
			sum := ix.docs[g.ref].hash
			h.Write([]byte(g.ref.Name))
			h.Write([]byte{0})
			h.Write(sum[:])
		}
		var d digest
		h.Sum(d[:0])
		ix.memberGroups[m] = d
		if prev != nil && prev.memberGroups[m] == d {
			// The same groups (the very same decoded values): keep what the selector learnt.
			ix.selectors[m] = prev.selectors[m]
		} else {
			ix.selectors[m] = newSelector(gs)
		}
	}
	return ix
}

// decode turns one document into its typed, prepared form.
func decode(d *catalog.Document) (any, error) {
	r := &specReader{doc: d}
	switch d.Kind {
	case catalog.KindOSRelease:
		v := &osRelease{name: d.Name, spec: readOSRelease(r)}
		return v, r.err
	case catalog.KindHardwareModel:
		v := &hwModel{name: d.Name, spec: readHardwareModel(r), status: map[string]string{}}
		for _, c := range v.spec.Certifications {
			if prev, ok := v.status[c.OSRelease]; !ok || prev == certified {
				v.status[c.OSRelease] = c.Status
			}
		}
		return v, r.err
	case catalog.KindPackage:
		v := &pkg{name: d.Name, spec: readPackage(r)}
		if r.err != nil {
			return nil, r.err
		}
		s := &v.spec
		v.resource = desired.Package{Product: s.Product, Version: s.Version, Name: v.name, Installer: installerOf(s.Installer)}
		v.presentID = "package/" + s.Product
		v.absentID = "package/" + s.Product + "@" + s.Version
		v.whyPrefix = s.Product + " " + s.Version + " (" + s.Lifecycle.Stage + "): "
		v.supersededBy = "superseded by " + s.Product + " " + s.Version
		for _, d := range s.Dependencies {
			v.dependsOn = append(v.dependsOn, "package/"+d.Product)
			why := "needed by " + s.Product
			if d.MinVersion != "" {
				why += " (" + d.MinVersion + " or later)"
			}
			v.neededBy = append(v.neededBy, why)
		}
		slices.Sort(v.dependsOn)
		v.dependsOn = slices.Compact(v.dependsOn)
		r := desired.Resource{Package: &v.resource}
		v.enc = encodePart(&r)
		v.retiredAfter, v.retiredAlone = removal(v, "retired", v.presentID), removal(v, "retired", "")
		return v, nil
	case catalog.KindBaseline:
		spec, raw := readBaseline(r)
		v := &baseline{ref: d.Ref(), spec: spec}
		v.settings = make([]prepared, len(v.spec.Settings))
		for i, s := range v.spec.Settings {
			v.settings[i] = prepare(s, raw[i])
		}
		return v, r.err
	case catalog.KindService:
		v := &service{name: d.Name, deliveredBy: "delivered by service " + d.Name, spec: readService(r)}
		return v, r.err
	case catalog.KindDeviceGroup:
		v := &group{ref: d.Ref(), namedBy: "named by group " + d.Name, spec: readDeviceGroup(r)}
		if len(v.spec.Selector.HardwareModels) > 0 {
			v.hardware = make(map[string]struct{}, len(v.spec.Selector.HardwareModels))
			for _, h := range v.spec.Selector.HardwareModels {
				v.hardware[h] = struct{}{}
			}
		}
		return v, r.err
	}
	return nil, nil
}

func installerOf(in catalog.Installer) desired.Installer {
	out := desired.Installer{
		Type: in.Type, Family: in.InstallerFamily, WingetID: in.WingetID, Arguments: in.Arguments,
		Install: in.Install, Uninstall: in.Uninstall, TimeoutSeconds: in.TimeoutSeconds,
		InstallDir: in.InstallDir, FileName: in.FileName, Extract: in.Extract,
	}
	if in.Source != nil {
		// The schema takes a digest in either case; the agent compares lower case.
		out.URL, out.SHA256 = in.Source.URL, strings.ToLower(in.Source.SHA256)
	}
	if d := in.Detect; d != nil {
		out.DetectCommand, out.DetectFile = d.Command, d.File
		out.ProductCode, out.DebPackage, out.RPMPackage = d.ProductCode, d.DebPackage, d.RPMPackage
		out.PackageFamilyName = d.PackageFamilyName
		if u := d.UninstallEntry; u != nil {
			out.UninstallDisplayName, out.UninstallVersion = u.DisplayName, u.Version
		}
		if f := d.FileVersion; f != nil {
			out.FileVersionPath, out.FileVersion = f.Path, f.Version
		}
	}
	return out
}

// parallel runs f over [0,n) in contiguous chunks, one per processor.
func parallel(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/256))
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// hasher computes a canonical SHA-256 of a document's JSON-shaped content: map keys sorted,
// every value tagged with its type and length-prefixed, so distinct contents never share an
// encoding. It is not safe for concurrent use; each goroutine keeps its own.
type hasher struct {
	buf []byte
}

func (h *hasher) sum(v any) digest {
	h.buf = h.buf[:0]
	h.value(v)
	return sha256.Sum256(h.buf)
}

func (h *hasher) value(v any) {
	switch x := v.(type) {
	case nil:
		h.buf = append(h.buf, 'n')
	case bool:
		if x {
			h.buf = append(h.buf, 't')
		} else {
			h.buf = append(h.buf, 'f')
		}
	case string:
		h.str('s', x)
	case int64:
		h.buf = binary.BigEndian.AppendUint64(append(h.buf, 'i'), uint64(x))
	case int:
		h.buf = binary.BigEndian.AppendUint64(append(h.buf, 'i'), uint64(x))
	case float64:
		h.buf = binary.BigEndian.AppendUint64(append(h.buf, 'd'), math.Float64bits(x))
	case []any:
		h.buf = binary.AppendUvarint(append(h.buf, 'l'), uint64(len(x)))
		for _, el := range x {
			h.value(el)
		}
	case map[string]any:
		h.buf = binary.AppendUvarint(append(h.buf, 'm'), uint64(len(x)))
		var stack [16]string
		keys := stack[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.str('k', k)
			h.value(x[k])
		}
	default:
		// Not a shape the loaders produce; hash its printed form so it still counts.
		h.str('?', fmt.Sprintf("%T:%v", v, v))
	}
}

func (h *hasher) str(tag byte, s string) {
	h.buf = binary.AppendUvarint(append(h.buf, tag), uint64(len(s)))
	h.buf = append(h.buf, s...)
}

// formatNumber prints a JSON-shaped number the way YAML wrote it.
func formatNumber(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
