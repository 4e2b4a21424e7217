// Package store keeps the device registry, the last report of every device, a bounded report
// history, each device's timeline of facts, served states and outcomes, the revisions and
// waivers in force over time, enrollment events, API tokens and the append-only audit log, in
// SQLite (the embedded default) or PostgreSQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

// Store is the device registry the fleet service works against. Writes come in batches, each
// applied in one transaction: Write returns once the batch is durable.
type Store interface {
	// Write applies a batch in one transaction: enrollments first, then served states, then
	// reports. It returns nil only when the transaction has committed.
	Write(ctx context.Context, b *Batch) error
	// Device returns one device, or an error wrapping ErrNotFound.
	Device(ctx context.Context, id string, staleBefore time.Time) (*Device, error)
	// Devices returns a page of devices ordered by id, filtered by q.
	Devices(ctx context.Context, q Query) (*Page, error)
	// Summary counts devices by member, group and compliance.
	Summary(ctx context.Context, staleBefore time.Time) ([]Count, error)
	// Reports returns up to limit of a device's most recent reports, newest first.
	Reports(ctx context.Context, deviceID string, limit int) ([]StoredReport, error)
	// Browse returns a page of the console's device list, in id order.
	Browse(ctx context.Context, b Browse) (*Page, error)
	// Census counts devices by member, group, ring, hardware, OS build, served state and
	// console state.
	Census(ctx context.Context, staleBefore time.Time) ([]Census, error)
	// Outcomes calls fn with the latest report of each device of members (nil: all) that had
	// resources fail or drift.
	Outcomes(ctx context.Context, members []string, fn func(*Outcome) error) error
	// Identities calls fn for every device, in no particular order, with what the daemon keeps
	// of it in memory. It stops at the first error fn returns.
	Identities(ctx context.Context, fn func(*Identity) error) error
	// CredentialsChanged calls fn, like Identities, for every device whose credential was
	// rotated, revoked or replaced by a re-enrollment at or after since, so that replicas
	// sharing the store learn of it.
	CredentialsChanged(ctx context.Context, since time.Time, fn func(*Identity) error) error
	// DeviceBySerial returns the id of member's device most recently enrolled with the
	// hardware serial, or an error wrapping ErrNotFound.
	DeviceBySerial(ctx context.Context, member, serial string) (string, error)
	// Close releases the database.
	Close() error
	// APITokens keeps the API tokens of automation (see tokens.go).
	APITokens
	// Timelines keeps the past: revisions, device periods, waivers (see history.go).
	Timelines
	// AuditLog is the append-only record of what people and tokens did (see audit.go).
	AuditLog
	// Notices keeps service statuses, notices and survey answers (see notices.go).
	Notices
	// ProductUsage reads the products devices report installed (see usage.go).
	ProductUsage
	// OSUpgrades keeps the phases of devices' OS upgrades (see upgrades.go).
	OSUpgrades
	// Rollouts keeps each ring's revision and the promotion records (see rollout.go).
	Rollouts
	// Replicas keeps what replicas share: the leader's term, its publications, the
	// operator state and heartbeats (see replicas.go).
	Replicas
	// Deliveries records notifications and commit statuses sent out (see deliveries.go).
	Deliveries
	// Requests keeps service requests, their decisions, grants and work items (see
	// requests.go).
	Requests
	// Suspensions keeps the suspended members and device groups (see suspensions.go).
	Suspensions
}

// ErrNotFound is returned (wrapped) when a device does not exist.
var ErrNotFound = errors.New("not found")

// Compliance states of a device.
const (
	// Compliant: the last report applied the state last served, with nothing failed or drifted.
	Compliant = "compliant"
	// Drifted: the last report found resources out of line and left them (detect mode).
	Drifted = "drifted"
	// Failed: the last report had resources that failed to converge.
	Failed = "failed"
	// Stale: no report yet, the last report is older than the stale horizon, or it applied a
	// state other than the one last served.
	Stale = "stale"
	// Unmanaged: no device group of its member selects the device (its last state served
	// named no group), so nothing is enforced on it and it is never counted compliant.
	Unmanaged = "unmanaged"
	// OSPending: the state served tells the device to upgrade its OS (its hardware is
	// certified for its group's target) and the upgrade has not started, or waits for its
	// preconditions.
	OSPending = "os-pending"
	// OSUpgrading: the device's OS upgrade is under way (downloading to confirming).
	OSUpgrading = "os-upgrading"
	// OSFailed: the device's OS upgrade failed or was rolled back, until a person resets it.
	OSFailed = "os-failed"
)

// ComplianceStates lists the states in the order output uses.
var ComplianceStates = []string{Compliant, Drifted, Failed, Stale, Unmanaged, OSPending, OSUpgrading, OSFailed}

