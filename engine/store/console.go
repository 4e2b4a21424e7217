package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

// Never is the state of a device that has not reported yet. The console tells it apart from
// Stale, which there means a report that is too old or applied another state than the one
// last served.
const Never = "never"

// States lists the states the console counts and filters by, in the order it shows them.
var States = []string{Compliant, Drifted, Failed, Stale, Never, Unmanaged, OSPending, OSUpgrading, OSFailed}

// Browse filters and pages the console's device list. Empty fields match everything; every
// filter but State and Search is an equality on an indexed column.
type Browse struct {
	// Members, when not nil, limits the list to these members (the members a person may
	// see); an empty, non-nil list matches nothing.
	Members []string
	Member  string
	Group   string
	Ring    string
	// Model is the hardware model as the device reports it (SMBIOS product name).
	Model string
	// OSBuild is the OS build the device reports.
	OSBuild string
	// State is one of States.
	State string
	// Search matches devices whose id or hostname begins with it.
	Search string
	// StaleBefore: a device whose last report is older is stale.
	StaleBefore time.Time
	// After is the cursor: only ids greater than it.
	After string
	// Limit is the page size (default 100, at most MaxLimit).
	Limit int
}

// Census is the number of devices sharing a member, group, ring, hardware, OS build, served
// state and console state.
type Census struct {
	Member     string
	Group      string
	Ring       string
	Vendor     string
	Model      string
	OSBuild    string
	ServedHash string
	// State is one of States.
	State   string
	Devices int
}

// Outcome is the latest report of a device that had resources fail or drift: its resources
// that ended other than unchanged.
type Outcome struct {
	DeviceID   string
	Member     string
	ServedHash string
	Resources  []desired.ResourceResult
}

// stateExpr is the SQL of a device's console state (a device no group selects is unmanaged,
// whatever it reports, as in staleExpr); %[1]s is the stale horizon's placeholder.
const stateExpr = `CASE WHEN served_at IS NOT NULL AND group_name = '' THEN 'unmanaged'` + osStateWhen + ` WHEN report_at IS NULL THEN 'never' WHEN report_at < %[1]s OR applied_hash <> served_hash THEN 'stale' ELSE compliance END`

// browseSQL builds the WHERE clause of b; ph returns the placeholder of the nth argument.
// The stale horizon is always the first argument.
func browseSQL(b Browse, stale any, ph func(n int) string, search searchForm) (where string, args []any, err error) {
	if b.State != "" && !validState(b.State) {
		return "", nil, fmt.Errorf("list devices: state %q: must be one of %s", b.State, strings.Join(States, ", "))
	}
	args = []any{stale}
	add := func(v any) string {
		args = append(args, v)
		return ph(len(args))
	}
	var w strings.Builder
	w.WriteString(" WHERE id > " + add(b.After))
	if b.Members != nil {
		if len(b.Members) == 0 {
			w.WriteString(" AND 1 = 0")
		} else {
			ps := make([]string, len(b.Members))
			for i, m := range b.Members {
				ps[i] = add(m)
			}
			w.WriteString(" AND member IN (" + strings.Join(ps, ", ") + ")")
		}
	}
	for _, f := range []struct{ col, val string }{
		{"member", b.Member}, {"group_name", b.Group}, {"ring", b.Ring}, {"model", b.Model}, {"os_build", b.OSBuild},
	} {
		if f.val != "" {
			w.WriteString(" AND " + f.col + " = " + add(f.val))
		}
	}
	if b.State != "" {
		w.WriteString(" AND (" + fmt.Sprintf(stateExpr, ph(1)) + ") = " + add(b.State))
	}
	if s := b.Search; s != "" {
		switch search {
		case searchLike:
			p := add(escapeLike(s) + "%")
			w.WriteString(" AND (id LIKE " + p + " OR hostname LIKE " + p + ")")
		case searchUnion:
			// The devices the search finds come first, through both indexes; the other
			// filters then look at those only.
			lo, hi := add(s), add(s+"\U0010FFFF")
			w.WriteString(" AND id IN (SELECT id FROM devices WHERE id >= " + lo + " AND id < " + hi +
				" UNION SELECT id FROM devices WHERE hostname >= " + lo + " AND hostname < " + hi + ")")
		default:
			lo, hi := add(s), add(s+"\U0010FFFF")
			w.WriteString(" AND ((id >= " + lo + " AND id < " + hi + ") OR (hostname >= " + lo + " AND hostname < " + hi + "))")
		}
	}
	return w.String(), args, nil
}

