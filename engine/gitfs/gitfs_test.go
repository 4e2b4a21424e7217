package gitfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"samverk.io/samverk/engine/gitfs"
)

// commitFiles writes files (path → content; a content starting with "->" is a symlink target)
// into the repository's working tree, replacing what was there, and commits them.
func commitFiles(t *testing.T, repo *git.Repository, dir string, files map[string]string) plumbing.Hash {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if len(content) > 2 && content[:2] == "->" {
			if err := os.Symlink(content[2:], full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.org", When: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	h, err := wt.Commit("test commit", &git.CommitOptions{Author: sig, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func initRepo(t *testing.T) (*git.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return repo, dir
}

func TestSnapshotIsAnFS(t *testing.T) {
	repo, dir := initRepo(t)
	files := map[string]string{
		"README.md":                        "# catalog\n",
		"hardware/dell/latitude-5450.yaml": "kind: HardwareModel\n",
		"hardware/hp/elitebook.yaml":       "kind: HardwareModel\n",
		"packages/firefox/128.0.yaml":      "kind: Package\n",
		"empty.yaml":                       "",
	}
	h := commitFiles(t, repo, dir, files)
	fsys, err := gitfs.Snapshot(repo, h)
	if err != nil {
		t.Fatal(err)
	}
	if fsys.Commit() != h {
		t.Errorf("Commit() = %s, want %s", fsys.Commit(), h)
	}
	if err := fstest.TestFS(fsys, "README.md", "hardware/dell/latitude-5450.yaml", "hardware/hp/elitebook.yaml", "packages/firefox/128.0.yaml", "empty.yaml"); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
		info, err := fs.Stat(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() != int64(len(want)) {
			t.Errorf("%s size = %d, want %d", name, info.Size(), len(want))
		}
		if !info.ModTime().Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("%s mtime = %v, want the commit time", name, info.ModTime())
		}
	}
}

func TestSnapshotIsImmutable(t *testing.T) {
	repo, dir := initRepo(t)
	first := commitFiles(t, repo, dir, map[string]string{"a.yaml": "one\n", "b/c.yaml": "two\n"})
	fsys, err := gitfs.Snapshot(repo, first)
	if err != nil {
		t.Fatal(err)
	}
	// The working tree and the branch move on; the snapshot does not.
	commitFiles(t, repo, dir, map[string]string{"a.yaml": "changed\n", "d.yaml": "new\n"})
	got, err := fs.ReadFile(fsys, "a.yaml")
	if err != nil || string(got) != "one\n" {
		t.Errorf("a.yaml = %q, %v; want the first commit's content", got, err)
	}
	if _, err := fs.Stat(fsys, "d.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("d.yaml in the old snapshot: err = %v, want not exist", err)
	}
	if _, err := fs.Stat(fsys, "b/c.yaml"); err != nil {
		t.Errorf("b/c.yaml: %v", err)
	}
}

func TestSymlinksAreNeverFollowed(t *testing.T) {
	repo, dir := initRepo(t)
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(outside, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := commitFiles(t, repo, dir, map[string]string{
		"real.yaml":    "kind: Package\n",
		"inside.yaml":  "->real.yaml",
		"escape.yaml":  "->" + outside,
		"dotdot.yaml":  "->../../etc/passwd",
		"sub/dir.yaml": "kind: Member\n",
		"linkdir":      "->sub",
	})
	fsys, err := gitfs.Snapshot(repo, h)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, target string
	}{
		{"inside.yaml", "real.yaml"},
		{"escape.yaml", ""}, // go-git's worktree rewrites absolute targets; only the mode matters
		{"dotdot.yaml", "../../etc/passwd"},
		{"linkdir", "sub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fsys.Open(tt.name)
			if !errors.Is(err, gitfs.ErrSymlink) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open: err = %v, want ErrSymlink (and fs.ErrNotExist)", err)
			}
			if _, err := fs.ReadFile(fsys, tt.name); err == nil {
				t.Error("ReadFile followed the link")
			}
			info, err := fs.Stat(fsys, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("Stat mode = %v, want a symlink", info.Mode())
			}
			target, err := fs.ReadLink(fsys, tt.name)
			if err != nil || (tt.target != "" && target != tt.target) {
				t.Errorf("ReadLink = %q, %v; want %q", target, err, tt.target)
			}
			if _, err := fsys.ReadDir(tt.name); err == nil {
				t.Error("ReadDir through a link succeeded")
			}
		})
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			links = append(links, e.Name())
		}
	}
	if len(links) != 4 {
		t.Errorf("ReadDir reported links %v, want 4", links)
	}
	// Walking does not descend into a linked directory.
	var walked []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		walked = append(walked, p)
		return nil
	})
	for _, p := range walked {
		if p == "linkdir/dir.yaml" {
			t.Error("walk followed linkdir")
		}
	}
}