// Options tune a store. The zero value is a working default.
type Options struct {
	// History is the number of reports kept per device (default 10): the first report of
	// each state a device applied, and every report that corrected, skipped, failed or found
	// drift. Older ones are overwritten in place, so the history table never grows past
	// History rows a device. A run that found everything in line updates the device only.
	History int
	// Readers is the number of SQLite reader connections (default 4), or the PostgreSQL pool
	// size (default 8).
	Readers int
}

func (o Options) withDefaults(readers int) Options {
	if o.History <= 0 {
		o.History = 10
	}
	if o.Readers <= 0 {
		o.Readers = readers
	}
	return o
}

// Open opens the store named by dsn: "sqlite:PATH" or "postgres://…" (also "postgresql://…"),
// creating or migrating its schema.
func Open(ctx context.Context, dsn string, opt Options) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn, opt)
	case strings.HasPrefix(dsn, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), opt)
	}
	return nil, fmt.Errorf("open store: unsupported store %q: want sqlite:PATH or postgres://…", scheme(dsn))
}

// scheme returns what precedes the first colon of dsn, so a message never shows a password.
func scheme(dsn string) string {
	if i := strings.IndexByte(dsn, ':'); i >= 0 {
		return dsn[:i]
	}
	return dsn
}

// Counts are a report's resources by outcome.
type Counts struct {
	Unchanged int `json:"unchanged"`
	Corrected int `json:"corrected"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Drifted   int `json:"drifted"`
}

// Judge is the compliance a report's outcomes show, before staleness is considered.
func (c Counts) Judge() string {
	switch {
	case c.Failed > 0:
		return Failed
	case c.Drifted > 0:
		return Drifted
	}
	return Compliant
}

// noteworthy reports whether a run did or found anything: such runs are kept in history.
func (c Counts) noteworthy() bool { return c.Corrected+c.Failed+c.Skipped+c.Drifted > 0 }

// CountOutcomes counts results by outcome; an unknown outcome counts as failed.
func CountOutcomes(rs []desired.ResourceResult) Counts {
	var c Counts
	for _, r := range rs {
		switch r.Outcome {
		case desired.Unchanged:
			c.Unchanged++
		case desired.Corrected:
			c.Corrected++
		case desired.Skipped:
			c.Skipped++
		case desired.Drifted:
			c.Drifted++
		default:
			c.Failed++
		}
	}
	return c
}

// Device is one enrolled device as the registry knows it.
type Device struct {
	ID     string `json:"id"`
	Member string `json:"member"`
	// CredentialHash is the SHA-256 of the device's credential secret.
	CredentialHash []byte        `json:"-"`
	Facts          desired.Facts `json:"facts"`
	EnrolledAt     time.Time     `json:"enrolledAt"`
	// LastSeen is the last enrollment, report or state served with a body (not a 304).
	LastSeen time.Time `json:"lastSeen"`
	// Group, Ring, Profile, ServedHash and ServedRevision describe the state last served.
	Group          string    `json:"group,omitempty"`
	Ring           string    `json:"ring,omitempty"`
	Profile        string    `json:"profile,omitempty"`
	ServedHash     string    `json:"servedHash,omitempty"`
	ServedRevision string    `json:"servedRevision,omitempty"`
	ServedAt       time.Time `json:"servedAt,omitzero"`
	// LastReport is nil until the device has reported.
	LastReport *LastReport `json:"lastReport,omitempty"`
	// Compliance is one of ComplianceStates, staleness applied as of the query.
	Compliance string `json:"compliance"`
}

// LastReport summarises a device's most recent report.
type LastReport struct {
	At          time.Time `json:"at"`
	Revision    string    `json:"revision"`
	AppliedHash string    `json:"appliedHash"`
	Counts      Counts    `json:"counts"`
}

// Enrollment registers a new device and records the event.
type Enrollment struct {
	ID             string
	Member         string
	CredentialHash []byte
	Facts          desired.Facts
	At             time.Time
	// Remote is the address the request came from, for the enrollment event.
	Remote string
	// Token identifies the enrollment token used (a fingerprint, never the token), for the
	// token's quota.
	Token string
	// Replaces says that device ID exists and enrolls again (the same hardware): its
	// credential, facts and token are replaced, its history kept, and any rotation or
	// revocation cleared.
	Replaces bool
}

// CredentialChange rotates or revokes a device's credential.
type CredentialChange struct {
	DeviceID string
	At       time.Time
	// Hash is the new credential's hash; with Revoked, RevokedHash.
	Hash []byte
	// Prev, when set, is still accepted until PrevUntil (the grace of a rotation).
	Prev      []byte
	PrevUntil time.Time
	Revoked   bool
	// EndGrace only ends the grace of the previous credential, and only while Hash is still
	// the current one (a later rotation wins).
	EndGrace bool
}

// RevokedHash is the credential hash of a revoked device: no secret hashes to it.
var RevokedHash = make([]byte, 32)

// Served records that a device was sent a state (a 200, not a 304).
type Served struct {
	DeviceID string
	At       time.Time
	Profile  string
	Hash     string
	Revision string
	Group    string
	Ring     string
	// OSTarget is the OS release the state tells the device to upgrade to; "" when it is to
	// stay on its OS.
	OSTarget string
}

// Report is one ingested report, encoded for storage by NewReport.
type Report struct {
	DeviceID   string
	At         time.Time
	Revision   string
	Hash       string
	StartedAt  time.Time
	DurationMs int64
	Noop       bool
	Counts     Counts
	// Facts is nil when the report carried no facts, or the caller knows they did not change.
	Facts *EncodedFacts
	// Results is the JSON of the []desired.ResourceResult whose outcome is not unchanged.
	Results []byte
}

// NewReport encodes r, received from deviceID at at, for storage.
func NewReport(deviceID string, at time.Time, r *desired.Report) (Report, error) {
	var facts *EncodedFacts
	if hasFacts(&r.Facts) {
		var err error
		if facts, err = EncodeFacts(&r.Facts); err != nil {
			return Report{}, err
		}
	}
	// History keeps what happened: the resources that ended other than unchanged (their
	// number is in Counts).
	results := make([]desired.ResourceResult, 0, 4)
	for _, rr := range r.Resources {
		if rr.Outcome != desired.Unchanged {
			results = append(results, rr)
		}
	}
	res, err := json.Marshal(results)
	if err != nil {
		return Report{}, fmt.Errorf("encode results: %w", err)
	}
	return Report{
		DeviceID: deviceID, At: at, Revision: r.Revision, Hash: r.Hash, StartedAt: r.StartedAt,
		DurationMs: r.DurationMs, Noop: r.Noop, Counts: CountOutcomes(r.Resources),
		Facts: facts, Results: res,
	}, nil
}

// hasFacts reports whether a report carried an inventory at all.
func hasFacts(f *desired.Facts) bool {
	return f.Hostname != "" || f.Vendor != "" || f.Model != "" || f.OSFamily != "" || f.OSBuild != ""
}

// EncodedFacts are facts as stored: their JSON, their labels' JSON, the fields compilation
// reads, and a digest that tells whether facts changed without comparing them.
type EncodedFacts struct {
	JSON, Labels                               []byte
	Hostname, Vendor, Model, OSFamily, OSBuild string
	Digest                                     uint64
}

// EncodeFacts encodes f for storage. The same facts always give the same JSON and Digest.
func EncodeFacts(f *desired.Facts) (*EncodedFacts, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode facts: %w", err)
	}
	l, err := encodeLabels(f.Labels)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write(b)
	return &EncodedFacts{JSON: b, Labels: l, Hostname: f.Hostname, Vendor: f.Vendor, Model: f.Model,
		OSFamily: f.OSFamily, OSBuild: f.OSBuild, Digest: h.Sum64()}, nil
}

// Identity is what the daemon keeps of a device in memory: who it is, how it authenticates,
// what its desired state is compiled from, and the digest of its stored facts.
type Identity struct {
	ID             string
	Member         string
	CredentialHash []byte
	Labels         map[string]string
	Vendor         string
	Model          string
	OSFamily       string
	OSBuild        string
	FactsDigest    uint64
	// EnrollToken identifies the enrollment token the device enrolled with.
	EnrollToken string
	// PrevCredentialHash is accepted too until PrevUntil (during a rotation).
	PrevCredentialHash []byte
	PrevUntil          time.Time
	// Revoked: the device's credential was revoked; CredentialHash is RevokedHash.
	Revoked bool
}

// Facts returns the facts compilation reads, as desired.Facts.
func (id *Identity) Facts() desired.Facts {
	return desired.Facts{Labels: id.Labels, Vendor: id.Vendor, Model: id.Model, OSFamily: id.OSFamily, OSBuild: id.OSBuild}
}

// decodeLabels decodes a labels column; "{}" (the common case of none) costs nothing.
func decodeLabels(b []byte, into *map[string]string) error {
	*into = nil
	if len(b) == 0 || string(b) == "{}" {
		return nil
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("decode labels: %w", err)
	}
	return nil
}

func encodeLabels(l map[string]string) ([]byte, error) {
	if l == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode labels: %w", err)
	}
	return b, nil
}

// StoredReport is one report of a device's history.
type StoredReport struct {
	// Seq numbers the reports kept in the device's history, from 1.
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Revision   string    `json:"revision"`
	Hash       string    `json:"hash"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs int64     `json:"durationMs"`
	Noop       bool      `json:"noop,omitempty"`
	Counts     Counts    `json:"counts"`
	Compliance string    `json:"compliance"`
	// Resources are the results other than unchanged; Counts has them all.
	Resources []desired.ResourceResult `json:"resources"`
}

