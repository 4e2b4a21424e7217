package osupgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrChecksum means a downloaded installer is not the one the catalog vouches for.
var ErrChecksum = errors.New("sha256 mismatch")

// MaxDownload bounds an installer download: setup media of a Windows release are about 6 GiB.
const MaxDownload = 16 << 30

// Download fetches rawURL into dir and returns the file's path. The body is streamed to disk,
// never held in memory. A partial file from an interrupted download (name.part) is resumed
// with an HTTP range request; a server that ignores the range (200) sends the whole file again,
// and one that answers 416 for a complete part has nothing more to send.
func Download(ctx context.Context, client *http.Client, rawURL, dir string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("url %s: want https or http", rawURL)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" || strings.ContainsAny(name, `\:`) {
		name = "installer"
	}
	dest := filepath.Join(dir, name)
	if _, err := os.Stat(dest); err == nil {
		return dest, nil // complete; Verify decides whether it is the right one
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if start := rangeStart(resp.Header.Get("Content-Range")); start != have {
			return "", fmt.Errorf("server resumed at byte %d, not %d", start, have)
		}
	case http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return "", err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		have = 0
	case http.StatusRequestedRangeNotSatisfiable:
		if have == 0 {
			return "", fmt.Errorf("server answered %s", resp.Status)
		}
		// The part is complete already.
	default:
		return "", fmt.Errorf("server answered %s", resp.Status)
	}
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		n, err := io.Copy(f, io.LimitReader(resp.Body, MaxDownload-have+1))
		if err != nil {
			return "", err // the part stays for the next try
		}
		if have+n > MaxDownload {
			_ = os.Remove(part)
			return "", fmt.Errorf("larger than %d bytes", int64(MaxDownload))
		}
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(part, dest); err != nil {
		return "", err
	}
	return dest, nil
}

// rangeStart reads the first byte of "bytes 100-199/200", -1 if it cannot.
func rangeStart(cr string) int64 {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Verify checks a file against a sha256 (hex), reading it as a stream.
func Verify(p, sum string) error {
	sum = strings.ToLower(strings.TrimSpace(sum))
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("sha256 %q: want 64 hex digits", sum)
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s: %w: got %s, want %s", filepath.Base(p), ErrChecksum, got, sum)
	}
	return nil
}
