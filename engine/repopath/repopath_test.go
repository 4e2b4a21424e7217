package repopath_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"samverk.io/samverk/engine/repopath"
	"samverk.io/samverk/engine/source/gittest"
)

func TestPrefix(t *testing.T) {
	repo := gittest.New(t)
	repo.Write(map[string]string{"catalog/members/a/member.yaml": "x\n", "deep/er/catalog/x.yaml": "x\n"})
	// A linked worktree or a submodule has a .git file instead of a directory.
	linked := filepath.Join(repo.Dir, "vendor", "shared")
	if err := os.MkdirAll(filepath.Join(linked, "catalog"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(linked, ".git"), []byte("gitdir: ../../.git/modules/shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	link := filepath.Join(outside, "link")
	if err := os.Symlink(filepath.Join(repo.Dir, "deep", "er"), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
		err             error
	}{
		{"top level", repo.Dir, "", nil},
		{"catalog folder", filepath.Join(repo.Dir, "catalog"), "catalog", nil},
		{"deeper, unclean", filepath.Join(repo.Dir, "deep", "er", "..", "er", "catalog") + "/", "deep/er/catalog", nil},
		{"inside the catalog", filepath.Join(repo.Dir, "catalog", "members", "a"), "catalog/members/a", nil},
		{"linked worktree", filepath.Join(linked, "catalog"), "catalog", nil},
		{"through a symbolic link", filepath.Join(link, "catalog"), "deep/er/catalog", nil},
		{"outside any repository", outside, "", repopath.ErrNoRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repopath.Prefix(tt.dir)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Prefix(%s) error = %v, want %v", tt.dir, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Prefix(%s) = %q, want %q", tt.dir, got, tt.want)
			}
		})
	}
}

func TestPrefixRelative(t *testing.T) {
	repo := gittest.New(t)
	repo.Write(map[string]string{"catalog/x.yaml": "x\n"})
	t.Chdir(filepath.Join(repo.Dir, "catalog"))
	for dir, want := range map[string]string{".": "catalog", "..": "", "../catalog": "catalog"} {
		got, err := repopath.Prefix(dir)
		if err != nil || got != want {
			t.Errorf("Prefix(%q) from catalog/ = %q, %v; want %q", dir, got, err, want)
		}
	}
	root, err := repopath.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(repo.Dir)
	if root != want {
		t.Errorf("Root = %s, want %s", root, want)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ prefix, file, want string }{
		{"catalog", "members/a/member.yaml", "catalog/members/a/member.yaml"},
		{"catalog/", "x.yaml", "catalog/x.yaml"},
		{"./catalog", "x.yaml", "catalog/x.yaml"},
		{"", "x.yaml", "x.yaml"},
		{".", "x.yaml", "x.yaml"},
		{"catalog", "", ""},
	}
	for _, tt := range tests {
		if got := repopath.Join(tt.prefix, tt.file); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.prefix, tt.file, got, tt.want)
		}
	}
}