// Batch is what one transaction writes.
type Batch struct {
	Enrollments []Enrollment
	Served      []Served
	Reports     []Report
	// Credentials are written after the enrollments.
	Credentials []CredentialChange
}

// Len is the number of writes in b.
func (b *Batch) Len() int {
	return len(b.Enrollments) + len(b.Served) + len(b.Reports) + len(b.Credentials)
}

// Reset empties b, keeping its memory.
func (b *Batch) Reset() {
	clear(b.Enrollments)
	clear(b.Served)
	clear(b.Reports)
	clear(b.Credentials)
	b.Enrollments, b.Served, b.Reports, b.Credentials = b.Enrollments[:0], b.Served[:0], b.Reports[:0], b.Credentials[:0]
}

// Query filters and pages the device list. Empty fields match everything.
type Query struct {
	Member     string
	Group      string
	Compliance string
	// Revision matches the revision of the last report.
	Revision string
	// StaleBefore: a device whose last report is older is stale.
	StaleBefore time.Time
	// After is the cursor: only ids greater than it.
	After string
	// Limit is the page size (default 100, at most 10,000).
	Limit int
}

// MaxLimit is the largest page Devices returns.
const MaxLimit = 10_000

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return 100
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Page is one page of devices; Next is the cursor of the following page, empty at the end.
type Page struct {
	Devices []Device `json:"devices"`
	Next    string   `json:"next,omitempty"`
}

