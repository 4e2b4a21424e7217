package synth

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/refs"
)

var (
	synthOut  = flag.String("synth.out", "", "write a synthetic catalog into this directory (TestWriteSynth)")
	synthDocs = flag.Int("synth.docs", 10_000, "documents in the catalog TestWriteSynth writes")
	synthSeed = flag.Int64("synth.seed", 1, "seed of the catalog TestWriteSynth writes")
)

// TestWriteSynth writes a catalog to disk for the Makefile's synth target:
//
//	go test ./engine/synth -run TestWriteSynth -synth.out=DIR [-synth.docs=N] [-synth.seed=S]
func TestWriteSynth(t *testing.T) {
	if *synthOut == "" {
		t.Skip("-synth.out not set")
	}
	st, err := Write(*synthOut, Options{Documents: *synthDocs, Seed: *synthSeed})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d documents in %d files (%d bytes) to %s", st.Documents, st.Files, st.Bytes, *synthOut)
}

// load generates a catalog and loads it, failing on any load finding.
func load(t testing.TB, opt Options) (*catalog.Catalog, Stats) {
	t.Helper()
	fsys, st, err := FS(opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("load: %s", f)
	}
	return res.Catalog, st
}

func TestGenerate(t *testing.T) {
	tests := []Options{
		{}, // the default: 10,000 documents, 45 members
		{Documents: 1000, Members: 12, Seed: 7},
		{Documents: 250, Members: 50, Seed: 3}, // more members than some lists of names hold
	}
	for _, opt := range tests {
		t.Run(fmt.Sprintf("docs=%d,members=%d", opt.Documents, opt.Members), func(t *testing.T) {
			if testing.Short() && opt.Documents == 0 {
				t.Skip("10,000 documents: slow in -short")
			}
			cat, st := load(t, opt)
			want := opt.withDefaults()
			if cat.Len() != want.Documents || st.Documents != want.Documents {
				t.Errorf("catalog has %d documents (stats say %d), want %d", cat.Len(), st.Documents, want.Documents)
			}
			if n := len(cat.OfKind(catalog.KindMember)); n != want.Members {
				t.Errorf("catalog has %d members, want %d", n, want.Members)
			}
			for _, kind := range catalog.Kinds {
				if got := len(cat.OfKind(kind)); got != st.ByKind[kind] || got == 0 {
					t.Errorf("%s: catalog has %d, stats say %d", kind, got, st.ByKind[kind])
				}
			}
			for _, f := range refs.Check(cat) {
				t.Errorf("refs: %s", f)
			}
			validateCUE(t, cat)
			checkPolicyIntents(t, cat)
		})
	}
}

func TestProportions(t *testing.T) {
	files, st, err := Files(Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		catalog.KindOSRelease: 8, catalog.KindMember: 45, catalog.KindHardwareModel: 300,
		catalog.KindPackage: 6206, catalog.KindBaseline: 40, catalog.KindService: 200,
		catalog.KindDeviceGroup: 3100, catalog.KindWaiver: 100, catalog.KindRolloutPolicy: 1,
	}
	for kind, n := range want {
		if st.ByKind[kind] != n {
			t.Errorf("%s: %d documents, want %d", kind, st.ByKind[kind], n)
		}
	}
	if st.Products < 1000 || st.Products > 2000 {
		t.Errorf("%d products for 6206 packages; want about four versions a product", st.Products)
	}
	if st.Files != len(files) || st.Files >= st.Documents/2 {
		t.Errorf("%d files (stats say %d) for %d documents; packages and device groups should share files", len(files), st.Files, st.Documents)
	}
}

