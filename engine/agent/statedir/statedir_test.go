package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

func TestOpenRestrictsDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "state")
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v, want 0700", fi.Mode())
	}
	for _, sub := range []string{ReportsDir, CacheDir} {
		if _, err := os.Stat(filepath.Join(p, sub)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCredentialAndDesired(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Credential(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	if _, err := d.Desired(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	c := Credential{DeviceID: "dev-1", Credential: "secret", Member: "m", Server: "https://x", EnrolledAt: time.Now().UTC().Truncate(time.Second)}
	if err := d.SaveCredential(c); err != nil {
		t.Fatal(err)
	}
	got, err := d.Credential()
	if err != nil || got != c {
		t.Fatalf("got %+v, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(d.Path(), CredentialFile)); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential mode %v", fi.Mode())
	}
	s := &desired.State{Revision: "r", Hash: "h", Mode: "enforce"}
	if err := d.SaveDesired(s); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Desired(); err != nil || got.Hash != "h" {
		t.Fatalf("got %+v, %v", got, err)
	}
	// A torn or garbled cache is an error, not a silent empty state.
	if err := os.WriteFile(filepath.Join(d.Path(), DesiredFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Desired(); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v", err)
	}
}

func TestReportQueue(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d.MaxReports = 3
	for i := range 5 {
		if _, err := d.QueueReport(desired.Report{Revision: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := d.QueuedReports()
	if err != nil {
		t.Fatal(err)
	}
	var revs string
	for _, r := range q {
		revs += r.Report.Revision
	}
	if revs != "cde" {
		t.Fatalf("queue %q, want the newest three oldest first", revs)
	}
	if err := d.DeleteReport(q[0].Name); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteReport("../credential"); err == nil {
		t.Fatal("deleted outside the queue")
	}
	// An unreadable report is removed so it cannot block the queue.
	if err := os.WriteFile(filepath.Join(d.Path(), ReportsDir, "00000000000000000000-000000.json"), []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err = d.QueuedReports()
	if err != nil || len(q) != 2 {
		t.Fatalf("queue %+v, %v", q, err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), LastReportFile)); err != nil {
		t.Fatal(err)
	}
}