// Count is the number of devices of a member and group in a compliance state.
type Count struct {
	Member     string `json:"member"`
	Group      string `json:"group"`
	Compliance string `json:"compliance"`
	Devices    int    `json:"devices"`
}

// staleExpr is the SQL for a device's compliance with staleness applied; the one parameter is
// the stale horizon. Both dialects share it (placeholders are filled in per dialect). A device
// served a state of no group is unmanaged, whatever it reports.
//
// A device whose state tells it to upgrade its OS (os_target) is not compliant until its
// upgrade to that release is done: os-failed, os-upgrading or os-pending by its upgrade's
// current phase (osPhaseExpr).
const staleExpr = `CASE WHEN served_at IS NOT NULL AND group_name = '' THEN 'unmanaged'` + osStateWhen + `
	WHEN report_at IS NULL OR report_at < %s OR applied_hash <> served_hash THEN 'stale' ELSE compliance END`

// osPhaseExpr is the phase of the device's upgrade to its os_target, 'pending' when it
// reported none; osStateWhen the WHEN clause that turns it into an OS compliance state.
const (
	osPhaseExpr = `coalesce((SELECT u.phase FROM os_upgrades u WHERE u.device_id = devices.id AND u.release = devices.os_target), 'pending')`
	osStateWhen = `
	WHEN os_target <> '' AND ` + osPhaseExpr + ` <> 'done' THEN CASE ` + osPhaseExpr + `
		WHEN 'pending' THEN 'os-pending' WHEN 'failed' THEN 'os-failed' WHEN 'rolled-back' THEN 'os-failed' ELSE 'os-upgrading' END`
)

// resultRows is what both databases' result sets offer.
type resultRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// identityCols are the columns scanIdentities reads; the first %s is the dialect's expression
// for labels as text, the second for prev_credential_until in Unix milliseconds (0 when null).
const identityCols = `id, member, credential_hash, %s, vendor, model, os_family, os_build, facts_digest,
	enroll_token, prev_credential_hash, %s, revoked_at IS NOT NULL`

// scanIdentities reads rows of identityCols and hands each identity to fn.
func scanIdentities(rows resultRows, fn func(*Identity) error) error {
	var (
		id     Identity
		labels []byte
		digest int64
		until  int64
	)
	for rows.Next() {
		id = Identity{}
		if err := rows.Scan(&id.ID, &id.Member, &id.CredentialHash, &labels, &id.Vendor, &id.Model, &id.OSFamily, &id.OSBuild, &digest,
			&id.EnrollToken, &id.PrevCredentialHash, &until, &id.Revoked); err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		if until > 0 {
			id.PrevUntil = time.UnixMilli(until).UTC()
		}
		if err := decodeLabels(labels, &id.Labels); err != nil {
			return fmt.Errorf("read identities: device %s: %w", id.ID, err)
		}
		id.FactsDigest = uint64(digest)
		if err := fn(&id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	return nil
}

// collectPage reads a page of devices, scanning each row with scan; it fetched limit+1 rows
// to learn whether another page follows.
func collectPage(rows resultRows, limit int, scan func() (*Device, error)) (*Page, error) {
	p := &Page{Devices: make([]Device, 0, min(limit, 1024))}
	for rows.Next() {
		d, err := scan()
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		p.Devices = append(p.Devices, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return p.trim(limit), nil
}
