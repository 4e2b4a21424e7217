package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the store for more than one daemon replica: a pgx connection pool. Each batch is
// written with a few set-based statements (arrays unnested server side), so a batch of a
// thousand reports costs a handful of round trips.
type Postgres struct {
	pool    *pgxpool.Pool
	history int
}

var _ Store = (*Postgres)(nil)

// migrateLock is the advisory lock key replicas take while migrating, so that two daemons
// starting together apply each migration once.
const migrateLock = 0x73616d7665726b // "samverk"

// OpenPostgres connects to the database at dsn (a postgres:// URL) and migrates its schema.
//
// The pool holds Options.Readers connections, else pool_max_conns of dsn, else 8.
func OpenPostgres(ctx context.Context, dsn string, opt Options) (*Postgres, error) {
	explicit := opt.Readers > 0
	opt = opt.withDefaults(8)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the connection string, password and all.
		return nil, errors.New("open postgres store: invalid connection string")
	}
	if explicit || !strings.Contains(dsn, "pool_max_conns=") {
		cfg.MaxConns = int32(opt.Readers)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Postgres{pool: pool, history: opt.History}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Postgres) migrate(ctx context.Context) error {
	ms, err := loadMigrations("postgres")
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&cur); err != nil {
			return err
		}
		if n := len(ms); n > 0 && cur > ms[n-1].version {
			return fmt.Errorf("database schema version %d is newer than this build's %d", cur, ms[n-1].version)
		}
		for _, m := range pending(ms, cur) {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, now())`, m.version); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM reports WHERE slot >= $1`, s.history)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// Write applies b in one transaction.
func (s *Postgres) Write(ctx context.Context, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.write(ctx, tx, b) }); err != nil {
		return fmt.Errorf("write batch of %d: %w", b.Len(), err)
	}
	return nil
}

const pgEnroll = `WITH e AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::jsonb[], $6::jsonb[], $7::timestamptz[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[])
		AS e(id, member, credential_hash, hostname, facts, labels, at, serial, remote, vendor, model, os_family, os_build, facts_digest, token)
), d AS (
	INSERT INTO devices (id, member, credential_hash, hostname, facts, labels, vendor, model, os_family, os_build, facts_digest,
		enrolled_at, last_seen, enroll_token, serial, facts_from)
	SELECT id, member, credential_hash, hostname, facts, labels, vendor, model, os_family, os_build, facts_digest, at, at, token, serial, at FROM e
), f AS (
	INSERT INTO facts_periods (device_id, from_at, facts) SELECT id, at, facts FROM e
)
INSERT INTO enrollments (device_id, member, at, hostname, serial, remote, enroll_token)
SELECT id, member, at, hostname, serial, remote, token FROM e`

// pgReenroll replaces an enrolled device's credential and facts: the same hardware enrolled
// again. Its history stays.
const pgReenroll = `UPDATE devices SET credential_hash = $2, hostname = $3, facts = $4, labels = $5, vendor = $6, model = $7,
	os_family = $8, os_build = $9, facts_digest = $10, last_seen = greatest(last_seen, $11), enroll_token = $12, serial = $13,
	prev_credential_hash = NULL, prev_credential_until = NULL, revoked_at = NULL, credential_at = $11,
	facts_closed = CASE WHEN facts_digest <> $10 THEN coalesce(facts_from, $11) END,
	facts_from = CASE WHEN facts_digest <> $10 THEN greatest($11, coalesce(facts_from, $11)) ELSE facts_from END
	WHERE id = $1 RETURNING facts_from, facts_closed`

const pgEndGrace = `UPDATE devices SET prev_credential_hash = NULL, prev_credential_until = NULL
	WHERE id = $1 AND credential_hash = $2`

const pgCredential = `UPDATE devices SET credential_hash = $2, prev_credential_hash = $3, prev_credential_until = $4,
	revoked_at = CASE WHEN $5 THEN $6::timestamptz END, credential_at = $6 WHERE id = $1`