func TestInvalidPaths(t *testing.T) {
	repo, dir := initRepo(t)
	h := commitFiles(t, repo, dir, map[string]string{"a/b.yaml": "x\n"})
	fsys, err := gitfs.Snapshot(repo, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../a/b.yaml", "/a/b.yaml", "a/../a/b.yaml", "a//b.yaml", "a/b.yaml/", ""} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q): err = %v, want fs.ErrInvalid", name, err)
		}
	}
	if _, err := fsys.ReadFile("a"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
	f, err := fsys.Open("a/b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if string(b) != "x\n" {
		t.Errorf("read %q", b)
	}
}

func TestOpenRev(t *testing.T) {
	repo, dir := initRepo(t)
	first := commitFiles(t, repo, dir, map[string]string{"v.yaml": "1\n"})
	second := commitFiles(t, repo, dir, map[string]string{"v.yaml": "2\n"})
	if _, err := repo.CreateTag("v1", first, nil); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	branch := head.Name().Short()
	tests := []struct {
		rev     string
		want    plumbing.Hash
		content string
	}{
		{"HEAD", second, "2\n"},
		{branch, second, "2\n"},
		{"v1", first, "1\n"},
		{"HEAD~1", first, "1\n"},
		{first.String(), first, "1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.rev, func(t *testing.T) {
			fsys, h, err := gitfs.OpenRev(dir, tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want {
				t.Errorf("resolved to %s, want %s", h, tt.want)
			}
			b, err := fs.ReadFile(fsys, "v.yaml")
			if err != nil || string(b) != tt.content {
				t.Errorf("v.yaml = %q, %v; want %q", b, err, tt.content)
			}
		})
	}
	if _, _, err := gitfs.OpenRev(dir, "no-such-branch"); err == nil {
		t.Error("OpenRev of a missing revision succeeded")
	}
	if _, _, err := gitfs.OpenRev(t.TempDir(), "HEAD"); err == nil {
		t.Error("OpenRev of a directory that is no repository succeeded")
	}
}

func TestOpenRevBare(t *testing.T) {
	repo, dir := initRepo(t)
	h := commitFiles(t, repo, dir, map[string]string{"x.yaml": "bare\n"})
	bare := t.TempDir()
	if _, err := git.PlainClone(bare, true, &git.CloneOptions{URL: dir}); err != nil {
		t.Fatal(err)
	}
	fsys, got, err := gitfs.OpenRev(bare, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Errorf("resolved to %s, want %s", got, h)
	}
	if b, err := fs.ReadFile(fsys, "x.yaml"); err != nil || string(b) != "bare\n" {
		t.Errorf("x.yaml = %q, %v", b, err)
	}
}

func TestConcurrentReads(t *testing.T) {
	repo, dir := initRepo(t)
	files := map[string]string{}
	for i := range 50 {
		files[filepath.ToSlash(filepath.Join("d", string(rune('a'+i%26)), "f"+string(rune('a'+i/26))+".yaml"))] = "content\n"
	}
	h := commitFiles(t, repo, dir, files)
	fsys, err := gitfs.Snapshot(repo, h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 8 {
		go func() {
			for name := range files {
				if _, err := fs.Stat(fsys, name); err != nil {
					done <- err
					return
				}
				if _, err := fs.ReadFile(fsys, name); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
