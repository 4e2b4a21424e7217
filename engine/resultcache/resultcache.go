// Package resultcache keeps the per-document results of `samverk validate` on disk from one
// run to the next, keyed by each file's path and content, so a run over a change to a few
// files checks only those files again.
//
// A cache directory holds one file per salt: the salt names everything other than a file's
// content that its results depend on (the schemas and samverk's build), so results made under
// other schemas or by another build are never read. Each file is replaced in one step and
// holds only the entries the last run used, so it stays as large as one catalog's results.
package resultcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/atomicfile"
	"samverk.io/samverk/engine/finding"
)

// Options bound a cache. The zero value is a working default.
type Options struct {
	// MaxBytes is the largest cache file read or written (default 64 MiB): a larger one is
	// ignored, and a run whose results would make one larger writes none.
	MaxBytes int64
	// Keep is how many cache files (one a salt) the directory keeps; the least recently
	// written beyond that are removed (default 4).
	Keep int
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Keep <= 0 {
		o.Keep = 4
	}
	return o
}

// Key names one file's content at one path.
type Key [sha256.Size]byte

// KeyOf returns the key of the file at path (slash-separated, relative to the catalog) whose
// content has the SHA-256 sum.
func KeyOf(path string, sum [sha256.Size]byte) Key {
	h := sha256.New()
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(sum[:])
	var k Key
	h.Sum(k[:0])
	return k
}

// Entry is one file's results: the findings of each of its documents, by the document's index
// in the file. A document checked without findings has a nil list; a document not checked
// has no entry.
type Entry map[int][]finding.Finding

// format is the version of the file layout; a file of another format is ignored.
const format = 1

type file struct {
	Format  int              `json:"format"`
	Salt    string           `json:"salt"`
	Entries map[string]Entry `json:"entries"`
}

// Cache is an open cache directory for one salt. It is safe for concurrent use.
type Cache struct {
	opt  Options
	path string
	salt string

	mu   sync.Mutex
	old  map[Key]Entry
	used map[Key]Entry
	hits int
	// Note says why the cache file on disk was not used, when it was not (a corrupt or
	// oversized file): the run goes on as if the cache were empty.
	Note string
}

// Open reads the cache file of salt in dir, creating dir when needed. A missing, corrupt or
// oversized file is an empty cache, never an error: the error is for a directory that cannot
// be created.
func Open(dir, salt string, opt Options) (*Cache, error) {
	opt = opt.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("result cache: %w", err)
	}
	c := &Cache{opt: opt, path: filepath.Join(dir, fileName(salt)), salt: salt, old: map[Key]Entry{}, used: map[Key]Entry{}}
	if err := c.read(); err != nil {
		c.Note = fmt.Sprintf("result cache %s ignored: %v", c.path, err)
		c.old = map[Key]Entry{}
	}
	return c, nil
}

func fileName(salt string) string {
	s := sha256.Sum256([]byte(salt))
	return "results-" + hex.EncodeToString(s[:12]) + ".json"
}

func (c *Cache) read() error {
	f, err := os.Open(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, c.opt.MaxBytes+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > c.opt.MaxBytes {
		return fmt.Errorf("over %d bytes", c.opt.MaxBytes)
	}
	var in file
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("corrupt: %w", err)
	}
	if in.Format != format || in.Salt != c.salt {
		return fmt.Errorf("format %d for %q, want format %d for %q", in.Format, in.Salt, format, c.salt)
	}
	for hk, e := range in.Entries {
		var k Key
		if n, err := hex.Decode(k[:], []byte(hk)); err != nil || n != len(k) {
			return fmt.Errorf("corrupt: key %q", hk)
		}
		c.old[k] = e
	}
	return nil
}

// Get returns the entry of key, if the cache has one.
func (c *Cache) Get(k Key) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.used[k]; ok {
		return e, true
	}
	e, ok := c.old[k]
	if ok {
		c.used[k] = e
		c.hits++
	}
	return e, ok
}

// Hits is how many keys Get found among the entries read from disk.
func (c *Cache) Hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// Put records the entry of key for Save.
func (c *Cache) Put(k Key, e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[k] = e
}

// Save replaces the cache file with the entries this run used or put, and removes the
// directory's least recently written cache files beyond Options.Keep.
func (c *Cache) Save() error {
	c.mu.Lock()
	out := file{Format: format, Salt: c.salt, Entries: make(map[string]Entry, len(c.used))}
	for k, e := range c.used {
		out.Entries[hex.EncodeToString(k[:])] = e
	}
	c.mu.Unlock()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	if int64(buf.Len()) > c.opt.MaxBytes {
		// Too large to read back: better no file than one every run ignores.
		if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("result cache: %w", err)
		}
		return nil
	}
	if err := atomicfile.WriteFile(c.path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	return c.trim()
}

// trim removes the least recently written cache files beyond Keep.
func (c *Cache) trim() error {
	dir := filepath.Dir(c.path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	type old struct {
		name string
		mod  time.Time
	}
	var files []old
	for _, e := range ents {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "results-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, old{e.Name(), info.ModTime()})
	}
	if len(files) <= c.opt.Keep {
		return nil
	}
	slices.SortFunc(files, func(a, b old) int { return b.mod.Compare(a.mod) })
	for _, f := range files[c.opt.Keep:] {
		if f.name == filepath.Base(c.path) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("result cache: %w", err)
		}
	}
	return nil
}

// Salt returns a salt for results that depend on build (samverk's version) and on the content
// of every file of each fsys (e.g. the schemas).
func Salt(build string, fsyss ...fs.FS) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", build)
	for _, fsys := range fsyss {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("result cache: salt: %w", err)
		}
		h.Write([]byte{1})
	}
	return build + "/" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}