// searchForm is how a search becomes SQL.
type searchForm int

const (
	// searchRange: id or hostname in the prefix's range, tested row by row.
	searchRange searchForm = iota
	// searchUnion: the ids the two ranges find, as a subquery.
	searchUnion
	// searchLike: LIKE 'prefix%' (PostgreSQL, with text_pattern_ops indexes).
	searchLike
)

func validState(s string) bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// escapeLike escapes LIKE's wildcards and its escape character (PostgreSQL's default, \).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func browseLimit(n int) int { return Query{Limit: n}.limit() }

func sqlitePH(n int) string { return "?" + strconv.Itoa(n) }
func pgPH(n int) string     { return "$" + strconv.Itoa(n) }
func sqliteState() string   { return fmt.Sprintf(stateExpr, "?1") }
func pgState() string       { return fmt.Sprintf(stateExpr, "$1") }
func censusCols() string    { return `member, group_name, ring, vendor, model, os_build, served_hash` }
func censusGroupBy() string {
	return ` GROUP BY member, group_name, ring, vendor, model, os_build, served_hash, state`
}

// Browse returns a page of devices, in id order.
func (s *SQLite) Browse(ctx context.Context, b Browse) (*Page, error) {
	index, form := sqliteIndexFor(b), searchRange
	if b.Search != "" {
		// A search that matches few devices is read through its indexes; one that matches
		// many (a prefix every hostname of a site shares) walks the devices in id order,
		// where its matches are dense enough to fill a page soon.
		broad, err := s.broadSearch(ctx, b.Search)
		if err != nil {
			return nil, err
		}
		if broad {
			index = " INDEXED BY sqlite_autoindex_devices_1"
		} else {
			form = searchUnion
		}
	}
	where, args, err := browseSQL(b, ms64(b.StaleBefore), sqlitePH, form)
	if err != nil {
		return nil, err
	}
	limit := browseLimit(b.Limit)
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteDeviceCols+`, `+fmt.Sprintf(staleExpr, "?1")+` FROM devices`+index+where+
		` ORDER BY id LIMIT `+sqlitePH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	return collectPage(rows, limit, func() (*Device, error) { return scanSQLiteDevice(rows) })
}

// broadThreshold is the number of matches past which a search counts as broad.
var broadThreshold = 2000

