-- Times are Unix milliseconds (UTC).
CREATE TABLE devices (
	id              TEXT PRIMARY KEY,
	member          TEXT NOT NULL,
	credential_hash BLOB NOT NULL,
	hostname        TEXT NOT NULL DEFAULT '',
	facts           TEXT NOT NULL,
	labels          TEXT NOT NULL DEFAULT '{}',
	-- What compilation reads of the facts, and a digest of them, so the daemon can load every
	-- device at start without decoding each device's facts.
	vendor          TEXT NOT NULL DEFAULT '',
	model           TEXT NOT NULL DEFAULT '',
	os_family       TEXT NOT NULL DEFAULT '',
	os_build        TEXT NOT NULL DEFAULT '',
	facts_digest    INTEGER NOT NULL DEFAULT 0,
	enrolled_at     INTEGER NOT NULL,
	last_seen       INTEGER NOT NULL,
	group_name      TEXT NOT NULL DEFAULT '',
	ring            TEXT NOT NULL DEFAULT '',
	profile         TEXT NOT NULL DEFAULT '',
	served_hash     TEXT NOT NULL DEFAULT '',
	served_revision TEXT NOT NULL DEFAULT '',
	served_at       INTEGER,
	report_at       INTEGER,
	report_revision TEXT NOT NULL DEFAULT '',
	applied_hash    TEXT NOT NULL DEFAULT '',
	unchanged       INTEGER NOT NULL DEFAULT 0,
	corrected       INTEGER NOT NULL DEFAULT 0,
	failed          INTEGER NOT NULL DEFAULT 0,
	skipped         INTEGER NOT NULL DEFAULT 0,
	drifted         INTEGER NOT NULL DEFAULT 0,
	compliance      TEXT NOT NULL DEFAULT 'stale',
	reports         INTEGER NOT NULL DEFAULT 0,
	-- hash_streak counts the reports in a row that applied applied_hash; history_seq counts the
	-- reports kept in history.
	hash_streak     INTEGER NOT NULL DEFAULT 0,
	history_seq     INTEGER NOT NULL DEFAULT 0
);
-- Only member and group are indexed, so a report touches no index of devices.
CREATE INDEX devices_member_group ON devices (member, group_name);

-- reports is a ring of History slots per device (slot = seq % History) holding the reports
-- worth keeping: the first of each applied state, and any that corrected, skipped, failed or
-- found drift. A run that found everything in line only updates the device row.
CREATE TABLE reports (
	device_id   TEXT NOT NULL,
	slot        INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	revision    TEXT NOT NULL,
	hash        TEXT NOT NULL,
	started_at  INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL,
	noop        INTEGER NOT NULL,
	unchanged   INTEGER NOT NULL,
	corrected   INTEGER NOT NULL,
	failed      INTEGER NOT NULL,
	skipped     INTEGER NOT NULL,
	drifted     INTEGER NOT NULL,
	compliance  TEXT NOT NULL,
	results     TEXT NOT NULL
);
-- A rowid table (rows are too large to keep in an index b-tree), found by device and slot.
CREATE UNIQUE INDEX reports_device_slot ON reports (device_id, slot);

CREATE TABLE enrollments (
	id        INTEGER PRIMARY KEY,
	device_id TEXT NOT NULL,
	member    TEXT NOT NULL,
	at        INTEGER NOT NULL,
	hostname  TEXT NOT NULL,
	serial    TEXT NOT NULL,
	remote    TEXT NOT NULL
);
CREATE INDEX enrollments_member_at ON enrollments (member, at);
