package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file keeps the OS upgrades agents report: each device's current phase, every phase it
// entered, and the resets people make of failed ones.

// UpgradePhase is one phase report of a device's OS upgrade, as received.
type UpgradePhase struct {
	Device  string `json:"device"`
	Member  string `json:"member"`
	Group   string `json:"group"`
	Release string `json:"release"`
	From    string `json:"from,omitempty"`
	Phase   string `json:"phase"`
	Attempt int    `json:"attempt"`
	// At is when the agent entered the phase; ReceivedAt when the daemon heard of it.
	At         time.Time `json:"at"`
	ReceivedAt time.Time `json:"receivedAt"`
	Message    string    `json:"message,omitempty"`
	LogTail    string    `json:"logTail,omitempty"`
	Build      string    `json:"build,omitempty"`
	// AgentReset is the reset generation the agent has seen.
	AgentReset int64 `json:"agentReset"`
}

// UpgradeState is a device's current upgrade phase and its resets.
type UpgradeState struct {
	UpgradePhase
	// Reset counts the resets people made; above AgentReset, one is on its way to the agent.
	Reset   int64      `json:"reset"`
	ResetAt *time.Time `json:"resetAt,omitempty"`
	ResetBy string     `json:"resetBy,omitempty"`
}

// UpgradeCount is how many devices of a member's group stand in a phase of an upgrade to a
// release.
type UpgradeCount struct {
	Member  string `json:"member"`
	Group   string `json:"group"`
	Release string `json:"release"`
	Phase   string `json:"phase"`
	Devices int    `json:"devices"`
}

// UpgradeQuery selects current upgrade states: of Device, of Members (nil: all), in Phases (nil: any),
// at most Limit (0: 100, capped at MaxLimit), by member and device.
type UpgradeQuery struct {
	// Device, when set, selects one device.
	Device  string
	Members []string
	Phases  []string
	Limit   int
}

// OSUpgrades keeps OS upgrade phases.
type OSUpgrades interface {
	// RecordUpgrade stores a phase report as the device's current phase, appending it to the
	// device's events when the phase, attempt or release differ from the current one. It
	// returns the device's reset generation.
	RecordUpgrade(ctx context.Context, p *UpgradePhase) (int64, error)
	// UpgradeCounts counts current phases by member, group, release and phase.
	UpgradeCounts(ctx context.Context, members []string) ([]UpgradeCount, error)
	// Upgrades lists current upgrade states.
	Upgrades(ctx context.Context, q UpgradeQuery) ([]UpgradeState, error)
	// UpgradeEvents returns up to limit of a device's phases, newest first.
	UpgradeEvents(ctx context.Context, device string, limit int) ([]UpgradePhase, error)
	// ResetUpgrade raises a device's reset generation and returns its state, or an error
	// wrapping ErrNotFound when the device reported no upgrade.
	ResetUpgrade(ctx context.Context, device string, at time.Time, by string) (*UpgradeState, error)
	// UpgradesDone counts done upgrades by member, hardware model and release.
	UpgradesDone(ctx context.Context) ([]UpgradeDone, error)
}

var (
	_ OSUpgrades = (*SQLite)(nil)
	_ OSUpgrades = (*Postgres)(nil)
)

// inList adds "col IN (...)" for vals (none: nothing) to where, with placeholders from ph.
func inList(where *[]string, args *[]any, col string, vals []string, ph func(n int) string) {
	if vals == nil {
		return
	}
	if len(vals) == 0 {
		*where = append(*where, "1 = 0")
		return
	}
	marks := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		marks[i] = ph(len(*args))
	}
	*where = append(*where, col+" IN ("+strings.Join(marks, ", ")+")")
}

func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

func upgradeLimit(n int) int { return noticeLimit(n) }

