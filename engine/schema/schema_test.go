package schema

import (
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/schemas"
)

func loadDir(t *testing.T, dir string) *catalog.Catalog {
	t.Helper()
	res, err := catalog.LoadDir(dir, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The fixtures keep one file per kind rather than members' folders: where a document
	// lives is the loader's layout check, not the schema's, so layout findings are set aside.
	var fs []finding.Finding
	for _, f := range res.Findings {
		if !strings.HasPrefix(f.Rule, "layout/") {
			fs = append(fs, f)
		}
	}
	if len(fs) > 0 {
		t.Fatalf("loading %s: %v", dir, fs)
	}
	return res.Catalog
}

func parseDoc(t *testing.T, file, src string) *catalog.Document {
	t.Helper()
	docs, fs := catalog.ParseYAML(file, []byte(src), 0)
	if len(fs) > 0 || len(docs) != 1 {
		t.Fatalf("parse %s: %d documents, %v", file, len(docs), fs)
	}
	return docs[0]
}

func TestValidateValidCatalog(t *testing.T) {
	cat := loadDir(t, "testdata/valid")
	for _, kind := range catalog.Kinds {
		if len(cat.OfKind(kind)) == 0 {
			t.Errorf("testdata/valid has no %s document", kind)
		}
	}
	fs, err := Validate(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("unexpected finding: %s", f)
	}
}

// want is one expected finding: where, which rule, which field, what it says.
type want struct{ loc, rule, path, msg string }

func (w want) String() string { return fmt.Sprintf("%s %s %s: %s", w.loc, w.rule, w.path, w.msg) }

func got(f finding.Finding) want { return want{f.Location(), f.Rule, f.Path, f.Message} }

const dnsLabel = "must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"

func TestValidateFindings(t *testing.T) {
	cat := loadDir(t, "testdata/invalid")
	all, err := Validate(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		want []want
	}{
		{"enum", "enum.yaml", []want{
			{"enum.yaml:13:5", finding.RuleSchemaEnum, "spec.lifecycle.stage", `must be one of packaging, infra-test, user-test, approved, deprecated, retired; got "aproved"`},
		}},
		{"required field, at its parent", "required.yaml", []want{
			{"required.yaml:5:1", finding.RuleSchemaRequired, "spec.vendor", "field is required"},
		}},
		{"unknown field", "unknown.yaml", []want{
			{"unknown.yaml:10:3", finding.RuleSchemaUnknown, "spec.serialNumber", "field not allowed"},
			{"unknown.yaml:11:3", finding.RuleSchemaUnknown, "spec.formfactor", "field not allowed; did you mean formFactor?"},
			{"unknown.yaml:13:1", finding.RuleSchemaRequired, "spec", "field is required"},
			{"unknown.yaml:17:1", finding.RuleSchemaUnknown, "specs", "field not allowed; did you mean spec?"},
		}},
		{"type", "type.yaml", []want{
			{"type.yaml:7:3", finding.RuleSchemaType, "spec.version", "must be a string; got number 24.04 (quote it in YAML)"},
			{"type.yaml:8:3", finding.RuleSchemaType, "spec.build", "must be a string; got number 6.8 (quote it in YAML)"},
			{"type.yaml:23:5", finding.RuleSchemaType, "spec.duration.maxDays", "must be an integer; got number 1.5"},
			{"type.yaml:24:3", finding.RuleSchemaType, "spec.provisioning", "must be a string; got a list"},
			{"type.yaml:31:12", finding.RuleSchemaType, `metadata.labels["cost.centre"]`, "must be a string; got number 4711 (quote it in YAML)"},
			{"type.yaml:34:3", finding.RuleSchemaType, "spec.displayName", "must be a string; got null"},
			{"type.yaml:35:3", finding.RuleSchemaType, "spec.contacts", "must be a list; got a mapping"},
		}},
		{"pattern", "pattern.yaml", []want{
			{"pattern.yaml:9:3", finding.RuleSchemaPattern, "spec.releaseDate", `must be a calendar date, YYYY-MM-DD; got "2024-13-01"`},
			{"pattern.yaml:10:3", finding.RuleSchemaPattern, "spec.endOfSupport", `must be a calendar date, YYYY-MM-DD; got "2027-02-30"`},
			{"pattern.yaml:19:42", finding.RuleSchemaPattern, "spec.selector.hardwareModels[1]", dnsLabel + `; got "HP_EliteBook"`},
			{"pattern.yaml:21:3", finding.RuleSchemaPattern, "spec.osRelease", dnsLabel + `; got "Windows-11"`},
			{"pattern.yaml:36:7", finding.RuleSchemaPattern, "spec.installer.source.sha256", `must be a SHA-256 digest like 4f3a4006f1ec…83cc1e: 64 hex digits, in upper or lower case; got "xyz"`},
			{"pattern.yaml:45:9", finding.RuleSchemaPattern, "spec.lifecycle.records[0].evidence", `must be an http or https URL like https://example.org/reports/7: http:// or https://, a host name, then a path without spaces; got "ftp://evidence.example.org/npp"`},
			{"pattern.yaml:59:7", finding.RuleSchemaPattern, "spec.installer.source.url", `must be an https URL like https://dist.example.org/7zip/7z2409-x64.msi: https://, a host name, then a path without spaces; got "http://downloads.oldvendor.example/tool.msi"`},
		}},
		{"bound", "bound.yaml", []want{
			{"bound.yaml:6:3", finding.RuleSchemaBound, "spec.osReleases", "must have at least 1 item; got 0"},
			{"bound.yaml:13:7", finding.RuleSchemaBound, "spec.settings[0].timeoutSeconds", "must be greater than 0 and at most 3600; got 99999"},
			{"bound.yaml:16:7", finding.RuleSchemaBound, "spec.settings[1].target", "must not be empty"},
			{"bound.yaml:26:3", finding.RuleSchemaBound, "spec.reason", `must be at least 10 characters long; got "legacy"`},
		}},
		{"rollout policy and maintenance windows", "rollout.yaml", []want{
			{"rollout.yaml:9:7", finding.RuleSchemaPattern, "spec.steps[0].soak", `must be a duration like 24h, 90m or 1h30m: whole hours and minutes, each a number followed by h or m; got "1 day"`},
			{"rollout.yaml:10:7", finding.RuleSchemaBound, "spec.steps[0].successPercent", "must be at least 0 and at most 100; got 120"},
			{"rollout.yaml:11:7", finding.RuleSchemaEnum, "spec.steps[0].onFailure", `must be one of halt, halt-and-rollback; got "stop"`},
			{"rollout.yaml:22:15", finding.RuleSchemaEnum, "spec.maintenanceWindows[0].days[0]", `must be one of mon, tue, wed, thu, fri, sat, sun; got "monday"`},
			{"rollout.yaml:22:24", finding.RuleSchemaPattern, "spec.maintenanceWindows[0].start", `must be a time of day like 22:00 or 06:30: hours 00 to 23, a colon, minutes 00 to 59; got "25:00"`},
			{"rollout.yaml:22:40", finding.RuleSchemaPattern, "spec.maintenanceWindows[0].end", `must be a time of day like 22:00 or 06:30: hours 00 to 23, a colon, minutes 00 to 59; got "6:00"`},
			{"rollout.yaml:22:53", finding.RuleSchemaPattern, "spec.maintenanceWindows[0].timeZone", `must be an IANA time zone like Europe/Stockholm or UTC: an area and a place separated by a slash, or UTC; got "stockholm"`},
		}},
		{"CUE source", "member.cue", []want{
			{"member.cue:5:2", finding.RuleSchemaEnum, "spec.type", `must be one of region, municipality, university, agency, company; got "univeristy"`},
			{"member.cue:10:3", finding.RuleSchemaPattern, "spec.contacts[0].email", `must be an e-mail address, name@domain; got "it.lu.se"`},
		}},
		{"several problems in one document", "multi.yaml", []want{
			{"multi.yaml:5:3", finding.RuleSchemaUnknown, "metadata.onwer", "field not allowed; did you mean owner?"},
			{"multi.yaml:6:1", finding.RuleSchemaRequired, "spec.vendor", "field is required"},
			{"multi.yaml:8:3", finding.RuleSchemaBound, "spec.displayName", "must not be empty"},
			{"multi.yaml:9:3", finding.RuleSchemaUnknown, "spec.venodr", "field not allowed; did you mean vendor?"},
			{"multi.yaml:10:3", finding.RuleSchemaType, "spec.version", "must be a string; got number 24.08 (quote it in YAML)"},
			{"multi.yaml:12:5", finding.RuleSchemaEnum, "spec.installer.type", `must be one of msi, msix, exe, portable, zip, winget, script, deb, rpm; got "exec"`},
			{"multi.yaml:15:7", finding.RuleSchemaPattern, "spec.installer.source.sha256", `must be a SHA-256 digest like 4f3a4006f1ec…83cc1e: 64 hex digits, in upper or lower case; got "4F1E2B7C"`},
			{"multi.yaml:16:5", finding.RuleSchemaBound, "spec.installer.timeoutSeconds", "must be greater than 0 and at most 7200; got 0"},
			{"multi.yaml:17:33", finding.RuleSchemaPattern, "spec.osReleases[1]", dnsLabel + `; got "W11"`},
			{"multi.yaml:19:5", finding.RuleSchemaEnum, "spec.lifecycle.stage", `must be one of packaging, infra-test, user-test, approved, deprecated, retired; got "aproved"`},
			{"multi.yaml:21:9", finding.RuleSchemaRequired, "spec.lifecycle.records[0].member", "field is required"},
			{"multi.yaml:23:9", finding.RuleSchemaEnum, "spec.lifecycle.records[0].result", `must be one of pass, fail; got "passed"`},
			// What a conditional of #Setting demands once type is known.
			{"multi.yaml:35:7", finding.RuleSchemaEnum, "spec.settings[0].value", `must be one of running, stopped, disabled; got "started"`},
			{"multi.yaml:36:7", finding.RuleSchemaRequired, "spec.settings[1].set", "field is required"},
			{"multi.yaml:41:7", finding.RuleSchemaEnum, "spec.settings[2].type", `must be one of registry, file, command, service; got "registy"`},
			{"multi.yaml:44:11", finding.RuleSchemaEnum, "spec.settings[2].references[0].source", `must be one of CIS, MSB, NIST, STIG, Microsoft, eKlient; got "cis"`},
		}},
	}
	seen := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotList []want
			for _, f := range all {
				if f.File != tt.file {
					continue
				}
				gotList = append(gotList, got(f))
				if f.Severity != finding.Deny || f.Document == nil {
					t.Errorf("%s: severity %q, document %v; want deny and the document", f, f.Severity, f.Document)
				}
			}
			seen += len(gotList)
			if !slices.Equal(gotList, tt.want) {
				t.Errorf("findings of %s:\n got:\n%s\nwant:\n%s", tt.file, lines(gotList), lines(tt.want))
			}
		})
	}
	if seen != len(all) {
		t.Errorf("%d findings in files no case covers", len(all)-seen)
	}
}

