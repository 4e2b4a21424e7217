package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/policies"
)

// clock is the fixed "now" of these tests.
var clock = time.Date(2026, time.May, 1, 9, 30, 0, 0, time.UTC)

func bundled(t testing.TB) *policy.Set {
	t.Helper()
	s, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadCatalog(t testing.TB, dir string) *catalog.Catalog {
	t.Helper()
	res, err := catalog.LoadDir(dir, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 {
		t.Fatalf("loading %s: %v", dir, res.Findings)
	}
	return res.Catalog
}

func TestBundledRules(t *testing.T) {
	s := bundled(t)
	var policyRules int
	for _, r := range s.Rules() {
		if r.Title == "" || r.Description == "" || r.Principle == "" {
			t.Errorf("%s: title, description and principle are all required: %+v", r.ID, r)
		}
		if _, err := finding.ParseSeverity(string(r.Severity)); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
		if !strings.HasPrefix(r.ID, "SV-WAIVER-") {
			policyRules++
		}
	}
	if policyRules < 12 {
		t.Errorf("%d policy rules, want at least 12", policyRules)
	}
	// Every policy file has its test file beside it.
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		test := strings.TrimSuffix(p, ".rego") + "_test.rego"
		if _, err := fs.Stat(policies.FS, test); err != nil {
			t.Errorf("%s has no %s", p, test)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEmbedHasEveryFile guards the //go:embed pattern: a .rego file the pattern misses would
// silently not be enforced.
func TestEmbedHasEveryFile(t *testing.T) {
	var disk, embedded []string
	root := filepath.Join("..", "..", "policies")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".rego") {
			rel, _ := filepath.Rel(root, p)
			disk = append(disk, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(disk, embedded) {
		t.Errorf("embedded %v\non disk  %v", embedded, disk)
	}
}

func TestRegoUnitTests(t *testing.T) {
	rep, err := policy.Test(context.Background(), policies.FS, policy.TestOptions{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !r.Passed {
			t.Errorf("%s:%d: %s.%s failed %s%s", r.File, r.Row, r.Package, r.Name, r.Error, r.Output)
		}
	}
	if rep.Passed < 40 {
		t.Errorf("%d tests passed; the starter set has more", rep.Passed)
	}
	if rep.Coverage < 90 {
		for _, f := range rep.Files {
			t.Logf("%5.1f%% %s not covered: %v", f.Percent, f.File, f.Uncovered)
		}
		t.Errorf("coverage %.1f%%, want at least 90%%", rep.Coverage)
	}
}

func TestTestFailures(t *testing.T) {
	fsys := fstest.MapFS{
		"r.rego": {Data: []byte(`# METADATA
# title: T
# custom:
#   id: SV-T-001
#   severity: deny
package t

deny contains "x" if {
	input.bad
}

deny contains "y" if {
	not input.bad
}
`)},
		"r_test.rego": {Data: []byte(`package t_test

import data.t

test_passes if count(t.deny) == 1
test_fails if count(t.deny) == 2
`)},
	}
	rep, err := policy.Test(context.Background(), fsys, policy.TestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 1 || rep.Failed != 1 {
		t.Errorf("passed %d failed %d, want 1 and 1", rep.Passed, rep.Failed)
	}
	if rep.Coverage >= 100 || rep.Coverage <= 0 {
		t.Errorf("coverage %.1f, want partial", rep.Coverage)
	}
}

func TestEvaluateTestdataCatalog(t *testing.T) {
	s := bundled(t)
	cat := loadCatalog(t, "testdata/catalog")
	fs, err := s.Evaluate(context.Background(), cat, clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("want exactly the waived finding, got %d:\n%s", len(fs), join(fs))
	}
	f := fs[0]
	want := finding.Finding{
		Rule: "SV-DG-001", Severity: finding.Deny, File: "members/kommun-vasterby/groups.yaml", Line: 12, Column: 3, Path: "spec.osRelease",
		Message:  "targets windows-10-22h2, which left support on 2025-10-14",
		Document: &finding.DocRef{Kind: "DeviceGroup", Namespace: "kommun-vasterby", Name: "legacy"},
		WaivedBy: &finding.Waiver{Name: "legacy-esu", Namespace: "kommun-vasterby", Expires: "2026-10-13"},
	}
	if got, _ := json.Marshal(f); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("got  %s\nwant %s", got, must(json.Marshal(want)))
	}
}

// TestWaiverExpiry moves a fixed clock past the waiver of the testdata catalog.
func TestWaiverExpiry(t *testing.T) {
	s := bundled(t)
	cat := loadCatalog(t, "testdata/catalog")
	day := func(s string) time.Time { return must(time.Parse(time.DateOnly, s)) }
	tests := []struct {
		name   string
		now    time.Time
		waived bool
		want   []string // rule ids of unwaived findings, sorted
	}{
		{"valid", day("2026-09-12"), true, nil},
		{"31 days left", day("2026-09-12").Add(-time.Nanosecond), true, nil},
		{"30 days left", day("2026-09-13"), true, []string{policy.RuleWaiverExpiring}},
		{"last minute", day("2026-10-13").Add(-time.Minute), true, []string{policy.RuleWaiverExpiring}},
		{"expiry date", day("2026-10-13"), false, []string{"SV-DG-001", policy.RuleWaiverExpired}},
		{"long expired", day("2027-01-01"), false, []string{"SV-DG-001", policy.RuleWaiverExpired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := s.Evaluate(context.Background(), cat, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			waived := false
			for _, f := range fs {
				if f.WaivedBy != nil {
					waived = true
					continue
				}
				got = append(got, f.Rule)
				if f.Rule == policy.RuleWaiverExpired || f.Rule == policy.RuleWaiverExpiring {
					if f.File != "members/kommun-vasterby/waivers.yaml" || f.Line != 14 || f.Path != "spec.expires" {
						t.Errorf("%s at %s %s, want members/kommun-vasterby/waivers.yaml:14 spec.expires", f.Rule, f.Location(), f.Path)
					}
				}
			}
			slices.Sort(got)
			if waived != tt.waived || !slices.Equal(got, tt.want) {
				t.Errorf("waived %v, findings %v; want %v, %v\n%s", waived, got, tt.waived, tt.want, join(fs))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	meta := "# METADATA\n# title: T\n# custom:\n#   id: %s\n#   severity: %s\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax errors in two files, each once", map[string]string{
			"a.rego": "package a\n\ndeny contains x if {\n",
			"b.rego": "package b\n\nallow if {\n  input.x ==\n}\n",
		}, []string{"a.rego:4: unexpected eof token", "b.rego:5:1: unexpected } token"}},
		{"unsafe variable", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-A-001", "deny") + "package a\n\ndeny contains f if {\n\tf := y\n}\n",
		}, []string{"a.rego:9:2: rego_unsafe_var_error: var y is unsafe"}},
		{"no metadata", map[string]string{
			"a.rego": "package a\n\nwarn contains \"x\" if input.x\n",
		}, []string{"a.rego:3:1: package data.a defines warn but has no package METADATA block"}},
		{"severity and set disagree", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-A-001", "warn") + "package a\n\ndeny contains \"x\" if input.x\n",
		}, []string{"a.rego:8:1: package data.a: METADATA custom.severity is warn, but the rule set is deny"}},
		{"duplicate id", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-A-001", "deny") + "package a\n\ndeny contains \"x\" if input.x\n",
			"b.rego": fmt.Sprintf(meta, "SV-A-001", "deny") + "package b\n\ndeny contains \"x\" if input.x\n",
		}, []string{"b.rego:1:1: package data.b: id SV-A-001 is already used by package data.a"}},
		{"waiver ids are reserved", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-WAIVER-009", "deny") + "package a\n\ndeny contains \"x\" if input.x\n",
		}, []string{"built-in waiver checks"}},
		{"waivers other than shared", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-A-001", "deny") + "#   waivers: member\npackage a\n\ndeny contains \"x\" if input.x\n",
		}, []string{"a.rego:1:1: package data.a: METADATA custom.waivers must be \"shared\""}},
		{"wall clock is not available", map[string]string{
			"a.rego": fmt.Sprintf(meta, "SV-A-001", "deny") + "package a\n\ndeny contains \"x\" if time.now_ns() > 0\n",
		}, []string{"a.rego:8:", "time.now_ns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
			}
			_, err := policy.Load(fsys, policy.Options{Dir: "p"})
			var errs policy.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v (%T), want policy.Errors", err, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, "p/"+w) && !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q:\n%s", w, msg)
				}
			}
			seen := map[string]bool{}
			for _, e := range errs {
				if seen[e.String()] {
					t.Errorf("reported twice: %s", e)
				}
				seen[e.String()] = true
				if e.File == "" || e.Row == 0 {
					t.Errorf("no position: %s", e)
				}
			}
		})
	}
}

