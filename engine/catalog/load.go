package catalog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"samverk.io/samverk/engine/finding"
)

// Options bound what the loader accepts. The zero value is a working default.
type Options struct {
	// MaxFileSize is the largest file read, in bytes (default 1 MiB).
	MaxFileSize int64
	// MaxNodes bounds the YAML nodes one document may expand to through aliases
	// (default 100,000): more is refused as an alias bomb.
	MaxNodes int
	// Workers parse files in parallel (default GOMAXPROCS).
	Workers int
	// Cache, when set, reuses the documents of files parsed by an earlier load.
	Cache *Cache
	// Sums, when set, has the load return the SHA-256 of every file it parsed (Result.Sums),
	// for results kept by content elsewhere.
	Sums bool
	// CUE evaluates .cue files (default InProcessCUE, which is unbounded: a program that loads
	// catalogs it does not trust sets a bounded evaluator, see package cueeval).
	CUE CUEEvaluator
}

func (o Options) withDefaults() Options {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 1 << 20
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = 100_000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CUE == nil {
		o.CUE = InProcessCUE{}
	}
	return o
}

// Result is what loading produced: the catalog of accepted documents, and a finding for every
// file or document that was refused.
type Result struct {
	Catalog  *Catalog
	Findings []finding.Finding
	// Files is the number of catalog files read.
	Files int
	// Sums maps each file parsed to the SHA-256 of its content, when Options.Sums is set.
	Sums map[string][sha256.Size]byte
}

// IsCatalogFile reports whether a file name is one the loader reads.
func IsCatalogFile(name string) bool {
	base := path.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
		return false
	}
	switch path.Ext(base) {
	case ".yaml", ".yml", ".cue":
		return true
	}
	return false
}

func skipDir(name string) bool {
	return name != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata")
}

// LoadDir loads the catalog under dir. Symbolic links are followed only while they stay inside
// dir; one that leaves it is refused with a finding.
func LoadDir(dir string, opt Options) (*Result, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("load catalog: %s is not a directory", dir)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	escapes, err := escapingLinks(root)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	return load(os.DirFS(root), opt, escapes)
}

// Load loads the catalog in fsys, e.g. a Git snapshot. Paths in findings are fsys paths.
func Load(fsys fs.FS, opt Options) (*Result, error) {
	return load(fsys, opt, nil)
}

// escapingLinks finds symbolic links under root whose target lies outside root.
func escapingLinks(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && skipDir(d.Name()) {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			out[filepath.ToSlash(rel)] = "a missing target"
			return nil
		}
		if target != root && !strings.HasPrefix(target, root+string(filepath.Separator)) {
			out[filepath.ToSlash(rel)] = target
		}
		return nil
	})
	return out, err
}