func lines(ws []want) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("  " + w.String() + "\n")
	}
	return b.String()
}

func TestValidateOneFindingPerField(t *testing.T) {
	all, err := Validate(loadDir(t, "testdata/invalid"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, f := range all {
		key := f.Document.String() + " " + f.Path
		if prev, dup := seen[key]; dup {
			t.Errorf("two findings about %s:\n  %s\n  %s", key, prev, f)
		}
		seen[key] = f.String()
		if strings.Contains(f.Message, "#") || strings.Contains(f.Message, "empty disjunction") || strings.Contains(f.Message, "conflicting values") {
			t.Errorf("raw CUE in message: %s", f)
		}
	}
}

func TestValidateDeterministic(t *testing.T) {
	cat := loadDir(t, "testdata/invalid")
	one, err := Validate(cat, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		many, err := Validate(cat, Options{Workers: 4})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, many) {
			t.Fatalf("results differ between 1 and 4 workers:\n%v\n%v", one, many)
		}
	}
}

func TestValidateOtherValidator(t *testing.T) {
	opt := Options{Schemas: os.DirFS("testdata/otherschema")}
	d := parseDoc(t, "member.yaml", `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: region-norr
spec:
  displayName: Norr
`)
	cat, _ := catalog.New([]*catalog.Document{d})
	fs, err := Validate(cat, opt)
	if err != nil {
		t.Fatal(err)
	}
	wantList := []want{{"member.yaml:6:3", finding.RuleSchemaInvalid, "spec.displayName", `must satisfy strings.HasPrefix("Region "); got "Norr"`}}
	var gotList []want
	for _, f := range fs {
		gotList = append(gotList, got(f))
	}
	if !slices.Equal(gotList, wantList) {
		t.Errorf("got %v, want %v", gotList, wantList)
	}

	pkg := parseDoc(t, "package.yaml", "apiVersion: samverk.io/v1\nkind: Package\nmetadata: {name: x}\nspec: {}\n")
	cat, _ = catalog.New([]*catalog.Document{pkg})
	if _, err := Validate(cat, opt); err == nil || !strings.Contains(err.Error(), "no definition #Package") {
		t.Errorf("a kind without a definition: got error %v", err)
	}
}

func TestValidateBrokenSchema(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/x.cue", []byte("package x\n#Member: {a: 1} & {a: 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.New(nil)
	if _, err := Validate(cat, Options{Schemas: os.DirFS(dir)}); err == nil || !strings.HasPrefix(err.Error(), "schema: ") {
		t.Errorf("broken schema: got error %v", err)
	}
}

// TestFastDefinitionsAgree checks that the definitions built for speed accept exactly the
// documents the definitions as written accept: every fixture, and every fixture with each
// of its strings altered in ways that matter to an enum turned regular expression.
func TestFastDefinitionsAgree(t *testing.T) {
	c, err := compile(Options{}.withDefaults().Schemas)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := c.explaining()
	if err != nil {
		t.Fatal(err)
	}
	valid := func(defs *definitions, d *catalog.Document) bool {
		return defs.defs[d.Kind].Unify(c.ctx.Encode(d.Object)).Validate(concrete...) == nil
	}
	var docs []*catalog.Document
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		docs = append(docs, loadDir(t, dir).Docs...)
	}
	checked := 0
	for _, d := range docs {
		if valid(c.fast, d) != valid(exact, d) {
			t.Errorf("%s: fast and exact definitions disagree", d.Ref())
		}
		mutateStrings(d.Object, func() {
			checked++
			if f, e := valid(c.fast, d), valid(exact, d); f != e {
				t.Errorf("%s, altered: fast says valid=%v, exact %v", d.Ref(), f, e)
			}
		})
	}
	if checked < 200 {
		t.Errorf("only %d variants checked", checked)
	}
}

