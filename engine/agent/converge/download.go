package converge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"samverk.io/samverk/engine/atomicfile"
)

// ErrChecksum means a downloaded installer is not the one the catalog vouches for.
var ErrChecksum = errors.New("sha256 mismatch")

// fetchInstaller makes sure the installer at rawURL is in the cache and has the given sha256,
// and returns its path. The file is hashed again before every use, so a cached copy that was
// changed on disk is caught as well. Nothing may run an installer that has not passed here.
func fetchInstaller(ctx context.Context, client *http.Client, cacheDir, rawURL, sum string) (string, error) {
	sum = strings.ToLower(strings.TrimSpace(sum))
	if sum == "" {
		return "", fmt.Errorf("installer %s has no sha256; refusing to download it", rawURL)
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("sha256 %q: want 64 hex digits", sum)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("installer url: %w", err)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" || strings.ContainsAny(name, `\:`) {
		name = "installer"
	}
	dir := filepath.Join(cacheDir, sum)
	dest := filepath.Join(dir, name)

	if got, err := hashFile(dest); err == nil {
		if got == sum {
			return dest, nil
		}
		// A cached copy that no longer matches is thrown away and fetched again.
		if err := os.Remove(dest); err != nil {
			return "", fmt.Errorf("remove stale installer: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	body, err := openURL(ctx, client, u)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", rawURL, err)
	}
	defer body.Close()
	err = atomicfile.Write(dest, 0o600, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), body); err != nil {
			return fmt.Errorf("download %s: %w", rawURL, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			return fmt.Errorf("download %s: %w: got %s, want %s", rawURL, ErrChecksum, got, sum)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	// Hash what is on disk now, the file the installer will read.
	got, err := hashFile(dest)
	if err != nil {
		return "", err
	}
	if got != sum {
		return "", fmt.Errorf("installer %s: %w: got %s, want %s", dest, ErrChecksum, got, sum)
	}
	return dest, nil
}

func openURL(ctx context.Context, client *http.Client, u *url.URL) (io.ReadCloser, error) {
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("server answered %s", resp.Status)
		}
		return resp.Body, nil
	case "file":
		p := u.Path
		if runtime.GOOS == "windows" {
			if u.Host != "" {
				p = `\\` + u.Host + filepath.FromSlash(p) // file://server/share/x.msi
			} else {
				p = filepath.FromSlash(strings.TrimPrefix(p, "/")) // file:///C:/x.msi
			}
		}
		return os.Open(p)
	}
	return nil, fmt.Errorf("scheme %q: want https, http or file", u.Scheme)
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
