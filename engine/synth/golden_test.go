package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/resultcache"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/policies"
)

// plantings are edits to a generated file's text, each of which makes the catalog wrong in
// its own way: a schema type or enum error, an unknown field, a dangling reference, a YAML
// syntax error, a policy violation, a duplicate document, a bad apiVersion. Each is made at
// its first match only; a file the edit does not match stays as it was.
var plantings = []struct{ old, new string }{
	{"  lifecycle:\n    stage: ", "  lifecycle:\n    stage: shipped-"},
	{"  version: \"", "  version: 12\n  versionWas: \""},
	{"\nspec:\n", "\nspec:\n  unknownField: 1\n"},
	{"windows-11-24h2", "windows-11-99h9"},
	{"\nkind: ", "\nkind: [unclosed\n"},
	{"https://evidence", "http://evidence"},
	{"\n  owner: ", "\n  ownerWas: "},
	{"apiVersion: samverk.io/v1", "apiVersion: samverk.io/v0"},
	{"date: \"20", "date: \"0"},
	{"\nspec:\n", "\nspec: 42\nspecWas:\n"},
	{"certified", "sertified"},
	{"osRelease: ", "osRelease: retired-"},
	{"        result: pass", "        result: fail"},
	{"    stage: retired", "    stage: approved"},
	{"          outcome: pass", "          outcome: fail"},
	{"      status: certified", "      status: withdrawn"},
}

// planted generates the default catalog and plants an error in every 23rd file, the kind of
// error turning with the file.
func planted(t testing.TB, opt Options) fstest.MapFS {
	t.Helper()
	fsys, _, err := FS(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range slices.Sorted(maps.Keys(fsys)) {
		if i%23 != 0 {
			continue
		}
		p := plantings[(i/23)%len(plantings)]
		fsys[name].Data = []byte(strings.Replace(string(fsys[name].Data), p.old, p.new, 1))
	}
	// A second copy of a file: every document in it is a duplicate.
	for _, name := range slices.Sorted(maps.Keys(fsys)) {
		if strings.HasPrefix(name, "packages/") {
			fsys["packages/zz-copy.yaml"] = &fstest.MapFile{Data: fsys[name].Data, Mode: 0o644, ModTime: Reference}
			break
		}
	}
	return fsys
}

// TestReportGolden validates the default synthetic catalog with errors planted in it, with
// the bundled policies and the clock at Reference, and compares the JSON report (all but its
// duration) with testdata/report.golden.json (SAMVERK_UPDATE=1 rewrites it). Whatever makes
// validation faster must leave every finding, message and position as it was. The run goes
// through an empty result cache, then again through the cache it filled: the report is the
// same each time.
func TestReportGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 documents: slow in -short")
	}
	pol, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	fsys := planted(t, Options{})
	golden := filepath.Join("testdata", "report.golden.json")
	cacheDir := t.TempDir()
	for _, run := range []string{"no cache", "cold cache", "warm cache"} {
		opt := validate.Options{Policies: pol, Now: func() time.Time { return Reference }}
		var rc *resultcache.Cache
		if run != "no cache" {
			if rc, err = resultcache.Open(cacheDir, "golden", resultcache.Options{}); err != nil {
				t.Fatal(err)
			}
			opt.Results = rc
		}
		res, err := validate.FS(context.Background(), fsys, opt)
		if err != nil {
			t.Fatal(err)
		}
		if rc != nil {
			if err := rc.Save(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %v", run, time.Duration(res.Report.Duration))
		checkGolden(t, res.Report, golden)
		if run == "no cache" && os.Getenv("SAMVERK_UPDATE") == "1" {
			return
		}
	}
}

// TestResultCacheChangedFiles changes files between runs through one result cache: each
// report equals that of a run without the cache.
func TestResultCacheChangedFiles(t *testing.T) {
	pol, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	fsys := planted(t, Options{Documents: 1000, Members: 12, Seed: 7})
	names := slices.Sorted(maps.Keys(fsys))
	cacheDir := t.TempDir()
	report := func(rc *resultcache.Cache) []byte {
		t.Helper()
		res, err := validate.FS(context.Background(), fsys, validate.Options{Policies: pol, Now: func() time.Time { return Reference }, Results: rc})
		if err != nil {
			t.Fatal(err)
		}
		res.Report.Duration = 0
		b, err := json.MarshalIndent(res.Report, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edits := []struct {
		name     string
		old, new string
	}{
		{"fix nothing, break a field", "\nspec:\n", "\nspec:\n  unknownField: 1\n"},
		{"undo it", "\nspec:\n  unknownField: 1\n", "\nspec:\n"},
		{"add a document", "", "---\napiVersion: samverk.io/v1\nkind: Member\nmetadata:\n  name: added\nspec: {}\n"},
		{"break the YAML", "\nkind: ", "\nkind: [\n"},
	}
	for i, ed := range edits {
		name := names[(i*37)%len(names)]
		if i == 1 {
			name = names[0]
		}
		if i == 0 {
			name = names[0]
		}
		data := string(fsys[name].Data)
		if ed.old == "" {
			data += ed.new
		} else {
			data = strings.Replace(data, ed.old, ed.new, 1)
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644, ModTime: Reference}
		rc, err := resultcache.Open(cacheDir, "changed", resultcache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := report(rc)
		if err := rc.Save(); err != nil {
			t.Fatal(err)
		}
		// Every file but the one changed comes from the cache after the first run.
		if i > 0 && rc.Hits() < len(names)/2 {
			t.Errorf("%s: %d of %d files from the cache", ed.name, rc.Hits(), len(names))
		}
		if want := report(nil); !bytes.Equal(got, want) {
			t.Errorf("%s (%s): the report through the cache differs from the one without", ed.name, name)
		}
	}
}

func checkGolden(t *testing.T, rep *validate.Report, path string) {
	t.Helper()
	rep.Duration = 0
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if os.Getenv("SAMVERK_UPDATE") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (SAMVERK_UPDATE=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs (SAMVERK_UPDATE=1 rewrites it), first at line %d:\n got: %s\nwant: %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs (SAMVERK_UPDATE=1 rewrites it): %d lines, want %d", path, len(gl), len(wl))
	}
}