// RecordUpgrade implements OSUpgrades.
func (s *SQLite) RecordUpgrade(ctx context.Context, p *UpgradePhase) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	defer tx.Rollback()
	var phase, release string
	var attempt int
	var reset int64
	err = tx.QueryRowContext(ctx, `SELECT phase, attempt, release, reset_gen FROM os_upgrades WHERE device_id = ?`, p.Device).
		Scan(&phase, &attempt, &release, &reset)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	changed := errors.Is(err, sql.ErrNoRows) || phase != p.Phase || attempt != p.Attempt || release != p.Release
	if _, err := tx.ExecContext(ctx, `INSERT INTO os_upgrades (device_id, member, group_name, release, from_release, phase, attempt,
		at, received_at, message, log_tail, build, agent_reset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET member = excluded.member, group_name = excluded.group_name, release = excluded.release,
		from_release = excluded.from_release, phase = excluded.phase, attempt = excluded.attempt, at = excluded.at,
		received_at = excluded.received_at, message = excluded.message, log_tail = excluded.log_tail, build = excluded.build,
		agent_reset = excluded.agent_reset`,
		p.Device, p.Member, p.Group, p.Release, p.From, p.Phase, p.Attempt, ms64(p.At), ms64(p.ReceivedAt), p.Message, p.LogTail,
		p.Build, p.AgentReset); err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	if changed {
		if _, err := tx.ExecContext(ctx, `INSERT INTO os_upgrade_events (device_id, member, release, phase, attempt, at, received_at,
			message, log_tail, build) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.Device, p.Member, p.Release, p.Phase, p.Attempt, ms64(p.At), ms64(p.ReceivedAt), p.Message, p.LogTail, p.Build); err != nil {
			return 0, fmt.Errorf("record upgrade: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	return reset, nil
}

// UpgradeCounts implements OSUpgrades.
func (s *SQLite) UpgradeCounts(ctx context.Context, members []string) ([]UpgradeCount, error) {
	var where []string
	var args []any
	inList(&where, &args, "member", members, sqlitePH)
	rows, err := s.r.QueryContext(ctx, `SELECT member, group_name, release, phase, count(*) FROM os_upgrades`+whereClause(where)+`
		GROUP BY member, group_name, release, phase ORDER BY member, group_name, release, phase`, args...)
	if err != nil {
		return nil, fmt.Errorf("count upgrades: %w", err)
	}
	defer rows.Close()
	return collectUpgradeCounts(rows)
}

func collectUpgradeCounts(rows resultRows) ([]UpgradeCount, error) {
	out := []UpgradeCount{}
	for rows.Next() {
		var c UpgradeCount
		if err := rows.Scan(&c.Member, &c.Group, &c.Release, &c.Phase, &c.Devices); err != nil {
			return nil, fmt.Errorf("count upgrades: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count upgrades: %w", err)
	}
	return out, nil
}

const upgradeCols = `device_id, member, group_name, release, from_release, phase, attempt, at, received_at, message, log_tail,
	build, agent_reset, reset_gen, reset_at, reset_by`

// Upgrades implements OSUpgrades.
func (s *SQLite) Upgrades(ctx context.Context, q UpgradeQuery) ([]UpgradeState, error) {
	var where []string
	var args []any
	inList(&where, &args, "member", q.Members, sqlitePH)
	inList(&where, &args, "phase", q.Phases, sqlitePH)
	if q.Device != "" {
		inList(&where, &args, "device_id", []string{q.Device}, sqlitePH)
	}
	args = append(args, upgradeLimit(q.Limit))
	rows, err := s.r.QueryContext(ctx, `SELECT `+upgradeCols+` FROM os_upgrades`+whereClause(where)+
		` ORDER BY member, device_id LIMIT `+sqlitePH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list upgrades: %w", err)
	}
	defer rows.Close()
	out := []UpgradeState{}
	for rows.Next() {
		u, err := scanSQLiteUpgrade(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

func scanSQLiteUpgrade(row interface{ Scan(...any) error }) (*UpgradeState, error) {
	var u UpgradeState
	var at, recv int64
	var resetAt sql.NullInt64
	err := row.Scan(&u.Device, &u.Member, &u.Group, &u.Release, &u.From, &u.Phase, &u.Attempt, &at, &recv, &u.Message, &u.LogTail,
		&u.Build, &u.AgentReset, &u.Reset, &resetAt, &u.ResetBy)
	if err != nil {
		return nil, fmt.Errorf("read upgrade: %w", err)
	}
	u.At, u.ReceivedAt = fromMs(at), fromMs(recv)
	if resetAt.Valid {
		t := fromMs(resetAt.Int64)
		u.ResetAt = &t
	}
	return &u, nil
}

// UpgradeEvents implements OSUpgrades.
func (s *SQLite) UpgradeEvents(ctx context.Context, device string, limit int) ([]UpgradePhase, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT device_id, member, release, phase, attempt, at, received_at, message, log_tail, build
		FROM os_upgrade_events WHERE device_id = ? ORDER BY seq DESC LIMIT ?`, device, upgradeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("upgrade events: %w", err)
	}
	defer rows.Close()
	out := []UpgradePhase{}
	for rows.Next() {
		var p UpgradePhase
		var at, recv int64
		if err := rows.Scan(&p.Device, &p.Member, &p.Release, &p.Phase, &p.Attempt, &at, &recv, &p.Message, &p.LogTail, &p.Build); err != nil {
			return nil, fmt.Errorf("upgrade events: %w", err)
		}
		p.At, p.ReceivedAt = fromMs(at), fromMs(recv)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ResetUpgrade implements OSUpgrades.
func (s *SQLite) ResetUpgrade(ctx context.Context, device string, at time.Time, by string) (*UpgradeState, error) {
	u, err := scanSQLiteUpgrade(s.w.QueryRowContext(ctx, `UPDATE os_upgrades SET reset_gen = reset_gen + 1, reset_at = ?, reset_by = ?
		WHERE device_id = ? RETURNING `+upgradeCols, ms64(at), by, device))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("upgrade of device %s: %w", device, ErrNotFound)
	}
	return u, err
}

// RecordUpgrade implements OSUpgrades.
func (s *Postgres) RecordUpgrade(ctx context.Context, p *UpgradePhase) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	defer tx.Rollback(ctx)
	var phase, release string
	var attempt int
	var reset int64
	err = tx.QueryRow(ctx, `SELECT phase, attempt, release, reset_gen FROM os_upgrades WHERE device_id = $1 FOR UPDATE`, p.Device).
		Scan(&phase, &attempt, &release, &reset)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	changed := errors.Is(err, pgx.ErrNoRows) || phase != p.Phase || attempt != p.Attempt || release != p.Release
	if _, err := tx.Exec(ctx, `INSERT INTO os_upgrades (device_id, member, group_name, release, from_release, phase, attempt,
		at, received_at, message, log_tail, build, agent_reset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (device_id) DO UPDATE SET member = excluded.member, group_name = excluded.group_name, release = excluded.release,
		from_release = excluded.from_release, phase = excluded.phase, attempt = excluded.attempt, at = excluded.at,
		received_at = excluded.received_at, message = excluded.message, log_tail = excluded.log_tail, build = excluded.build,
		agent_reset = excluded.agent_reset`,
		p.Device, p.Member, p.Group, p.Release, p.From, p.Phase, p.Attempt, p.At.UTC(), p.ReceivedAt.UTC(), p.Message, p.LogTail,
		p.Build, p.AgentReset); err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	if changed {
		if _, err := tx.Exec(ctx, `INSERT INTO os_upgrade_events (device_id, member, release, phase, attempt, at, received_at,
			message, log_tail, build) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.Device, p.Member, p.Release, p.Phase, p.Attempt, p.At.UTC(), p.ReceivedAt.UTC(), p.Message, p.LogTail, p.Build); err != nil {
			return 0, fmt.Errorf("record upgrade: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("record upgrade: %w", err)
	}
	return reset, nil
}

// UpgradeCounts implements OSUpgrades.
func (s *Postgres) UpgradeCounts(ctx context.Context, members []string) ([]UpgradeCount, error) {
	var where []string
	var args []any
	inList(&where, &args, "member", members, pgPH)
	rows, err := s.pool.Query(ctx, `SELECT member, group_name, release, phase, count(*)::int FROM os_upgrades`+whereClause(where)+`
		GROUP BY member, group_name, release, phase ORDER BY member, group_name, release, phase`, args...)
	if err != nil {
		return nil, fmt.Errorf("count upgrades: %w", err)
	}
	defer rows.Close()
	return collectUpgradeCounts(rows)
}

// Upgrades implements OSUpgrades.
func (s *Postgres) Upgrades(ctx context.Context, q UpgradeQuery) ([]UpgradeState, error) {
	var where []string
	var args []any
	inList(&where, &args, "member", q.Members, pgPH)
	inList(&where, &args, "phase", q.Phases, pgPH)
	if q.Device != "" {
		inList(&where, &args, "device_id", []string{q.Device}, pgPH)
	}
	args = append(args, upgradeLimit(q.Limit))
	rows, err := s.pool.Query(ctx, `SELECT `+upgradeCols+` FROM os_upgrades`+whereClause(where)+
		` ORDER BY member, device_id LIMIT `+pgPH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list upgrades: %w", err)
	}
	defer rows.Close()
	out := []UpgradeState{}
	for rows.Next() {
		u, err := scanPGUpgrade(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

func scanPGUpgrade(row interface{ Scan(...any) error }) (*UpgradeState, error) {
	var u UpgradeState
	err := row.Scan(&u.Device, &u.Member, &u.Group, &u.Release, &u.From, &u.Phase, &u.Attempt, &u.At, &u.ReceivedAt, &u.Message,
		&u.LogTail, &u.Build, &u.AgentReset, &u.Reset, &u.ResetAt, &u.ResetBy)
	if err != nil {
		return nil, fmt.Errorf("read upgrade: %w", err)
	}
	u.At, u.ReceivedAt = u.At.UTC(), u.ReceivedAt.UTC()
	if u.ResetAt != nil {
		t := u.ResetAt.UTC()
		u.ResetAt = &t
	}
	return &u, nil
}

// UpgradeEvents implements OSUpgrades.
func (s *Postgres) UpgradeEvents(ctx context.Context, device string, limit int) ([]UpgradePhase, error) {
	rows, err := s.pool.Query(ctx, `SELECT device_id, member, release, phase, attempt, at, received_at, message, log_tail, build
		FROM os_upgrade_events WHERE device_id = $1 ORDER BY seq DESC LIMIT $2`, device, upgradeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("upgrade events: %w", err)
	}
	defer rows.Close()
	out := []UpgradePhase{}
	for rows.Next() {
		var p UpgradePhase
		if err := rows.Scan(&p.Device, &p.Member, &p.Release, &p.Phase, &p.Attempt, &p.At, &p.ReceivedAt, &p.Message, &p.LogTail, &p.Build); err != nil {
			return nil, fmt.Errorf("upgrade events: %w", err)
		}
		p.At, p.ReceivedAt = p.At.UTC(), p.ReceivedAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// ResetUpgrade implements OSUpgrades.
func (s *Postgres) ResetUpgrade(ctx context.Context, device string, at time.Time, by string) (*UpgradeState, error) {
	u, err := scanPGUpgrade(s.pool.QueryRow(ctx, `UPDATE os_upgrades SET reset_gen = reset_gen + 1, reset_at = $1, reset_by = $2
		WHERE device_id = $3 RETURNING `+upgradeCols, at.UTC(), by, device))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("upgrade of device %s: %w", device, ErrNotFound)
	}
	return u, err
}

// UpgradeDone counts the devices of one member and hardware model whose upgrade to Release
// is done.
type UpgradeDone struct {
	Member  string `json:"member"`
	Vendor  string `json:"vendor"`
	Model   string `json:"model"`
	Release string `json:"release"`
	Devices int    `json:"devices"`
}

// upgradesDoneQuery counts done upgrades by member, hardware model (as the device reports it)
// and release: the certification matrix's "done" per cell.
const upgradesDoneQuery = `SELECT d.member, d.vendor, d.model, u.release, count(*) FROM os_upgrades u JOIN devices d ON d.id = u.device_id
	WHERE u.phase = 'done' AND d.revoked_at IS NULL GROUP BY d.member, d.vendor, d.model, u.release ORDER BY d.member, d.vendor, d.model, u.release`

// UpgradesDone counts done upgrades by member, hardware model and release.
func (s *SQLite) UpgradesDone(ctx context.Context) ([]UpgradeDone, error) {
	rows, err := s.r.QueryContext(ctx, upgradesDoneQuery)
	if err != nil {
		return nil, fmt.Errorf("count done upgrades: %w", err)
	}
	defer rows.Close()
	return collectUpgradesDone(rows)
}

// UpgradesDone counts done upgrades by member, hardware model and release.
func (s *Postgres) UpgradesDone(ctx context.Context) ([]UpgradeDone, error) {
	rows, err := s.pool.Query(ctx, upgradesDoneQuery)
	if err != nil {
		return nil, fmt.Errorf("count done upgrades: %w", err)
	}
	defer rows.Close()
	return collectUpgradesDone(rows)
}

func collectUpgradesDone(rows resultRows) ([]UpgradeDone, error) {
	var out []UpgradeDone
	for rows.Next() {
		var c UpgradeDone
		if err := rows.Scan(&c.Member, &c.Vendor, &c.Model, &c.Release, &c.Devices); err != nil {
			return nil, fmt.Errorf("count done upgrades: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count done upgrades: %w", err)
	}
	return out, nil
}
