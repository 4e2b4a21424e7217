// Package converge drives one device toward its desired state: for every resource it checks,
// corrects what is out of line (unless told only to look) and verifies, in dependency order.
package converge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/desired"
)

// Modes of a desired state.
const (
	ModeEnforce = "enforce"
	ModeDetect  = "detect"
)

// Ensure values.
const (
	Present = "present"
	Absent  = "absent"
)

// Options configure an Engine. The zero value works: no root prefix, downloads into the
// system's temporary directory, four checks at a time, changes made.
type Options struct {
	// Root prefixes every managed path (files, detect files); file writes do not leave it, even
	// through symbolic links. Commands run in it, with SAMVERK_ROOT and HOME set to it. For
	// tests and demos: it is not a sandbox, a command can reach anything the agent can.
	// Services are not managed when Root is set.
	Root string
	// CacheDir holds downloaded installers, one directory per sha256.
	CacheDir string
	// HTTPClient downloads installers; nil means a client with default settings.
	HTTPClient *http.Client
	// Parallel is how many checks run at once; zero means 4. Corrections always run one at a
	// time, since installers and package managers do not like company.
	Parallel int
	// Noop makes every run a plan: check only, report what would change as drifted.
	Noop bool
	// Systemctl is the systemctl program to manage Linux services with. Empty means find it,
	// and use it only when systemd is running; "off" means services are not managed.
	Systemctl string
	// StopGrace is how long a correction already under way may go on after the run is
	// cancelled (the agent is stopping), so an installer is not killed halfway through a
	// routine restart; zero means DefaultStopGrace. No new correction starts once cancelled.
	StopGrace time.Duration
	// Logger receives one line per resource that is corrected, drifted or failed.
	Logger *slog.Logger
}

// DefaultStopGrace is the StopGrace used when none is set.
const DefaultStopGrace = 30 * time.Second

// Engine converges desired states. It is safe to use from one goroutine at a time.
type Engine struct {
	opts     Options
	log      *slog.Logger
	applyMu  sync.Mutex
	file     *fileProvider
	command  *commandProvider
	registry *registryProvider
	service  *serviceProvider
	pkg      *packageProvider
}

// provider checks and corrects one type of resource.
type provider interface {
	// check returns "" when r is as wanted, otherwise a short description of the difference.
	// A *skipError means the resource does not apply to this device.
	check(ctx context.Context, r *desired.Resource) (string, error)
	// apply brings r to its wanted state.
	apply(ctx context.Context, r *desired.Resource) error
}