func TestDeterministic(t *testing.T) {
	a, _, err := Files(Options{Documents: 500, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Files(Options{Documents: 500, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Files(Options{Documents: 500, Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("same seed: %d files, then %d", len(a), len(b))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Fatalf("same seed: %s differs", name)
		}
	}
	same := len(a) == len(c)
	for name, data := range a {
		same = same && bytes.Equal(data, c[name])
	}
	if same {
		t.Error("seeds 42 and 43 gave the same catalog")
	}
}

func TestTooFewDocuments(t *testing.T) {
	if _, _, err := Files(Options{Documents: 100, Members: 45}); err == nil {
		t.Error("100 documents for 45 members: want an error")
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "catalog")
	st, err := Write(dir, Options{Documents: 400, Members: 6, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	res, err := catalog.LoadDir(dir, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 {
		t.Errorf("load: %v", res.Findings[0])
	}
	if res.Catalog.Len() != 400 || res.Files != st.Files {
		t.Errorf("loaded %d documents from %d files; want 400 from %d", res.Catalog.Len(), res.Files, st.Files)
	}
	if _, err := Write(dir, Options{Documents: 400}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("second Write into %s: err = %v, want ErrNotEmpty", dir, err)
	}
}

// schemaErrors checks every document against its kind's definition in schemas/*.cue and
// returns one error per document that fails. A CUE context is not safe for concurrent use, so
// each worker builds the schemas in its own.
func schemaErrors(t *testing.T, docs []*catalog.Document) []error {
	t.Helper()
	files, err := filepath.Glob("../../schemas/*.cue")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas: %v", err)
	}
	srcs := make(map[string][]byte, len(files))
	for _, f := range files {
		if srcs[f], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	compile := func() (*cue.Context, map[string]cue.Value, error) {
		inst := build.NewContext().NewInstance("schemas", nil)
		for _, f := range files {
			file, err := parser.ParseFile(f, srcs[f])
			if err != nil {
				return nil, nil, err
			}
			if err := inst.AddSyntax(file); err != nil {
				return nil, nil, err
			}
		}
		ctx := cuecontext.New()
		schemas := ctx.BuildInstance(inst)
		if err := schemas.Err(); err != nil {
			return nil, nil, err
		}
		defs := map[string]cue.Value{}
		for _, kind := range catalog.Kinds {
			if defs[kind] = schemas.LookupPath(cue.ParsePath("#" + kind)); !defs[kind].Exists() {
				return nil, nil, fmt.Errorf("schemas define no #%s", kind)
			}
		}
		return ctx, defs, nil
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(docs)/500))
	errs := make([]error, len(docs))
	setup := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx, defs, err := compile()
			if err != nil {
				setup[w] = err
				return
			}
			for i := w; i < len(docs); i += workers {
				d := docs[i]
				if err := defs[d.Kind].Unify(ctx.Encode(d.Object)).Validate(cue.Concrete(true)); err != nil {
					errs[i] = fmt.Errorf("%s (%s): %w", d.Ref(), d.File, err)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range setup {
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

func validateCUE(t *testing.T, cat *catalog.Catalog) {
	t.Helper()
	errs := schemaErrors(t, cat.Docs)
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... %d documents fail the schema in all", len(errs))
			break
		}
		t.Error(err)
	}
}

// TestSchemaCheckCatches makes sure the schema check above can fail: documents the schema
// refuses must come back as errors.
func TestSchemaCheckCatches(t *testing.T) {
	cat, _ := load(t, Options{Documents: 300, Members: 5, Seed: 9})
	var broken []*catalog.Document
	for _, kind := range catalog.Kinds {
		d := *cat.OfKind(kind)[0]
		d.Object = map[string]any{}
		for k, v := range cat.OfKind(kind)[0].Object {
			d.Object[k] = v
		}
		d.Object["spec"] = map[string]any{"unknownField": "x"}
		broken = append(broken, &d)
	}
	if errs := schemaErrors(t, broken); len(errs) != len(broken) {
		t.Errorf("%d of %d broken documents fail the schema: %v", len(errs), len(broken), errs)
	}
}

var (
	httpsRE  = regexp.MustCompile(`^https://\S+$`)
	dateRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	guidRE   = regexp.MustCompile(`^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$`)
)

// checkPolicyIntents holds the content to what the consortium's policies will require, so the
// synthetic catalog passes them too.
func checkPolicyIntents(t *testing.T, cat *catalog.Catalog) {
	t.Helper()
	errorf := func(d *catalog.Document, format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s", d.Ref(), fmt.Sprintf(format, args...))
	}
	for _, d := range cat.OfKind(catalog.KindPackage) {
		var s catalog.PackageSpec
		if err := d.DecodeSpec(&s); err != nil {
			t.Fatal(err)
		}
		if s.Lifecycle.Stage == catalog.StageApproved {
			passed := map[string]bool{}
			for _, r := range s.Lifecycle.Records {
				if r.Result == "pass" && httpsRE.MatchString(r.Evidence) {
					passed[r.Stage] = true
				}
			}
			if !passed[catalog.StageInfraTest] || !passed[catalog.StageUserTest] {
				errorf(d, "approved without passing infra-test and user-test records with https evidence")
			}
		}
		if src := s.Installer.Source; src != nil && !sha256RE.MatchString(src.SHA256) {
			errorf(d, "installer source without a sha256")
		}
		if s.Installer.Type == "msi" && (s.Installer.Detect == nil || !guidRE.MatchString(s.Installer.Detect.ProductCode)) {
			errorf(d, "msi installer without detect.productCode")
		}
	}
	for _, d := range cat.OfKind(catalog.KindHardwareModel) {
		var s catalog.HardwareModelSpec
		if err := d.DecodeSpec(&s); err != nil {
			t.Fatal(err)
		}
		for _, c := range s.Certifications {
			if c.Status == "certified" && (c.Member == "" || !dateRE.MatchString(c.Date) || !httpsRE.MatchString(c.Evidence)) {
				errorf(d, "certification for %s lacks member, date or https evidence", c.OSRelease)
			}
		}
	}
	services := map[string]catalog.ServiceSpec{}
	for _, d := range cat.OfKind(catalog.KindService) {
		var s catalog.ServiceSpec
		if err := d.DecodeSpec(&s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Delivers.Entitlements {
			if e.Sensitive && s.Approval == "none" {
				errorf(d, "sensitive entitlement %s without approval", e.Name)
			}
		}
		if s.Duration.Type == "time-limited" && s.Duration.MaxDays == 0 {
			errorf(d, "time-limited without maxDays")
		}
		services[d.Name] = s
	}
	memberType := map[string]string{}
	for _, d := range cat.OfKind(catalog.KindMember) {
		var s catalog.MemberSpec
		if err := d.DecodeSpec(&s); err != nil {
			t.Fatal(err)
		}
		memberType[d.Name] = s.Type
	}
	for _, d := range cat.OfKind(catalog.KindDeviceGroup) {
		var s catalog.DeviceGroupSpec
		if err := d.DecodeSpec(&s); err != nil {
			t.Fatal(err)
		}
		for _, name := range s.Services {
			svc := services[name]
			if svc.Approval != "none" || svc.Duration.Type != "permanent" {
				errorf(d, "lists service %s, which is not standard (approval %s, duration %s)", name, svc.Approval, svc.Duration.Type)
			}
			rb := svc.RequestableBy
			if (len(rb.MemberTypes) > 0 || len(rb.Members) > 0) && !slices.Contains(rb.MemberTypes, memberType[d.Namespace]) && !slices.Contains(rb.Members, d.Namespace) {
				errorf(d, "lists service %s, which its member may not order", name)
			}
		}
	}
}
