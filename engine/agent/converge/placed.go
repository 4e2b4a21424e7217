package converge

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/pkgversion"
)

// Bounds of a zip archive the agent extracts: the archive is pinned by its sha256, but a
// catalog mistake must not fill a disk.
const (
	maxZipEntries = 100_000
	maxZipBytes   = 8 << 30
)

// placement is what a portable or zip installer put in its installDir, kept there in a file of
// its own so that the agent knows the version it placed and removes exactly those files.
type placement struct {
	Product string   `json:"product"`
	Version string   `json:"version"`
	Files   []string `json:"files"` // slash-separated, relative to installDir
}

func placementFile(dir, product string) string {
	return filepath.Join(dir, ".samverk-"+product+".json")
}

// installDir is where a portable or zip package goes on this system.
func (o *installers) installDir(r *desired.Resource) (string, error) {
	if r.Package.Installer.InstallDir == "" {
		return "", fmt.Errorf("%s installer has no installDir", r.Package.Installer.Type)
	}
	return managedPath(o.root, r.Package.Installer.InstallDir)
}

func readPlacement(dir, product string) (*placement, error) {
	b, err := os.ReadFile(placementFile(dir, product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p placement
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", placementFile(dir, product), err)
	}
	return &p, nil
}

// placedDetect says a portable or zip package is installed when its placement names this
// version and every file it placed is still there.
func (o *installers) placedDetect(r *desired.Resource) (bool, error) {
	dir, err := o.installDir(r)
	if err != nil {
		return false, err
	}
	p, err := readPlacement(dir, r.Package.Product)
	if err != nil || p == nil {
		return false, err
	}
	if pkgversion.Compare(p.Version, r.Package.Version) != 0 {
		return false, nil
	}
	for _, f := range p.Files {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// place copies a portable executable, or extracts a zip archive, into installDir, replacing
// what an earlier version placed there.
func (o *installers) place(r *desired.Resource, file string) error {
	inst := &r.Package.Installer
	if file == "" {
		return fmt.Errorf("%s installer has no url to install from", inst.Type)
	}
	dir, err := o.installDir(r)
	if err != nil {
		return err
	}
	if err := o.unplace(r); err != nil {
		return fmt.Errorf("remove the version placed before: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var files []string
	switch inst.Type {
	case installerPortable:
		name := inst.FileName
		if name == "" {
			name = urlBase(inst.URL)
		}
		if name == "" || name != filepath.Base(name) || strings.ContainsAny(name, `/\:`) {
			return fmt.Errorf("portable installer: %q is not a file name; set fileName", name)
		}
		if err := copyFile(file, filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		files = []string{name}
	case installerZip:
		files, err = extractZip(file, dir, inst.Extract)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("installer type %q places no files", inst.Type)
	}
	b, err := json.MarshalIndent(placement{Product: r.Package.Product, Version: r.Package.Version, Files: files}, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(placementFile(dir, r.Package.Product), append(b, '\n'), 0o644)
}

// unplace removes the files a portable or zip installer placed, the folders that are empty
// afterwards (installDir too) and the placement itself. Files it did not place stay.
func (o *installers) unplace(r *desired.Resource) error {
	dir, err := o.installDir(r)
	if err != nil {
		return err
	}
	p, err := readPlacement(dir, r.Package.Product)
	if err != nil || p == nil {
		return err
	}
	dirs := map[string]bool{}
	for _, f := range p.Files {
		target, err := within(dir, f)
		if err != nil {
			return err
		}
		if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for d := path.Dir(f); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	if err := os.Remove(placementFile(dir, r.Package.Product)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Deepest first, so that a folder is empty once its subfolders are gone.
	order := make([]string, 0, len(dirs))
	for d := range dirs {
		order = append(order, d)
	}
	slices.SortFunc(order, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range order {
		_ = os.Remove(filepath.Join(dir, filepath.FromSlash(d))) // fails, rightly, when not empty
	}
	_ = os.Remove(dir)
	return nil
}

// extractZip extracts the entries of the archive at file that match the patterns (all when
// there are none) into dir, and returns their names. An entry that would land outside dir,
// too many entries or too many bytes refuse the whole archive.
func extractZip(file, dir string, patterns []string) ([]string, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	defer zr.Close()
	if len(zr.File) > maxZipEntries {
		return nil, fmt.Errorf("zip: %d entries, over the limit of %d", len(zr.File), maxZipEntries)
	}
	var todo []*zip.File
	var total uint64
	for _, f := range zr.File {
		name := strings.ReplaceAll(f.Name, `\`, "/")
		if f.FileInfo().IsDir() || !wanted(name, patterns) {
			continue
		}
		if _, err := within(dir, name); err != nil {
			return nil, fmt.Errorf("zip: %w", err)
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("zip: entry %s is a symbolic link", name)
		}
		total += f.UncompressedSize64
		if total > maxZipBytes {
			return nil, fmt.Errorf("zip: more than %d bytes to extract", uint64(maxZipBytes))
		}
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("zip: no entry matches %s", strings.Join(patterns, ", "))
	}
	names := make([]string, 0, len(todo))
	for _, f := range todo {
		name := strings.ReplaceAll(f.Name, `\`, "/")
		target, _ := within(dir, name)
		if err := extractEntry(f, target); err != nil {
			return nil, fmt.Errorf("zip: %s: %w", name, err)
		}
		names = append(names, path.Clean(name))
	}
	return names, nil
}

func extractEntry(f *zip.File, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	mode := f.Mode().Perm()
	if mode == 0 {
		mode = 0o644
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".samverk-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// The declared size bounds the copy: an entry that inflates to more is refused.
	n, err := io.Copy(tmp, io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err == nil && uint64(n) > f.UncompressedSize64 {
		err = errors.New("larger than the archive declares")
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// wanted reports whether a zip entry matches one of the patterns: a path.Match pattern, or a
// folder whose entries are all wanted.
func wanted(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		p = strings.ReplaceAll(p, `\`, "/")
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if dir := strings.TrimSuffix(p, "/"); !strings.ContainsAny(dir, "*?[") && strings.HasPrefix(name, dir+"/") {
			return true
		}
	}
	return false
}

// within returns the path of the slash-separated relative name inside dir, refusing names
// that are absolute or climb out.
func within(dir, name string) (string, error) {
	c := path.Clean(name)
	if name == "" || path.IsAbs(name) || strings.Contains(name, ":") || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q would land outside the install folder", name)
	}
	return filepath.Join(dir, filepath.FromSlash(c)), nil
}

func urlBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	b := path.Base(u.Path)
	if b == "." || b == "/" {
		return ""
	}
	return b
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(to), ".samverk-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), to)
}

func replaceFile(to string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(to), ".samverk-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), to)
}