// pgServed updates the devices served a state and, for those served another hash than before,
// closes their served period and opens the next (see 0006_history.sql).
const pgServed = `WITH s AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
		AS s(id, at, profile, hash, revision, grp, ring, os_target)
), u AS (
	UPDATE devices d SET last_seen = greatest(d.last_seen, s.at), served_at = s.at, profile = s.profile,
		served_hash = s.hash, served_revision = s.revision, group_name = s.grp, ring = s.ring, os_target = s.os_target,
		served_closed = CASE WHEN d.served_from IS NULL OR d.served_hash <> s.hash THEN coalesce(d.served_from, s.at) END,
		served_from = CASE WHEN d.served_from IS NULL OR d.served_hash <> s.hash
			THEN greatest(s.at, coalesce(d.served_from, s.at)) ELSE d.served_from END
	FROM s WHERE d.id = s.id
	RETURNING d.id, d.served_from, d.served_closed
), c AS (
	UPDATE served_periods p SET to_at = u.served_from FROM u
	WHERE p.device_id = u.id AND p.from_at = u.served_closed AND u.served_closed < u.served_from
)
INSERT INTO served_periods (device_id, from_at, hash, revision, group_name, ring, profile)
SELECT s.id, u.served_from, s.hash, s.revision, s.grp, s.ring, s.profile FROM s JOIN u ON u.id = s.id
WHERE u.served_closed IS NOT NULL
ON CONFLICT (device_id, from_at) DO UPDATE SET hash = excluded.hash, revision = excluded.revision,
	group_name = excluded.group_name, ring = excluded.ring, profile = excluded.profile`

// pgOutcomeChanged tells, in the report update, that the report ends the device's outcome
// period: its first report, another applied hash or another judged compliance.
const pgOutcomeChanged = `(d.outcome_from IS NULL OR d.applied_hash <> r.hash OR d.compliance <> r.compliance)`