// mutateStrings alters every string in v in turn, calls check, and restores it.
func mutateStrings(v any, check func()) {
	alter := []func(string) string{
		strings.ToUpper,
		func(s string) string { return s + "\n" },
		func(s string) string { return "x" + s },
		func(s string) string { return s + "|" },
		func(string) string { return ".*" },
		func(string) string { return "" },
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok {
				for _, f := range alter {
					v[k] = f(s)
					check()
				}
				v[k] = s
				continue
			}
			mutateStrings(e, check)
		}
	case []any:
		for i, e := range v {
			if s, ok := e.(string); ok {
				for _, f := range alter {
					v[i] = f(s)
					check()
				}
				v[i] = s
				continue
			}
			mutateStrings(e, check)
		}
	}
}

func TestEnumsToRegexps(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"enum", `a: "x" | "y.z"`, `a: =~"^(?:x|y\\.z)$"`},
		{"parenthesised", `a: ("x" | "y") | "z"`, `a: =~"^(?:x|y|z)$"`},
		{"default kept", `a: *"x" | "y"`, `a: *"x" | "y"`},
		{"mixed kinds kept", `a: "x" | 1`, `a: "x" | 1`},
		{"types kept", `a: string | int`, `a: string | int`},
		{"reference kept", `a: "x" | #B`, `a: "x" | #B`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parser.ParseFile("x.cue", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			enumsToRegexps(f)
			b, err := format.Node(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"vendor", "version", "displayName", "formFactor", "spec"}
	tests := []struct{ name, want string }{
		{"venodr", "vendor"},
		{"vendro", "vendor"},
		{"verison", "version"},
		{"displayname", "displayName"},
		{"form_factor", "formFactor"},
		{"specs", "spec"},
		{"serialNumber", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.name, fields); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestValidateCache(t *testing.T) {
	good := parseDoc(t, "a.yaml", "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: a}\nspec: {type: region, displayName: A, contacts: []}\n")
	bad := parseDoc(t, "b.yaml", "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: b}\nspec: {type: regoin, displayName: B, contacts: []}\n")
	cat, _ := catalog.New([]*catalog.Document{good, bad})
	cache := NewCache()
	first, err := Validate(cat, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 {
		t.Fatalf("first run: %v", first)
	}
	// The same documents again: every result comes from the cache, findings included.
	second, err := Validate(cat, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 1 || second[0] != first[0] {
		t.Errorf("second run: %v, want %v", second, first)
	}
	if _, ok := cache.get(bad); !ok {
		t.Error("the invalid document's result is not cached")
	}
	// A changed document (a new *Document from the loader) is checked afresh.
	fixed := parseDoc(t, "b.yaml", "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: b}\nspec: {type: region, displayName: B, contacts: []}\n")
	cat, _ = catalog.New([]*catalog.Document{good, fixed})
	third, err := Validate(cat, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if len(third) != 0 {
		t.Errorf("third run: %v, want none", third)
	}
}

// TestEveryPatternHasAMessage fails when a regular expression of the schemas has no
// description a person can read: each must be a definition of its own whose doc comment says
// "#Name is <what, with an example>", which is what a finding then says instead of the
// expression.
func TestEveryPatternHasAMessage(t *testing.T) {
	defs, err := buildDefinitions(cuecontext.New(), schemas.FS, false)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(schemas.FS, "*.cue")
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, name := range names {
		src, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Walk(f, func(n ast.Node) bool {
			u, ok := n.(*ast.UnaryExpr)
			if !ok || (u.Op != token.MAT && u.Op != token.NMAT) {
				return true
			}
			count++
			b, err := format.Node(u)
			if err != nil {
				t.Fatal(err)
			}
			desc, ok := defs.named[string(b)]
			switch {
			case !ok:
				t.Errorf("%s: %s: pattern without a message; make it a definition whose doc comment reads \"#Name is ... like <example>: ...\"", u.Pos(), b)
			case !strings.Contains(desc, " like ") && !strings.Contains(desc, ", "):
				t.Errorf("%s: %s: message %q gives no example", u.Pos(), b, desc)
			}
			return true
		}, nil)
	}
	if count == 0 {
		t.Fatal("no pattern found in the schemas")
	}
}

// TestPatternMessages checks what a finding says about a value that does not match each
// pattern: what is expected with an example, never the expression itself.
func TestPatternMessages(t *testing.T) {
	doc := func(installer string, extra string) string {
		return `apiVersion: samverk.io/v1
kind: Package
metadata: {name: p-1}
spec:
  product: p
  displayName: P
  vendor: V
  version: "1.0"
  osReleases: [windows-11-24h2]
  lifecycle: {stage: packaging}
  installer:
` + installer + extra
	}
	tests := []struct {
		name, src, path, msg string
	}{
		{"version with a space", strings.Replace(doc("    type: script\n", ""), `"1.0"`, `"1.0 beta"`, 1), "spec.version",
			`must be a version like 24.8.2 or 8.6.9: digits, letters and the characters + _ - and dot, starting with a digit or letter, without spaces; got "1.0 beta"`},
		{"url that is no url", doc("    type: msi\n    source: {url: not a url at all, sha256: "+strings.Repeat("a", 64)+"}\n", ""), "spec.installer.source.url",
			`must be an https URL like https://dist.example.org/7zip/7z2409-x64.msi: https://, a host name, then a path without spaces; got "not a url at all"`},
		{"http url", doc("    type: msi\n    source: {url: \"http://dist.example.org/a.msi\", sha256: "+strings.Repeat("a", 64)+"}\n", ""), "spec.installer.source.url",
			`must be an https URL like https://dist.example.org/7zip/7z2409-x64.msi: https://, a host name, then a path without spaces; got "http://dist.example.org/a.msi"`},
		{"http url allowed", doc("    type: msi\n    source: {url: \"http://dist.example.org/a.msi\", sha256: "+strings.Repeat("A", 64)+", allowHTTP: true}\n", ""), "", ""},
		{"guid of dashes", doc("    type: msi\n    detect: {productCode: \"{"+strings.Repeat("-", 36)+"}\"}\n", ""), "spec.installer.detect.productCode",
			`must be a GUID in braces like {23170F69-40C1-2702-2409-000001000000}: 32 hex digits in groups of 8, 4, 4, 4 and 12; got "{------------------------------------}"`},
		{"minVersion", doc("    type: script\n", "  dependencies: [{product: q, minVersion: latest please}]\n"), "spec.dependencies[0].minVersion",
			`must be a version like 24.8.2 or 8.6.9: digits, letters and the characters + _ - and dot, starting with a digit or letter, without spaces; got "latest please"`},
		{"exe without family", doc("    type: exe\n", ""), "spec.installer.installerFamily", "field is required"},
		{"package family name", doc("    type: msix\n    source: {url: \"https://d.example.org/t.msix\", sha256: "+strings.Repeat("a", 64)+"}\n    detect: {packageFamilyName: MSTeams}\n", ""), "spec.installer.detect.packageFamilyName",
			`must be an MSIX package family name like MSTeams_8wekyb3d8bbwe: the package name, an underscore and the 13-character publisher id; got "MSTeams"`},
		{"winget id", doc("    type: winget\n    wingetId: Seven Zip\n", ""), "spec.installer.wingetId",
			`must be a winget package identifier like 7zip.7zip or Mozilla.Firefox.ESR: two to eight parts separated by dots, without spaces or any of \ / : * ? " < > |; got "Seven Zip"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseDoc(t, "p.yaml", tt.src)
			cat, _ := catalog.New([]*catalog.Document{d})
			fs, err := Validate(cat, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.path == "" {
				for _, f := range fs {
					t.Errorf("unexpected finding: %s", f)
				}
				return
			}
			if len(fs) != 1 || fs[0].Path != tt.path || fs[0].Message != tt.msg {
				t.Fatalf("got %v; want one finding at %s: %s", fs, tt.path, tt.msg)
			}
			if strings.Contains(fs[0].Message, "^") {
				t.Errorf("message shows a regular expression: %s", fs[0].Message)
			}
		})
	}
}