func load(fsys fs.FS, opt Options, escapes map[string]string) (*Result, error) {
	opt = opt.withDefaults()
	var files []string
	var findings []finding.Finding
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			if d != nil && d.IsDir() && skipDir(d.Name()) {
				return fs.SkipDir
			}
			// A directory that cannot be listed (in a Git snapshot: a tree object that cannot
			// be read) is a property of what is loaded, not a reason to give up.
			findings = append(findings, unreadable(p, err))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if target, bad := escapes[p]; bad {
			findings = append(findings, finding.Finding{
				Rule: finding.RuleSymlink, Severity: finding.Deny, File: p,
				Message: fmt.Sprintf("symbolic link points outside the catalog root (to %s); refused", target),
			})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if skipDir(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeIrregular != 0 {
			// In a Git snapshot: a submodule (gitlink). Its files are not in this repository,
			// so what it would add to the catalog cannot be checked.
			findings = append(findings, finding.Finding{
				Rule: finding.RuleSubmodule, Severity: finding.Deny, File: p, Line: 1, Column: 1,
				Message: "a Git submodule (gitlink) is not part of a catalog: its content cannot be checked; commit the files themselves",
			})
			return nil
		}
		if IsCatalogFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}

	type fileResult struct {
		docs     []*Document
		findings []finding.Finding
		sum      *[sha256.Size]byte
		err      error
	}
	results := make([]fileResult, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(opt.Workers, max(len(files), 1)) {
		wg.Go(func() {
			for i := range next {
				docs, fnd, sum, err := loadFile(fsys, files[i], opt)
				results[i] = fileResult{docs, fnd, sum, err}
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if opt.Cache != nil {
		opt.Cache.rotate()
	}

	var docs []*Document
	var sums map[string][sha256.Size]byte
	if opt.Sums {
		sums = make(map[string][sha256.Size]byte, len(files))
	}
	for i, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if sums != nil && r.sum != nil {
			sums[files[i]] = *r.sum
		}
		findings = append(findings, r.findings...)
		for _, d := range r.docs {
			if f, ok := checkIdentity(d); !ok {
				findings = append(findings, f)
				continue
			}
			docs = append(docs, d)
		}
	}
	cat, dups := New(docs)
	for _, pair := range dups {
		first, d := pair[0], pair[1]
		findings = append(findings, d.Finding(finding.RuleDuplicateName, finding.Deny, Path{"metadata", "name"},
			"%s is already defined at %s:%d", d.Ref(), first.File, first.Start.Line))
	}
	findings = append(findings, checkLayout(cat)...)
	return &Result{Catalog: cat, Findings: findings, Files: len(files), Sums: sums}, nil
}

func loadFile(fsys fs.FS, name string, opt Options) ([]*Document, []finding.Finding, *[sha256.Size]byte, error) {
	info, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, []finding.Finding{unreadable(name, err)}, nil, nil
	}
	if info.Size() > opt.MaxFileSize {
		return nil, []finding.Finding{{
			Rule: finding.RuleTooLarge, Severity: finding.Deny, File: name,
			Message: fmt.Sprintf("file is %d bytes, over the limit of %d; refused", info.Size(), opt.MaxFileSize),
		}}, nil, nil
	}
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A dangling symlink inside the catalog.
			return nil, []finding.Finding{{Rule: finding.RuleSymlink, Severity: finding.Deny, File: name, Message: "file cannot be read: " + err.Error()}}, nil, nil
		}
		return nil, []finding.Finding{unreadable(name, err)}, nil, nil
	}
	if int64(len(src)) > opt.MaxFileSize {
		return nil, []finding.Finding{{
			Rule: finding.RuleTooLarge, Severity: finding.Deny, File: name,
			Message: fmt.Sprintf("file is over the limit of %d bytes; refused", opt.MaxFileSize),
		}}, nil, nil
	}
	var key cacheKey
	var sum *[sha256.Size]byte
	if opt.Cache != nil || opt.Sums {
		s := sha256.Sum256(src)
		sum, key = &s, cacheKey{path: name, sum: s}
	}
	if opt.Cache != nil {
		if p, ok := opt.Cache.get(key); ok {
			return p.docs, p.findings, sum, nil
		}
	}
	var docs []*Document
	var fnd []finding.Finding
	if path.Ext(name) == ".cue" {
		if docs, fnd, err = opt.CUE.EvalCUE(name, src); err != nil {
			return nil, nil, nil, fmt.Errorf("load catalog: %s: %w", name, err)
		}
	} else {
		docs, fnd = ParseYAML(name, src, opt.MaxNodes)
	}
	// An evaluation cut short by its budget may pass on another run (a busy machine); it is
	// not remembered.
	if opt.Cache != nil && !slices.ContainsFunc(fnd, func(f finding.Finding) bool { return f.Rule == finding.RuleCUEBudget }) {
		opt.Cache.put(key, parsed{docs, fnd})
	}
	return docs, fnd, sum, nil
}

// unreadable is the finding for a file or directory that exists but cannot be read.
func unreadable(name string, err error) finding.Finding {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return finding.Finding{
		Rule: finding.RuleUnreadable, Severity: finding.Deny, File: name, Line: 1, Column: 1,
		Message: fmt.Sprintf("cannot be read: %v; refused", err),
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidName reports whether s is a DNS label, as names and namespaces must be.
func ValidName(s string) bool {
	return len(s) <= 63 && nameRE.MatchString(s)
}

// checkIdentity refuses documents samverk cannot place: unknown apiVersion or kind, an invalid
// name, or a namespace where the kind forbids one (or none where it needs one).
func checkIdentity(d *Document) (finding.Finding, bool) {
	switch {
	case d.APIVersion != APIVersion:
		got := "no apiVersion"
		if d.APIVersion != "" {
			got = fmt.Sprintf("%q", d.APIVersion)
		}
		return d.Finding(finding.RuleAPIVersion, finding.Deny, Path{"apiVersion"}, "must be %q; got %s", APIVersion, got), false
	}
	scope, ok := ScopeOf(d.Kind)
	if !ok {
		switch k, set := d.Object["kind"]; {
		case !set:
			return d.Finding(finding.RuleUnknownKind, finding.Deny, Path{"kind"}, "missing; every document needs a kind, one of %s", strings.Join(Kinds, ", ")), false
		case d.Kind == "" && k != "":
			return d.Finding(finding.RuleUnknownKind, finding.Deny, Path{"kind"}, "must be one of %s; got %s", strings.Join(Kinds, ", "), describe(k)), false
		}
		return d.Finding(finding.RuleUnknownKind, finding.Deny, Path{"kind"}, "unknown kind %q; must be one of %s", d.Kind, strings.Join(Kinds, ", ")), false
	}
	if !ValidName(d.Name) {
		if d.Name == "" {
			return d.Finding(finding.RuleInvalidName, finding.Deny, Path{"metadata", "name"}, "metadata.name is required"), false
		}
		return d.Finding(finding.RuleInvalidName, finding.Deny, Path{"metadata", "name"},
			"%q is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", d.Name), false
	}
	if d.Namespace != "" && !ValidName(d.Namespace) {
		return d.Finding(finding.RuleInvalidName, finding.Deny, Path{"metadata", "namespace"},
			"%q is not a valid namespace: use the name of a Member", d.Namespace), false
	}
	switch {
	case scope == Shared && d.Namespace != "":
		return d.Finding(finding.RuleNamespace, finding.Deny, Path{"metadata", "namespace"},
			"%s is a shared kind and takes no namespace", d.Kind), false
	case scope == MemberScoped && d.Namespace == "":
		return d.Finding(finding.RuleNamespace, finding.Deny, Path{"metadata"},
			"%s is member-scoped: metadata.namespace must name the owning Member", d.Kind), false
	}
	return finding.Finding{}, true
}
