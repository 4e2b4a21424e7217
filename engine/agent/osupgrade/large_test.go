package osupgrade

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is a ReaderAt of size bytes that are a function of their offset: a large installer
// that is never held anywhere.
type pattern struct{ size int64 }

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := len(b)
	if rest := p.size - off; int64(n) > rest {
		n = int(rest)
	}
	for i := range n {
		x := off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// peakRSS is VmHWM of /proc/self/status in KiB (0 where unknown).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// TestDownload4GiB downloads a 4 GiB installer, cut off after 1 GiB and resumed with a range
// request, then verifies it; the process's peak RSS (server, client and hashing together)
// stays far below the file's size. It writes 4 GiB to a temporary directory, so it runs only
// with SAMVERK_BIG_DOWNLOAD=1.
func TestDownload4GiB(t *testing.T) {
	if os.Getenv("SAMVERK_BIG_DOWNLOAD") != "1" {
		t.Skip("set SAMVERK_BIG_DOWNLOAD=1 to download 4 GiB")
	}
	const size = 4 << 30
	const cut = 1 << 30
	src := pattern{size: size}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			// The first answer breaks off after 1 GiB, as a dropped connection would.
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			io.Copy(w, io.NewSectionReader(src, 0, cut))
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "big.zip", time.Time{}, io.NewSectionReader(src, 0, size))
	}))
	defer srv.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(src, 0, size)); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	before := peakRSS()
	dir := t.TempDir()

	start := time.Now()
	if _, err := Download(context.Background(), srv.Client(), srv.URL+"/big.zip", dir); err == nil {
		t.Fatal("the cut-off download succeeded")
	}
	st, err := os.Stat(dir + "/big.zip.part")
	if err != nil || st.Size() < cut/2 {
		t.Fatalf("part after the cut: %v, %v", st, err)
	}
	kept := st.Size()
	p, err := Download(context.Background(), srv.Client(), srv.URL+"/big.zip", dir)
	if err != nil {
		t.Fatal(err)
	}
	dl := time.Since(start)
	if err := Verify(p, sum); err != nil {
		t.Fatal(err)
	}
	peak := peakRSS()
	t.Logf("4 GiB: cut after %d MiB, resumed with a range request; download %s, verify %s; peak RSS %d MiB (before %d MiB)",
		kept>>20, dl.Round(time.Millisecond), (time.Since(start) - dl).Round(time.Millisecond), peak>>10, before>>10)
	if peak > 256<<10 {
		t.Errorf("peak RSS %d MiB: the download is held in memory", peak>>10)
	}
	if requests.Load() != 2 {
		t.Errorf("%d requests, want the cut one and one resume", requests.Load())
	}
}