func TestMalformedFinding(t *testing.T) {
	fsys := fstest.MapFS{"a.rego": {Data: []byte(`# METADATA
# title: T
# custom:
#   id: SV-A-001
#   severity: deny
package a

deny contains {"msg": "no doc"} if true
`)}}
	s, err := policy.Load(fsys, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Evaluate(context.Background(), loadCatalog(t, "testdata/catalog"), clock)
	if err == nil || !strings.Contains(err.Error(), "SV-A-001") || !strings.Contains(err.Error(), `"doc" must be an object`) {
		t.Errorf("error %v, want one naming the rule and the missing doc", err)
	}
}

// TestParallelEvaluationAgrees checks that splitting the catalog over workers changes nothing.
func TestParallelEvaluationAgrees(t *testing.T) {
	cat := loadCatalog(t, "testdata/catalog")
	var first []finding.Finding
	for _, workers := range []int{1, 2, 3, 8} {
		s, err := policy.Load(policies.FS, policy.Options{Workers: workers, BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := s.Evaluate(context.Background(), cat, clock.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = fs
			if len(fs) < 2 {
				t.Fatalf("want several findings a year on, got %v", fs)
			}
			continue
		}
		if a, b := join(first), join(fs); a != b {
			t.Errorf("%d workers:\n%s\n1 worker:\n%s", workers, b, a)
		}
	}
}

func join(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteString("\n")
	}
	return b.String()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