// New builds an Engine.
func New(opts Options) *Engine {
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.CacheDir == "" {
		opts.CacheDir = os.TempDir()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Root != "" {
		// Scripts run in the root and find it in SAMVERK_ROOT: it must not depend on where
		// they run.
		if abs, err := filepath.Abs(opts.Root); err == nil {
			opts.Root = abs
		}
	}
	sh := newShell(opts.Root)
	e := &Engine{opts: opts, log: log}
	e.file = &fileProvider{root: opts.Root}
	e.command = &commandProvider{sh: sh}
	e.registry = &registryProvider{}
	e.service = &serviceProvider{sh: sh, systemctl: findSystemctl(opts.Systemctl), rooted: opts.Root != ""}
	e.pkg = &packageProvider{sh: sh, root: opts.Root, cacheDir: opts.CacheDir, http: opts.HTTPClient,
		os: newInstallers(sh, opts.Root)}
	return e
}

func (e *Engine) provider(typ string) (provider, error) {
	switch typ {
	case desired.TypeFile:
		return e.file, nil
	case desired.TypeCommand:
		return e.command, nil
	case desired.TypeRegistry:
		return e.registry, nil
	case desired.TypeService:
		return e.service, nil
	case desired.TypePackage:
		return e.pkg, nil
	}
	return nil, fmt.Errorf("unknown resource type %q", typ)
}

// Result is what one run did.
type Result struct {
	// Resources has one entry per resource of the state, in the state's order.
	Resources []desired.ResourceResult
	// Products are the products found installed, product -> version.
	Products map[string]string
	// Counts per outcome.
	Unchanged, Corrected, Failed, Skipped, Drifted int
}

// skipError says a resource does not apply to this device; the outcome is skipped, not failed.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func skip(format string, args ...any) error { return &skipError{reason: fmt.Sprintf(format, args...)} }

// maxReason bounds the reason kept in a result; the log line has the rest.
const maxReason = 300

// node is one resource's place in a run.
type node struct {
	r      *desired.Resource
	deps   []*node
	done   chan struct{}
	result desired.ResourceResult
	// installed is set for packages: whether the product is installed after the run; nil when
	// unknown (check failed).
	installed *bool
}

// Run converges st once. It never stops at a failing resource: each is checked, and its
// dependents are skipped.
func (e *Engine) Run(ctx context.Context, st *desired.State) Result {
	mode := st.Mode
	var modeNote string
	switch mode {
	case "", ModeEnforce:
		mode = ModeEnforce
	case ModeDetect:
	default:
		// Unknown modes get the careful reading: look, do not touch.
		modeNote = fmt.Sprintf(" (unknown mode %q treated as detect)", mode)
		mode = ModeDetect
	}
	nodes := e.plan(st.Resources)

	sem := make(chan struct{}, e.opts.Parallel)
	var wg sync.WaitGroup
	for _, n := range nodes {
		select {
		case <-n.done:
			continue // decided while planning
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(n.done)
			for _, d := range n.deps {
				select {
				case <-d.done:
				case <-ctx.Done():
					n.result = desired.ResourceResult{ID: n.r.ID, Outcome: desired.Skipped, Reason: "run cancelled"}
					return
				}
				switch d.result.Outcome {
				case desired.Failed:
					n.result = desired.ResourceResult{ID: n.r.ID, Outcome: desired.Skipped, Reason: fmt.Sprintf("dependency %s failed", d.r.ID)}
					return
				case desired.Skipped:
					n.result = desired.ResourceResult{ID: n.r.ID, Outcome: desired.Skipped, Reason: fmt.Sprintf("dependency %s skipped", d.r.ID)}
					return
				}
			}
			e.converge(ctx, n, mode, modeNote, sem)
		}()
	}
	wg.Wait()

	res := Result{Resources: make([]desired.ResourceResult, len(nodes))}
	for i, n := range nodes {
		res.Resources[i] = n.result
		switch n.result.Outcome {
		case desired.Unchanged:
			res.Unchanged++
		case desired.Corrected:
			res.Corrected++
		case desired.Failed:
			res.Failed++
		case desired.Skipped:
			res.Skipped++
		case desired.Drifted:
			res.Drifted++
		}
		if n.r.Type == desired.TypePackage && n.r.Package != nil && n.installed != nil && *n.installed {
			if res.Products == nil {
				res.Products = map[string]string{}
			}
			// A version to be removed but still installed (noop, detect mode, a failed
			// uninstall) must not hide the wanted version that is installed too.
			if _, seen := res.Products[n.r.Package.Product]; !seen || n.r.Ensure != "absent" {
				res.Products[n.r.Package.Product] = n.r.Package.Version
			}
		}
	}
	return res
}

// plan links resources to their dependencies and settles, before anything runs, those that
// cannot run: duplicates, unknown dependencies and cycles fail.
func (e *Engine) plan(rs []*desired.Resource) []*node {
	nodes := make([]*node, len(rs))
	byID := make(map[string]*node, len(rs))
	settle := func(n *node, outcome, reason string) {
		n.result = desired.ResourceResult{ID: n.r.ID, Outcome: outcome, Reason: reason}
		close(n.done)
	}
	for i := range rs {
		n := &node{r: rs[i], done: make(chan struct{})}
		nodes[i] = n
		if _, dup := byID[n.r.ID]; dup {
			settle(n, desired.Failed, "duplicate resource id")
			continue
		}
		byID[n.r.ID] = n
	}
	for _, n := range nodes {
		if isClosed(n.done) {
			continue
		}
		for _, id := range n.r.DependsOn {
			d, ok := byID[id]
			if !ok {
				settle(n, desired.Failed, fmt.Sprintf("unknown dependency %s", id))
				break
			}
			n.deps = append(n.deps, d)
		}
	}
	// Cycles: depth-first search; every node on a cycle fails. Nodes that only depend on a
	// cycle are skipped later, when their dependency has failed.
	const (
		unvisited = iota
		onStack
		finished
	)
	state := make(map[*node]int, len(nodes))
	var stack []*node
	var visit func(n *node)
	visit = func(n *node) {
		state[n] = onStack
		stack = append(stack, n)
		for _, d := range n.deps {
			switch state[d] {
			case unvisited:
				visit(d)
			case onStack:
				i := slices.Index(stack, d)
				cycle := stack[i:]
				ids := make([]string, 0, len(cycle)+1)
				for _, c := range cycle {
					ids = append(ids, c.r.ID)
				}
				ids = append(ids, d.r.ID)
				reason := "dependency cycle: " + strings.Join(ids, " -> ")
				for _, c := range cycle {
					if !isClosed(c.done) {
						settle(c, desired.Failed, reason)
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = finished
	}
	for _, n := range nodes {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return nodes
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// converge runs check, and when needed apply and verify, for one resource.
func (e *Engine) converge(ctx context.Context, n *node, mode, modeNote string, sem chan struct{}) {
	r := n.r
	start := time.Now()
	log := e.log.With("resource", r.ID, "type", r.Type)
	outcome, reason := desired.Failed, ""
	defer func() {
		n.result = desired.ResourceResult{
			ID:         r.ID,
			Outcome:    outcome,
			Reason:     shorten(reason),
			DurationMs: time.Since(start).Milliseconds(),
			Refs:       r.Refs,
		}
		switch outcome {
		case desired.Failed:
			log.Warn("resource failed", "reason", reason)
		case desired.Corrected:
			log.Info("resource corrected", "reason", reason)
		case desired.Drifted:
			log.Info("resource drifted", "reason", reason)
		default:
			log.Debug("resource "+outcome, "reason", reason)
		}
	}()

	p, err := e.provider(r.Type)
	if err == nil {
		err = validate(r)
	}
	if err != nil {
		reason = err.Error()
		return
	}

	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		outcome, reason = desired.Skipped, "run cancelled"
		return
	}
	drift, err := p.check(ctx, r)
	<-sem
	if sk := (*skipError)(nil); errors.As(err, &sk) {
		outcome, reason = desired.Skipped, sk.reason
		return
	}
	if err != nil {
		reason = "check: " + err.Error()
		return
	}
	n.installed = installedAfterCheck(r, drift)
	switch {
	case drift == "":
		outcome = desired.Unchanged
		return
	case e.opts.Noop:
		outcome, reason = desired.Drifted, "would correct: "+drift
		return
	case mode == ModeDetect:
		outcome, reason = desired.Drifted, drift+modeNote
		return
	}

	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if ctx.Err() != nil {
		outcome, reason = desired.Skipped, "run cancelled"
		return
	}
	actx, stop := graceContext(ctx, e.opts.StopGrace)
	defer stop()
	if err := p.apply(actx, r); err != nil {
		reason = drift + "; correct: " + err.Error()
		return
	}
	after, err := p.check(actx, r)
	if err != nil {
		reason = drift + "; verify: " + err.Error()
		return
	}
	if after != "" {
		reason = drift + "; still out of line after correcting: " + after
		return
	}
	n.installed = installedAfterCheck(r, "")
	outcome, reason = desired.Corrected, drift
}

// graceContext is a context that ends grace after ctx does (or when stop is called).
func graceContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(inner, func() { t.Stop() })
	})
	return inner, func() {
		stopAfter()
		cancel()
	}
}

// installedAfterCheck says whether a package is installed given the drift its check found.
func installedAfterCheck(r *desired.Resource, drift string) *bool {
	if r.Type != desired.TypePackage {
		return nil
	}
	compliant := drift == ""
	installed := compliant == (r.Ensure != Absent)
	return &installed
}

// validate checks what every resource needs before its provider sees it.
func validate(r *desired.Resource) error {
	switch r.Ensure {
	case "", Present, Absent:
	default:
		return fmt.Errorf("ensure %q: want present or absent", r.Ensure)
	}
	var set bool
	switch r.Type {
	case desired.TypeFile:
		set = r.File != nil
	case desired.TypeCommand:
		set = r.Command != nil
	case desired.TypeRegistry:
		set = r.Registry != nil
	case desired.TypeService:
		set = r.Service != nil
	case desired.TypePackage:
		set = r.Package != nil
	}
	if !set {
		return fmt.Errorf("resource of type %s has no %s section", r.Type, r.Type)
	}
	return nil
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// findSystemctl resolves the Systemctl option to a program path, or "" when services cannot be
// managed through systemd here.
func findSystemctl(opt string) string {
	switch opt {
	case "off":
		return ""
	case "":
		if runtime.GOOS != "linux" {
			return ""
		}
		// sd_booted(3): systemd is the running init exactly when this directory exists.
		if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
			return ""
		}
		p, err := exec.LookPath("systemctl")
		if err != nil {
			return ""
		}
		return p
	}
	return opt
}