// pgReport updates the reporting devices, keeps the reports worth keeping in their history,
// and closes and opens the facts and outcome periods the reports change.
const pgReport = `WITH r AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[],
		$7::boolean[], $8::int[], $9::int[], $10::int[], $11::int[], $12::int[], $13::text[], $14::jsonb[],
		$15::jsonb[], $16::text[], $17::json[], $19::text[], $20::text[], $21::text[], $22::text[], $23::bigint[], $24::boolean[])
		AS r(id, at, revision, hash, started_at, duration_ms, noop, unchanged, corrected, failed, skipped, drifted,
			compliance, facts, labels, hostname, results, vendor, model, os_family, os_build, facts_digest, noteworthy)
), u AS (
	UPDATE devices d SET last_seen = greatest(d.last_seen, r.at), report_at = r.at, report_revision = r.revision,
		applied_hash = r.hash, unchanged = r.unchanged, corrected = r.corrected, failed = r.failed,
		skipped = r.skipped, drifted = r.drifted, compliance = r.compliance,
		facts = coalesce(r.facts, d.facts), labels = coalesce(r.labels, d.labels),
		hostname = coalesce(r.hostname, d.hostname), vendor = coalesce(r.vendor, d.vendor),
		model = coalesce(r.model, d.model), os_family = coalesce(r.os_family, d.os_family),
		os_build = coalesce(r.os_build, d.os_build), facts_digest = coalesce(r.facts_digest, d.facts_digest),
		reports = d.reports + 1,
		hash_streak = CASE WHEN d.applied_hash = r.hash THEN d.hash_streak + 1 ELSE 1 END,
		history_seq = d.history_seq + CASE WHEN r.noteworthy OR d.applied_hash <> r.hash THEN 1 ELSE 0 END,
		facts_closed = CASE WHEN r.facts_digest <> d.facts_digest THEN coalesce(d.facts_from, r.at) END,
		facts_from = CASE WHEN r.facts_digest <> d.facts_digest THEN greatest(r.at, coalesce(d.facts_from, r.at)) ELSE d.facts_from END,
		outcome_closed = CASE WHEN ` + pgOutcomeChanged + ` THEN coalesce(d.outcome_from, r.at) END,
		outcome_closed_reports = CASE WHEN ` + pgOutcomeChanged + ` THEN d.outcome_reports END,
		outcome_from = CASE WHEN ` + pgOutcomeChanged + ` THEN greatest(r.at, coalesce(d.outcome_from, r.at)) ELSE d.outcome_from END,
		outcome_reports = CASE WHEN ` + pgOutcomeChanged + ` THEN 1 ELSE d.outcome_reports + 1 END
	FROM r WHERE d.id = r.id
	RETURNING d.id, d.history_seq, d.hash_streak, r.noteworthy, d.facts_from, d.facts_closed,
		d.outcome_from, d.outcome_closed, d.outcome_closed_reports
), fc AS (
	UPDATE facts_periods p SET to_at = u.facts_from FROM u
	WHERE p.device_id = u.id AND p.from_at = u.facts_closed AND u.facts_closed < u.facts_from
), fo AS (
	INSERT INTO facts_periods (device_id, from_at, facts)
	SELECT r.id, u.facts_from, r.facts FROM r JOIN u ON u.id = r.id WHERE u.facts_closed IS NOT NULL
	ON CONFLICT (device_id, from_at) DO UPDATE SET facts = excluded.facts
), oc AS (
	UPDATE outcome_periods p SET to_at = u.outcome_from, reports = u.outcome_closed_reports FROM u
	WHERE p.device_id = u.id AND p.from_at = u.outcome_closed AND u.outcome_closed < u.outcome_from
), oo AS (
	INSERT INTO outcome_periods (device_id, from_at, revision, hash, compliance, unchanged, corrected, failed, skipped, drifted, results)
	SELECT r.id, u.outcome_from, r.revision, r.hash, r.compliance, r.unchanged, r.corrected, r.failed, r.skipped, r.drifted, r.results
	FROM r JOIN u ON u.id = r.id WHERE u.outcome_closed IS NOT NULL
	ON CONFLICT (device_id, from_at) DO UPDATE SET revision = excluded.revision, hash = excluded.hash,
		compliance = excluded.compliance, unchanged = excluded.unchanged, corrected = excluded.corrected,
		failed = excluded.failed, skipped = excluded.skipped, drifted = excluded.drifted, results = excluded.results
)
INSERT INTO reports (device_id, slot, seq, received_at, revision, hash, started_at, duration_ms, noop,
	unchanged, corrected, failed, skipped, drifted, compliance, results)
SELECT r.id, u.history_seq % $18, u.history_seq, r.at, r.revision, r.hash, r.started_at, r.duration_ms, r.noop,
	r.unchanged, r.corrected, r.failed, r.skipped, r.drifted, r.compliance, r.results
FROM r JOIN u ON u.id = r.id
WHERE u.noteworthy OR u.hash_streak = 1
ON CONFLICT (device_id, slot) DO UPDATE SET seq = excluded.seq, received_at = excluded.received_at,
	revision = excluded.revision, hash = excluded.hash, started_at = excluded.started_at,
	duration_ms = excluded.duration_ms, noop = excluded.noop, unchanged = excluded.unchanged,
	corrected = excluded.corrected, failed = excluded.failed, skipped = excluded.skipped,
	drifted = excluded.drifted, compliance = excluded.compliance, results = excluded.results`

