// Package statedir is the agent's own state on disk: its credential, the last desired state it
// was given, the reports it has not yet delivered and the installers it has downloaded.
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/atomicfile"
	"samverk.io/samverk/engine/desired"
)

// File names inside a state directory.
const (
	CredentialFile  = "credential"
	EnrollTokenFile = "enroll-token"
	DesiredFile     = "desired.json"
	LastReportFile  = "last-report.json"
	ReportsDir      = "reports"
	CacheDir        = "cache"
)

// DefaultMaxReports is how many undelivered reports are kept; older ones are dropped first.
const DefaultMaxReports = 100

// ErrNotFound is returned when the requested state is not on disk yet.
var ErrNotFound = errors.New("not found")

// Credential is what enrollment gave this device.
type Credential struct {
	DeviceID   string `json:"deviceId"`
	Credential string `json:"credential"`
	Member     string `json:"member"`
	// Server is the URL the device enrolled with.
	Server     string    `json:"server"`
	EnrolledAt time.Time `json:"enrolledAt"`
}

// Dir is one state directory. Its methods are safe for concurrent use.
type Dir struct {
	path string
	// MaxReports bounds the report queue; zero means DefaultMaxReports.
	MaxReports int

	mu  sync.Mutex
	seq int
}

// Open creates the directory if needed, readable by its owner only, and returns it.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("open state dir: no path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	if err := SecureDir(abs); err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	for _, sub := range []string{ReportsDir, CacheDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open state dir: %w", err)
		}
	}
	return &Dir{path: abs}, nil
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// CachePath is where downloaded installers are kept.
func (d *Dir) CachePath() string { return filepath.Join(d.path, CacheDir) }

// Credential reads the stored credential; ErrNotFound when the device has not enrolled.
func (d *Dir) Credential() (Credential, error) {
	var c Credential
	if err := d.readJSON(CredentialFile, &c); err != nil {
		return Credential{}, fmt.Errorf("read credential: %w", err)
	}
	if c.DeviceID == "" || c.Credential == "" {
		return Credential{}, fmt.Errorf("read credential: %s is incomplete", CredentialFile)
	}
	return c, nil
}

// SaveCredential stores the credential with mode 0600.
func (d *Dir) SaveCredential(c Credential) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(d.path, CredentialFile), b, 0o600); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	return nil
}

// EnrollToken reads a token left by `samverk-agent install`; ErrNotFound when there is none.
func (d *Dir) EnrollToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.path, EnrollTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read enrollment token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SaveEnrollToken stores a token for the agent to enroll with later, mode 0600.
func (d *Dir) SaveEnrollToken(token string) error {
	if err := atomicfile.WriteFile(filepath.Join(d.path, EnrollTokenFile), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("save enrollment token: %w", err)
	}
	return nil
}

// RemoveEnrollToken deletes a stored token once it has been used.
func (d *Dir) RemoveEnrollToken() error {
	err := os.Remove(filepath.Join(d.path, EnrollTokenFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove enrollment token: %w", err)
	}
	return nil
}

// Desired reads the cached desired state; ErrNotFound when none has been received yet.
func (d *Dir) Desired() (*desired.State, error) {
	var s desired.State
	if err := d.readJSON(DesiredFile, &s); err != nil {
		return nil, fmt.Errorf("read cached desired state: %w", err)
	}
	return &s, nil
}

// SaveDesired replaces the cached desired state atomically.
func (d *Dir) SaveDesired(s *desired.State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save desired state: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(d.path, DesiredFile), b, 0o600); err != nil {
		return fmt.Errorf("save desired state: %w", err)
	}
	return nil
}

// QueuedReport is one undelivered report and the name it is stored under.
type QueuedReport struct {
	Name   string
	Report desired.Report
}

// QueueReport stores a report until it is delivered. It also keeps a copy as last-report.json
// for people to read. When the queue is full the oldest reports are dropped.
func (d *Dir) QueueReport(r desired.Report) (string, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("queue report: %w", err)
	}
	d.mu.Lock()
	d.seq++
	// The name sorts by time; the sequence number keeps two reports of one instant apart.
	name := fmt.Sprintf("%020d-%06d.json", time.Now().UnixNano(), d.seq%1000000)
	d.mu.Unlock()
	if err := atomicfile.WriteFile(filepath.Join(d.path, ReportsDir, name), b, 0o600); err != nil {
		return "", fmt.Errorf("queue report: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(d.path, LastReportFile), b, 0o600); err != nil {
		return "", fmt.Errorf("queue report: %w", err)
	}
	if err := d.trimReports(); err != nil {
		return "", fmt.Errorf("queue report: %w", err)
	}
	return name, nil
}

// QueuedReports lists the undelivered reports, oldest first. A report that cannot be parsed is
// removed, since it could never be delivered.
func (d *Dir) QueuedReports() ([]QueuedReport, error) {
	names, err := d.reportNames()
	if err != nil {
		return nil, fmt.Errorf("list queued reports: %w", err)
	}
	out := make([]QueuedReport, 0, len(names))
	for _, name := range names {
		var r desired.Report
		err := d.readJSON(filepath.Join(ReportsDir, name), &r)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			if rmErr := d.DeleteReport(name); rmErr != nil {
				return nil, fmt.Errorf("list queued reports: %w", errors.Join(err, rmErr))
			}
			continue
		}
		out = append(out, QueuedReport{Name: name, Report: r})
	}
	return out, nil
}

// DeleteReport removes a delivered (or undeliverable) report from the queue.
func (d *Dir) DeleteReport(name string) error {
	if name != filepath.Base(name) || !strings.HasSuffix(name, ".json") {
		return fmt.Errorf("delete report: bad name %q", name)
	}
	err := os.Remove(filepath.Join(d.path, ReportsDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete report: %w", err)
	}
	return nil
}

func (d *Dir) trimReports() error {
	limit := d.MaxReports
	if limit <= 0 {
		limit = DefaultMaxReports
	}
	names, err := d.reportNames()
	if err != nil {
		return err
	}
	for len(names) > limit {
		if err := d.DeleteReport(names[0]); err != nil {
			return err
		}
		names = names[1:]
	}
	return nil
}

func (d *Dir) reportNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.path, ReportsDir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (d *Dir) readJSON(name string, v any) error {
	b, err := os.ReadFile(filepath.Join(d.path, name))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