// broadSearch reports whether more than broadThreshold devices' ids or hostnames begin with
// prefix, counting no further than that through the two indexes.
func (s *SQLite) broadSearch(ctx context.Context, prefix string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM devices WHERE hostname >= ?1 AND hostname < ?2 LIMIT ?3))
		+ (SELECT count(*) FROM (SELECT 1 FROM devices WHERE id >= ?1 AND id < ?2 LIMIT ?3))`,
		prefix, prefix+"\U0010FFFF", broadThreshold+1).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("list devices: %w", err)
	}
	return n > broadThreshold, nil
}

// sqliteIndexFor names the index a page of b is read through. SQLite keeps no statistics
// unless told to ANALYZE, and then picks among equally good-looking indexes by their order:
// with a member and a hardware model it may walk every device of the model (a sixth of the
// fleet) to find a page of the member's (a fortieth). The filters' usual selectivity is
// known: one member, then a device group, a hardware model, an OS build, a ring. A search
// is left to the planner, which reads both of its indexes.
func sqliteIndexFor(b Browse) string {
	switch {
	case b.Search != "":
		return ""
	case b.Member != "" || len(b.Members) == 1:
		return " INDEXED BY devices_member_id"
	case b.Group != "":
		return " INDEXED BY devices_group_id"
	case b.Model != "":
		return " INDEXED BY devices_model_id"
	case b.OSBuild != "":
		return " INDEXED BY devices_os_id"
	case b.Ring != "":
		return " INDEXED BY devices_ring_id"
	}
	return ""
}

// Census counts devices by member, group, ring, hardware, OS build, served state and console
// state. It reads every device row once and counts in memory: SQLite's own GROUP BY sorts
// all rows in a temporary b-tree first, which took twice as long.
func (s *SQLite) Census(ctx context.Context, staleBefore time.Time) ([]Census, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+censusCols()+`, `+sqliteState()+` FROM devices NOT INDEXED`, ms64(staleBefore))
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	counts := map[Census]int{}
	var c Census
	for rows.Next() {
		if err := rows.Scan(&c.Member, &c.Group, &c.Ring, &c.Vendor, &c.Model, &c.OSBuild, &c.ServedHash, &c.State); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		counts[c]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	out := make([]Census, 0, len(counts))
	for k, n := range counts {
		k.Devices = n
		out = append(out, k)
	}
	return out, nil
}

// Outcomes calls fn with the latest report of every device whose last report, of the state it
// was last served, had resources fail or drift, and whose member is in members (all members
// when members is nil).
func (s *SQLite) Outcomes(ctx context.Context, members []string, fn func(*Outcome) error) error {
	q, args := outcomesSQL(members, sqlitePH)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	defer rows.Close()
	return scanOutcomes(rows, fn)
}

// outcomesSQL: a report that failed or drifted is always kept in history
// under the device's history_seq, so the device row leads to it.
func outcomesSQL(members []string, ph func(int) string) (string, []any) {
	q := `SELECT d.id, d.member, d.served_hash, r.results FROM devices d JOIN reports r ON r.device_id = d.id AND r.seq = d.history_seq
		WHERE (d.failed > 0 OR d.drifted > 0) AND d.applied_hash = d.served_hash`
	var args []any
	if members != nil {
		if len(members) == 0 {
			return q + ` AND 1 = 0`, nil
		}
		ps := make([]string, len(members))
		for i, m := range members {
			args = append(args, m)
			ps[i] = ph(len(args))
		}
		q += ` AND d.member IN (` + strings.Join(ps, ", ") + `)`
	}
	return q, args
}

func scanOutcomes(rows resultRows, fn func(*Outcome) error) error {
	var (
		o       Outcome
		results string
	)
	for rows.Next() {
		o = Outcome{}
		if err := rows.Scan(&o.DeviceID, &o.Member, &o.ServedHash, &results); err != nil {
			return fmt.Errorf("read outcomes: %w", err)
		}
		if err := json.Unmarshal([]byte(results), &o.Resources); err != nil {
			return fmt.Errorf("read outcomes: device %s: %w", o.DeviceID, err)
		}
		if err := fn(&o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	return nil
}

func scanCensus(rows resultRows) ([]Census, error) {
	var cs []Census
	for rows.Next() {
		var c Census
		if err := rows.Scan(&c.Member, &c.Group, &c.Ring, &c.Vendor, &c.Model, &c.OSBuild, &c.ServedHash, &c.State, &c.Devices); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return cs, nil
}

// Browse returns a page of devices, in id order.
func (s *Postgres) Browse(ctx context.Context, b Browse) (*Page, error) {
	where, args, err := browseSQL(b, b.StaleBefore, pgPH, searchLike)
	if err != nil {
		return nil, err
	}
	limit := browseLimit(b.Limit)
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, `SELECT `+pgDeviceCols+`, `+pgStale+` FROM devices`+where+` ORDER BY id LIMIT `+pgPH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	return collectPage(rows, limit, func() (*Device, error) { return scanPGDevice(rows) })
}

// Census counts devices by member, group, ring, hardware, OS build, served state and console
// state. It reads every device row once.
func (s *Postgres) Census(ctx context.Context, staleBefore time.Time) ([]Census, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+censusCols()+`, `+pgState()+` AS state, count(*)::int FROM devices`+censusGroupBy(), staleBefore)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	return scanCensus(rows)
}

// Outcomes calls fn with the latest report of every device that had resources fail or drift.
func (s *Postgres) Outcomes(ctx context.Context, members []string, fn func(*Outcome) error) error {
	q, args := outcomesSQL(members, pgPH)
	rows, err := s.pool.Query(ctx, strings.Replace(q, "r.results", "r.results::text", 1), args...)
	if err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	defer rows.Close()
	return scanOutcomes(rows, fn)
}