func (s *Postgres) write(ctx context.Context, tx pgx.Tx, b *Batch) error {
	news := b.Enrollments
	if slices.ContainsFunc(news, func(e Enrollment) bool { return e.Replaces }) {
		news = slices.DeleteFunc(slices.Clone(news), func(e Enrollment) bool { return e.Replaces })
		for i := range b.Enrollments {
			e := &b.Enrollments[i]
			if !e.Replaces {
				continue
			}
			f, err := EncodeFacts(&e.Facts)
			if err != nil {
				return err
			}
			var from, closed *time.Time
			err = tx.QueryRow(ctx, pgReenroll, e.ID, e.CredentialHash, f.Hostname, string(f.JSON), string(f.Labels), f.Vendor, f.Model,
				f.OSFamily, f.OSBuild, int64(f.Digest), e.At, e.Token, e.Facts.Serial).Scan(&from, &closed)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("enroll device %s again: %w", e.ID, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("enroll device %s again: %w", e.ID, err)
			}
			if closed != nil && from != nil {
				if closed.Before(*from) {
					if _, err := tx.Exec(ctx, `UPDATE facts_periods SET to_at = $3 WHERE device_id = $1 AND from_at = $2`, e.ID, *closed, *from); err != nil {
						return fmt.Errorf("facts of %s: %w", e.ID, err)
					}
				}
				if _, err := tx.Exec(ctx, `INSERT INTO facts_periods (device_id, from_at, facts) VALUES ($1, $2, $3)
					ON CONFLICT (device_id, from_at) DO UPDATE SET facts = excluded.facts`, e.ID, *from, string(f.JSON)); err != nil {
					return fmt.Errorf("facts of %s: %w", e.ID, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO enrollments (device_id, member, at, hostname, serial, remote, enroll_token, replaced)
				VALUES ($1, $2, $3, $4, $5, $6, $7, true)`, e.ID, e.Member, e.At, e.Facts.Hostname, e.Facts.Serial, e.Remote, e.Token); err != nil {
				return fmt.Errorf("insert enrollment: %w", err)
			}
		}
	}
	if n := len(news); n > 0 {
		var (
			ids, members, hosts, serials, remotes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			vendors, models, families, builds     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			creds                                 = make([][]byte, n)
			facts, labels                         = make([]string, n), make([]string, n)
			ats                                   = make([]time.Time, n)
			digests                               = make([]int64, n)
			tokens                                = make([]string, n)
		)
		for i := range news {
			e := &news[i]
			f, err := EncodeFacts(&e.Facts)
			if err != nil {
				return err
			}
			ids[i], members[i], creds[i], hosts[i], facts[i], labels[i] = e.ID, e.Member, e.CredentialHash, f.Hostname, string(f.JSON), string(f.Labels)
			ats[i], serials[i], remotes[i] = e.At, e.Facts.Serial, e.Remote
			vendors[i], models[i], families[i], builds[i], digests[i] = f.Vendor, f.Model, f.OSFamily, f.OSBuild, int64(f.Digest)
			tokens[i] = e.Token
		}
		if _, err := tx.Exec(ctx, pgEnroll, ids, members, creds, hosts, facts, labels, ats, serials, remotes,
			vendors, models, families, builds, digests, tokens); err != nil {
			return fmt.Errorf("insert devices: %w", err)
		}
	}
	for i := range b.Credentials {
		c := &b.Credentials[i]
		var until *time.Time
		if c.Prev != nil {
			until = &c.PrevUntil
		}
		q, args := pgCredential, []any{c.DeviceID, c.Hash, c.Prev, until, c.Revoked, c.At}
		if c.EndGrace {
			q, args = pgEndGrace, []any{c.DeviceID, c.Hash}
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("change credential of %s: %w", c.DeviceID, err)
		}
	}
	if len(b.Served) > 0 {
		// UPDATE … FROM picks one arbitrary row when a device appears twice: keep its last.
		last := make(map[string]int, len(b.Served))
		for i := range b.Served {
			last[b.Served[i].DeviceID] = i
		}
		n := len(last)
		ids, profiles, hashes, revs, groups, rings := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		ats, targets := make([]time.Time, 0, n), make([]string, 0, n)
		for i := range b.Served {
			v := &b.Served[i]
			if last[v.DeviceID] != i {
				continue
			}
			ids, ats, profiles, hashes = append(ids, v.DeviceID), append(ats, v.At), append(profiles, v.Profile), append(hashes, v.Hash)
			revs, groups, rings = append(revs, v.Revision), append(groups, v.Group), append(rings, v.Ring)
			targets = append(targets, v.OSTarget)
		}
		if _, err := tx.Exec(ctx, pgServed, ids, ats, profiles, hashes, revs, groups, rings, targets); err != nil {
			return fmt.Errorf("update served: %w", err)
		}
	}
	// A device may report twice in one batch; each round holds a device at most once, in order.
	for reps := b.Reports; len(reps) > 0; {
		round, rest := splitRound(reps)
		if err := s.writeReports(ctx, tx, round); err != nil {
			return err
		}
		reps = rest
	}
	return nil
}

// splitRound returns the longest prefix of rs in which no device repeats, and the rest.
func splitRound(rs []Report) (round, rest []Report) {
	seen := make(map[string]struct{}, len(rs))
	for i := range rs {
		if _, dup := seen[rs[i].DeviceID]; dup {
			return rs[:i], rs[i:]
		}
		seen[rs[i].DeviceID] = struct{}{}
	}
	return rs, nil
}

func (s *Postgres) writeReports(ctx context.Context, tx pgx.Tx, rs []Report) error {
	n := len(rs)
	var (
		ids, revs, hashes, comps, hosts = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
		facts, labels                   = make([]*string, n), make([]*string, n)
		vendors, models                 = make([]*string, n), make([]*string, n)
		families, builds                = make([]*string, n), make([]*string, n)
		digests                         = make([]*int64, n)
		noteworthy                      = make([]bool, n)
		results                         = make([]string, n)
		ats, starts                     = make([]time.Time, n), make([]time.Time, n)
		durs                            = make([]int64, n)
		noops                           = make([]bool, n)
		unch, corr, fail, skip, drift   = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	)
	for i := range rs {
		r := &rs[i]
		ids[i], ats[i], revs[i], hashes[i], starts[i], durs[i], noops[i] = r.DeviceID, r.At, r.Revision, r.Hash, r.StartedAt, r.DurationMs, r.Noop
		unch[i], corr[i], fail[i] = int32(r.Counts.Unchanged), int32(r.Counts.Corrected), int32(r.Counts.Failed)
		skip[i], drift[i], comps[i] = int32(r.Counts.Skipped), int32(r.Counts.Drifted), r.Counts.Judge()
		noteworthy[i] = r.Counts.noteworthy()
		if e := r.Facts; e != nil {
			f, l, d := string(e.JSON), string(e.Labels), int64(e.Digest)
			facts[i], labels[i], hosts[i], digests[i] = &f, &l, &e.Hostname, &d
			vendors[i], models[i], families[i], builds[i] = &e.Vendor, &e.Model, &e.OSFamily, &e.OSBuild
		}
		results[i] = string(r.Results)
	}
	if _, err := tx.Exec(ctx, pgReport, ids, ats, revs, hashes, starts, durs, noops, unch, corr, fail, skip, drift,
		comps, facts, labels, hosts, results, s.history, vendors, models, families, builds, digests, noteworthy); err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	return nil
}

const pgDeviceCols = `id, member, credential_hash, facts, enrolled_at, last_seen, group_name, ring, profile,
	served_hash, served_revision, served_at, report_at, report_revision, applied_hash,
	unchanged, corrected, failed, skipped, drifted`

var pgStale = fmt.Sprintf(staleExpr, "$1")

// Device returns one device.
func (s *Postgres) Device(ctx context.Context, id string, staleBefore time.Time) (*Device, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+pgDeviceCols+`, `+pgStale+` FROM devices WHERE id = $2`, staleBefore, id)
	d, err := scanPGDevice(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read device: %w", err)
	}
	return d, nil
}

// Devices returns a page of devices.
func (s *Postgres) Devices(ctx context.Context, q Query) (*Page, error) {
	var where strings.Builder
	args := []any{q.StaleBefore, q.After}
	where.WriteString(` WHERE id > $2`)
	for _, f := range []struct{ col, val string }{
		{"member", q.Member}, {"group_name", q.Group}, {"report_revision", q.Revision}, {"(" + pgStale + ")", q.Compliance},
	} {
		if f.val != "" {
			args = append(args, f.val)
			where.WriteString(" AND " + f.col + " = $" + strconv.Itoa(len(args)))
		}
	}
	limit := q.limit()
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, `SELECT `+pgDeviceCols+`, `+pgStale+` FROM devices`+where.String()+
		` ORDER BY id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	return collectPage(rows, limit, func() (*Device, error) { return scanPGDevice(rows) })
}

// Summary counts devices by member, group and compliance.
func (s *Postgres) Summary(ctx context.Context, staleBefore time.Time) ([]Count, error) {
	rows, err := s.pool.Query(ctx, `SELECT member, group_name, `+pgStale+` AS state, count(*) FROM devices
		GROUP BY member, group_name, state ORDER BY member, group_name, state`, staleBefore)
	if err != nil {
		return nil, fmt.Errorf("summarise devices: %w", err)
	}
	defer rows.Close()
	var cs []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Member, &c.Group, &c.Compliance, &c.Devices); err != nil {
			return nil, fmt.Errorf("summarise devices: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarise devices: %w", err)
	}
	return cs, nil
}

// Reports returns a device's most recent reports, newest first.
func (s *Postgres) Reports(ctx context.Context, deviceID string, limit int) ([]StoredReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, received_at, revision, hash, started_at, duration_ms, noop,
		unchanged, corrected, failed, skipped, drifted, compliance, results::text
		FROM reports WHERE device_id = $1 ORDER BY seq DESC LIMIT $2`, deviceID, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	defer rows.Close()
	var rs []StoredReport
	for rows.Next() {
		var (
			r       StoredReport
			results string
		)
		if err := rows.Scan(&r.Seq, &r.At, &r.Revision, &r.Hash, &r.StartedAt, &r.DurationMs, &r.Noop, &r.Counts.Unchanged,
			&r.Counts.Corrected, &r.Counts.Failed, &r.Counts.Skipped, &r.Counts.Drifted, &r.Compliance, &results); err != nil {
			return nil, fmt.Errorf("read reports: %w", err)
		}
		r.At, r.StartedAt = r.At.UTC(), r.StartedAt.UTC()
		if err := json.Unmarshal([]byte(results), &r.Resources); err != nil {
			return nil, fmt.Errorf("read reports: decode results: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	return rs, nil
}

var pgIdentityCols = fmt.Sprintf(identityCols, "labels::text",
	"coalesce((extract(epoch FROM prev_credential_until) * 1000)::bigint, 0)")

// Identities streams every device's identity.
func (s *Postgres) Identities(ctx context.Context, fn func(*Identity) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+pgIdentityCols+` FROM devices`)
	if err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	return scanIdentities(rows, fn)
}

// CredentialsChanged streams the identities of devices whose credential changed since.
func (s *Postgres) CredentialsChanged(ctx context.Context, since time.Time, fn func(*Identity) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+pgIdentityCols+` FROM devices WHERE credential_at >= $1`, since)
	if err != nil {
		return fmt.Errorf("read changed credentials: %w", err)
	}
	defer rows.Close()
	return scanIdentities(rows, fn)
}

// DeviceBySerial returns the id of member's latest device with serial.
func (s *Postgres) DeviceBySerial(ctx context.Context, member, serial string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM devices WHERE member = $1 AND serial = $2 AND serial <> ''
		ORDER BY enrolled_at DESC LIMIT 1`, member, serial).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("device of %s with serial %q: %w", member, serial, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("find device by serial: %w", err)
	}
	return id, nil
}

func scanPGDevice(sc scanner) (*Device, error) {
	var (
		d                  Device
		facts              []byte
		servedAt, reportAt *time.Time
		revision, applied  string
		c                  Counts
	)
	if err := sc.Scan(&d.ID, &d.Member, &d.CredentialHash, &facts, &d.EnrolledAt, &d.LastSeen, &d.Group, &d.Ring, &d.Profile,
		&d.ServedHash, &d.ServedRevision, &servedAt, &reportAt, &revision, &applied,
		&c.Unchanged, &c.Corrected, &c.Failed, &c.Skipped, &c.Drifted, &d.Compliance); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(facts, &d.Facts); err != nil {
		return nil, fmt.Errorf("decode facts of %s: %w", d.ID, err)
	}
	d.EnrolledAt, d.LastSeen = d.EnrolledAt.UTC(), d.LastSeen.UTC()
	if servedAt != nil {
		d.ServedAt = servedAt.UTC()
	}
	if reportAt != nil {
		d.LastReport = &LastReport{At: reportAt.UTC(), Revision: revision, AppliedHash: applied, Counts: c}
	}
	return &d, nil
}
