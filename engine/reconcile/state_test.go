package reconcile

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := persistedState{Origin: "https://git.example.org/c.git#main", Revision: "0123456789abcdef0123456789abcdef01234567", PublishedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Suspended: true,
		AllowRollback: &RollbackAllowance{Revision: "89abcdef0123456789abcdef0123456789abcdef", By: "anna", At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		Rollbacks:     []Rollback{{From: "0123456789abcdef0123456789abcdef01234567", To: "89abcdef0123456789abcdef0123456789abcdef", Relation: "ancestor", AllowedBy: "anna"}}}
	if err := writeState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	want.APIVersion = StatusAPIVersion
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// FuzzReadState feeds arbitrary state files: they are refused or yield a real commit hash.
func FuzzReadState(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"samverk.io/v1","revision":"0123456789abcdef0123456789abcdef01234567"}`))
	f.Add([]byte(`{"revision":"../../etc/passwd"}`))
	f.Add([]byte(`{"suspended":true}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, stateFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, err := readState(dir)
		if err == nil && ps.Revision != "" && !isHash(ps.Revision) {
			t.Fatalf("accepted revision %q", ps.Revision)
		}
	})
}
