package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"samverk.io/samverk/engine/atomicfile"
)

// stateFile is the persisted state's name in Options.StateDir.
const stateFile = "state.json"

// persistedState survives a restart. The commit's objects are in the source's clone.
type persistedState struct {
	APIVersion  string    `json:"apiVersion"`
	Origin      string    `json:"origin,omitempty"`
	Revision    string    `json:"revision,omitempty"`
	PublishedAt time.Time `json:"publishedAt,omitzero"`
	Suspended   bool      `json:"suspended,omitempty"`
	// Attempting is the revision being checked, written before its check starts and cleared
	// when the check ends however it ends. Found set at start, it names a commit during whose
	// check samverk stopped: a commit that may crash it, refused rather than tried again.
	Attempting      string    `json:"attempting,omitempty"`
	AttemptingSince time.Time `json:"attemptingSince,omitzero"`
	// Crashed is the last such commit, refused until a newer commit or a forced reconcile.
	Crashed *crashedAttempt `json:"crashed,omitempty"`
	// AllowRollback is an operator's allowance not yet used.
	AllowRollback *RollbackAllowance `json:"allowRollback,omitempty"`
	// Rollbacks are the rollbacks published, newest first.
	Rollbacks []Rollback `json:"rollbacks,omitempty"`
}

// crashedAttempt is an attempt that never finished.
type crashedAttempt struct {
	Revision string    `json:"revision"`
	Started  time.Time `json:"startedAt"`
	Found    time.Time `json:"foundAt"`
}

// maxRollbacks is how many published rollbacks are remembered.
const maxRollbacks = 20

// RollbackAllowance is an operator's permission to publish one revision that is not a
// descendant of the revision served.
type RollbackAllowance struct {
	Revision string    `json:"revision"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// Rollback is a published rollback: from which revision to which, and who allowed it.
type Rollback struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Relation is "ancestor" (an older commit) or "diverged" (another history).
	Relation    string    `json:"relation"`
	AllowedBy   string    `json:"allowedBy"`
	AllowedAt   time.Time `json:"allowedAt"`
	PublishedAt time.Time `json:"publishedAt"`
}

func readState(dir string) (persistedState, error) {
	var ps persistedState
	if dir == "" {
		return ps, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ps, nil
	}
	if err != nil {
		return ps, fmt.Errorf("reconcile: read state: %w", err)
	}
	if err := json.Unmarshal(b, &ps); err != nil {
		return ps, fmt.Errorf("reconcile: read state %s: %w", filepath.Join(dir, stateFile), err)
	}
	for _, rev := range []string{ps.Revision, ps.Attempting} {
		if rev != "" && !isHash(rev) {
			return ps, fmt.Errorf("reconcile: read state: %q is not a commit hash", rev)
		}
	}
	if ps.Crashed != nil && !isHash(ps.Crashed.Revision) {
		return ps, fmt.Errorf("reconcile: read state: %q is not a commit hash", ps.Crashed.Revision)
	}
	if ps.AllowRollback != nil && !isHash(ps.AllowRollback.Revision) {
		return ps, fmt.Errorf("reconcile: read state: allowRollback %q is not a commit hash", ps.AllowRollback.Revision)
	}
	return ps, nil
}

func isHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeState replaces the state file atomically: a temporary file, synced, renamed over it.
func writeState(dir string, ps persistedState) error {
	if dir == "" {
		return nil
	}
	ps.APIVersion = StatusAPIVersion
	b, err := json.MarshalIndent(ps, "", "  ")
	if err != nil {
		return fmt.Errorf("reconcile: write state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("reconcile: write state: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("reconcile: write state: %w", err)
	}
	return nil
}
