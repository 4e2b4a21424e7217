-- Progressive rollout: the revision each ring is served, and every decision about it (a
-- promotion record: revision, ring, action, who or what decided, why, and the evidence at
-- decision time as JSON). Times are Unix milliseconds.
CREATE TABLE rollout_rings (
	ring       TEXT PRIMARY KEY,
	revision   TEXT NOT NULL,
	previous   TEXT NOT NULL DEFAULT '',
	since      INTEGER NOT NULL,
	status     TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	updated_by TEXT NOT NULL
);

CREATE TABLE rollout_records (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	at       INTEGER NOT NULL,
	revision TEXT NOT NULL,
	ring     TEXT NOT NULL,
	action   TEXT NOT NULL,
	actor    TEXT NOT NULL,
	reason   TEXT NOT NULL,
	evidence TEXT NOT NULL
);
CREATE INDEX rollout_records_revision ON rollout_records (revision, seq);

-- The gate's evidence counts devices by ring, latest report's revision and failure: a
-- covering index makes that one index scan instead of a sort of the devices table.
CREATE INDEX devices_ring_report ON devices (ring, report_revision, failed) WHERE revoked_at IS NULL;
