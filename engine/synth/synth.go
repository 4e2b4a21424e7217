// Package synth generates a synthetic, valid, consortium-sized catalog, deterministic for a
// seed, so tests and benchmarks can measure samverk against realistic volumes.
package synth

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/catalog"
)

// Options say how large a catalog to generate. The zero value is a working default.
type Options struct {
	// Documents is the total number of documents (default 10,000). Roughly 62% are packages,
	// 31% device groups, 3% hardware models, 2% services, 1% waivers, 0.4% baselines; there are
	// always 8 OS releases.
	Documents int
	// Members is the number of Member documents (default 45).
	Members int
	// Seed makes the output: the same options give the same files, byte for byte.
	Seed int64
}

func (o Options) withDefaults() Options {
	if o.Documents <= 0 {
		o.Documents = 10_000
	}
	if o.Members <= 0 {
		o.Members = 45
	}
	return o
}

// Stats describe a generated catalog.
type Stats struct {
	Documents int
	Files     int
	Bytes     int64
	// ByKind counts documents by kind.
	ByKind map[string]int
	// Products is the number of distinct product ids among the packages.
	Products int
}

// Reference is the fixed "today" of generated content: dates of test records, certifications
// and waiver expiries are placed relative to it, so the output does not depend on the clock.
var Reference = time.Date(2026, time.November, 23, 0, 0, 0, 0, time.UTC)

// counts is how many documents of each kind a catalog gets.
type counts struct {
	osReleases, members, hardware, packages, baselines, services, deviceGroups, waivers, rollout int
}

// minPackages leaves room for the runtimes, driver packs and a few applications.
const minPackages = 60

func plan(o Options) (counts, error) {
	n := o.Documents
	c := counts{
		osReleases:   len(osReleases),
		members:      o.Members,
		hardware:     max(1, n*3/100),
		baselines:    max(4, n*4/1000),
		services:     max(3, n*2/100),
		waivers:      max(2, n/100),
		deviceGroups: n * 31 / 100,
		rollout:      1,
	}
	c.packages = n - c.osReleases - c.members - c.hardware - c.baselines - c.services - c.waivers - c.deviceGroups - c.rollout
	if c.packages < minPackages {
		return c, fmt.Errorf("synth: %d documents are too few for %d members: the catalog needs at least %d packages", n, o.Members, minPackages)
	}
	return c, nil
}

// Files generates the catalog as file contents keyed by slash-separated path.
func Files(opt Options) (map[string][]byte, Stats, error) {
	opt = opt.withDefaults()
	c, err := plan(opt)
	if err != nil {
		return nil, Stats{}, err
	}
	g := &gen{
		rng:         rand.New(rand.NewPCG(uint64(opt.Seed), uint64(opt.Seed)^0x9e3779b97f4a7c15)),
		files:       make(map[string]*emitter),
		runtimesOf:  make(map[string][]*prod),
		appsOf:      make(map[string][]*prod),
		certified:   make(map[string][]string),
		certifiedOn: make(map[[2]string]bool),
		stats:       Stats{ByKind: make(map[string]int)},
	}
	g.osReleases()
	g.members(c.members)
	g.products(c.packages, c.hardware)
	g.hardwareModels(c.hardware)
	g.baselines(c.baselines)
	g.services(c.services)
	g.deviceGroups(c.deviceGroups, c.waivers)
	g.waivers()
	g.rolloutPolicy()

	out := make(map[string][]byte, len(g.files))
	for name, e := range g.files {
		out[name] = e.b.Bytes()
		g.stats.Bytes += int64(e.b.Len())
	}
	g.stats.Files = len(out)
	for _, n := range g.stats.ByKind {
		g.stats.Documents += n
	}
	g.stats.Products = len(g.prods)
	return out, g.stats, nil
}

// FS generates the catalog in memory, ready for catalog.Load.
func FS(opt Options) (fstest.MapFS, Stats, error) {
	files, st, err := Files(opt)
	if err != nil {
		return nil, st, err
	}
	fsys := make(fstest.MapFS, len(files))
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b, Mode: 0o644, ModTime: Reference}
	}
	return fsys, st, nil
}

// ErrNotEmpty is returned by Write when the target directory already has entries: generated
// files are never mixed with others, nor written over them.
var ErrNotEmpty = errors.New("directory is not empty")

// Write generates the catalog into dir, which must be empty or not exist yet.
func Write(dir string, opt Options) (Stats, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Stats{}, fmt.Errorf("synth: %w", err)
	case len(entries) > 0:
		return Stats{}, fmt.Errorf("synth: %s: %w", dir, ErrNotEmpty)
	}
	files, st, err := Files(opt)
	if err != nil {
		return st, err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return st, fmt.Errorf("synth: %w", err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return st, fmt.Errorf("synth: %w", err)
		}
	}
	return st, nil
}

// gen holds what has been generated so far; later kinds refer to earlier ones.
type gen struct {
	rng   *rand.Rand
	files map[string]*emitter
	stats Stats

	mems  []*member
	prods []*prod
	// runtimesOf and appsOf are the products, by family, that later products may depend on.
	runtimesOf, appsOf map[string][]*prod
	hardware           []string
	// certified lists, per OS release, the hardware models certified for it; certifiedOn
	// holds each certified [release, model] pair.
	certified   map[string][]string
	certifiedOn map[[2]string]bool
	bases       []*baseline
	svcs        []*service
	groups      []*group
	waiverPlans []*waiverPlan
}

// emit adds a document to file.
func (g *gen) emit(file, kind string, metadata, spec obj) {
	e := g.files[file]
	if e == nil {
		e = &emitter{}
		g.files[file] = e
	}
	e.document(obj{{"apiVersion", catalog.APIVersion}, {"kind", kind}, {"metadata", metadata}, {"spec", spec}})
	g.stats.ByKind[kind]++
}

// rolloutPolicy emits the consortium's RolloutPolicy: pilot, early after a day, broad after two.
func (g *gen) rolloutPolicy() {
	step := func(to, soak string, minDevices, applied, success, perHour int) obj {
		return obj{{"to", to}, {"soak", soak}, {"minDevices", minDevices}, {"minAppliedPercent", applied},
			{"successPercent", success}, {"maxPerHour", perHour}, {"onFailure", catalog.OnFailureHalt}}
	}
	g.emit("rollout.yaml", catalog.KindRolloutPolicy, obj{{"name", "consortium"}}, obj{
		{"rings", []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}},
		{"steps", []any{step(catalog.RingEarly, "24h", 5, 50, 95, 2000), step(catalog.RingBroad, "48h", 20, 60, 98, 10000)}},
	})
}

// pick returns a random element of l.
func pick[T any](g *gen, l []T) T { return l[g.rng.IntN(len(l))] }

// some returns up to n distinct elements of l in their original order.
func some[T any](g *gen, l []T, n int) []T {
	n = min(n, len(l))
	var idx []int
	if 4*n < len(l) {
		for len(idx) < n {
			if i := g.rng.IntN(len(l)); !slices.Contains(idx, i) {
				idx = append(idx, i)
			}
		}
	} else {
		idx = g.rng.Perm(len(l))[:n]
	}
	slices.Sort(idx)
	out := make([]T, n)
	for i, j := range idx {
		out[i] = l[j]
	}
	return out
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// between returns a random int in [lo, hi].
func (g *gen) between(lo, hi int) int { return lo + g.rng.IntN(hi-lo+1) }

func date(t time.Time) string { return t.Format(time.DateOnly) }

// daysAgo is the date n days before Reference.
func daysAgo(n int) time.Time { return Reference.AddDate(0, 0, -n) }
