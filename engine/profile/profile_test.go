package profile_test

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	samprof "samverk.io/samverk/engine/profile"
)

func TestStartWritesBothProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	stop, err := samprof.Start(samprof.Options{CPU: cpu, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	var keep [][]byte
	for i := range 1000 {
		keep = append(keep, make([]byte, 1024+i))
	}
	_ = keep
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cpu, mem} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		// A profile is a gzip-compressed protocol buffer.
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		n, err := io.Copy(io.Discard, zr)
		f.Close()
		if err != nil || n == 0 {
			t.Errorf("%s: %d bytes, %v", p, n, err)
		}
	}
}

func TestStartNoneWritesNothing(t *testing.T) {
	dir := t.TempDir()
	stop, err := samprof.Start(samprof.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("wrote %d files", len(ents))
	}
}

func TestStartUnwritablePath(t *testing.T) {
	_, err := samprof.Start(samprof.Options{CPU: filepath.Join(t.TempDir(), "missing", "cpu.pprof")})
	if err == nil || !strings.Contains(err.Error(), "cpu profile") {
		t.Errorf("err = %v, want a cpu profile error", err)
	}
}
