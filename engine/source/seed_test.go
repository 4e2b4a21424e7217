package source_test

import (
	"context"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"samverk.io/samverk/engine/source"
)

func TestSeed(t *testing.T) {
	files := fstest.MapFS{
		"README.md":                  {Data: []byte("# demo\n")},
		"os/windows.yaml":            {Data: []byte("kind: OSRelease\n")},
		"members/region-norr/a.yaml": {Data: []byte("kind: Member\n")},
		"members/region-norr-x.yaml": {Data: []byte("kind: Member\n")}, // sorts between "region-norr" and "region-norr/"
		"embed.go":                   {Data: []byte("package bundled\n")},
		"empty/.keep":                {Data: nil},
	}
	keep := func(name string) bool {
		return !strings.HasSuffix(name, ".go") && !strings.HasPrefix(filepath.Base(name), ".")
	}
	dir := filepath.Join(t.TempDir(), "bundled.git")
	h1, err := source.Seed(dir, "main", files, keep)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := source.Seed(dir, "main", files, keep)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Errorf("seeding the same files twice gave %s and %s", h1, h2)
	}

	// The seeded repository is an ordinary one: a Source follows it.
	s := open(t, source.Options{URL: dir})
	head, err := s.Fetch(context.Background())
	if err != nil || head != h1 {
		t.Fatalf("fetch = %s, %v; want %s", head, err, h1)
	}
	snap, err := s.Snapshot(head)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	fs.WalkDir(snap, ".", func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			got = append(got, p)
		}
		return err
	})
	want := []string{"README.md", "members/region-norr/a.yaml", "members/region-norr-x.yaml", "os/windows.yaml"} // fs order
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", got, want)
	}

	// git itself agrees the objects are well formed.
	if gitBin, err := exec.LookPath("git"); err == nil {
		if out, err := exec.Command(gitBin, "--git-dir", dir, "fsck", "--strict").CombinedOutput(); err != nil {
			t.Errorf("git fsck: %v\n%s", err, out)
		}
	}

	files["os/windows.yaml"] = &fstest.MapFile{Data: []byte("kind: OSRelease\n# changed\n")}
	h3, err := source.Seed(dir, "main", files, keep)
	if err != nil || h3 == h1 {
		t.Fatalf("reseed with new content = %s, %v", h3, err)
	}
	if head, err := s.Fetch(context.Background()); err != nil || head != h3 {
		t.Errorf("fetch after reseed = %s, %v; want %s", head, err, h3)
	}
}
