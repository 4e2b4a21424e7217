-- History: each device's facts, served state and reported outcome as periods [from_at, to_at)
-- (to_at NULL while open), the revisions each ring was served, and the waivers in force.
-- Times are Unix milliseconds (UTC).
--
-- The device row keeps the start of each open period, so that the report and served updates
-- learn in the same statement whether a period ends (their SET clauses see the old row) and
-- which one: *_closed is the start of the period the last update closed (NULL when it closed
-- none; equal to the new start when it only opened one), and outcome_reports counts the
-- reports of the open outcome period.
ALTER TABLE devices ADD COLUMN facts_from INTEGER;
ALTER TABLE devices ADD COLUMN facts_closed INTEGER;
ALTER TABLE devices ADD COLUMN served_from INTEGER;
ALTER TABLE devices ADD COLUMN served_closed INTEGER;
ALTER TABLE devices ADD COLUMN outcome_from INTEGER;
ALTER TABLE devices ADD COLUMN outcome_closed INTEGER;
ALTER TABLE devices ADD COLUMN outcome_reports INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN outcome_closed_reports INTEGER;

-- A period is found by (device_id, from_at), and by nothing else: closing one is an update by
-- that key, and retention walks the devices and deletes each one's oldest closed periods
-- through the same key, so no other index costs ingest or space. Facts and outcomes carry JSON
-- of any size: rowid tables with a unique index.
CREATE TABLE facts_periods (
	device_id TEXT NOT NULL,
	from_at   INTEGER NOT NULL,
	to_at     INTEGER,
	facts     TEXT NOT NULL
);
CREATE UNIQUE INDEX facts_periods_device_from ON facts_periods (device_id, from_at);

CREATE TABLE served_periods (
	device_id  TEXT NOT NULL,
	from_at    INTEGER NOT NULL,
	to_at      INTEGER,
	hash       TEXT NOT NULL,
	revision   TEXT NOT NULL,
	group_name TEXT NOT NULL,
	ring       TEXT NOT NULL,
	profile    TEXT NOT NULL,
	PRIMARY KEY (device_id, from_at)
) WITHOUT ROWID;

CREATE TABLE outcome_periods (
	device_id   TEXT NOT NULL,
	from_at     INTEGER NOT NULL,
	to_at       INTEGER,
	revision    TEXT NOT NULL,
	hash        TEXT NOT NULL,
	compliance  TEXT NOT NULL,
	unchanged   INTEGER NOT NULL,
	corrected   INTEGER NOT NULL,
	failed      INTEGER NOT NULL,
	skipped     INTEGER NOT NULL,
	drifted     INTEGER NOT NULL,
	-- reports is set when the period closes; while open, the device row counts them.
	reports     INTEGER NOT NULL DEFAULT 0,
	results     TEXT NOT NULL
);
CREATE UNIQUE INDEX outcome_periods_device_from ON outcome_periods (device_id, from_at);

CREATE TABLE revision_events (
	id       INTEGER PRIMARY KEY,
	at       INTEGER NOT NULL,
	ring     TEXT NOT NULL,
	revision TEXT NOT NULL,
	event    TEXT NOT NULL,
	reason   TEXT NOT NULL,
	message  TEXT NOT NULL,
	by_whom  TEXT NOT NULL
);
CREATE INDEX revision_events_ring_at ON revision_events (ring, at);
CREATE INDEX revision_events_at ON revision_events (at);

CREATE TABLE waiver_periods (
	id        INTEGER PRIMARY KEY,
	from_at   INTEGER NOT NULL,
	to_at     INTEGER,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	policy    TEXT NOT NULL,
	targets   TEXT NOT NULL,
	reason    TEXT NOT NULL,
	approver  TEXT NOT NULL,
	expires   TEXT NOT NULL,
	revision  TEXT NOT NULL
);
CREATE INDEX waiver_periods_from ON waiver_periods (from_at);
CREATE INDEX waiver_periods_open ON waiver_periods (namespace, name) WHERE to_at IS NULL;
CREATE INDEX waiver_periods_to ON waiver_periods (to_at) WHERE to_at IS NOT NULL;

-- Devices enrolled before history was kept: an open period from the last moment their row is
-- known to describe (the last time they were seen, served or reported), so that nothing is
-- claimed of the time before.
UPDATE devices SET facts_from = last_seen, served_from = CASE WHEN served_hash <> '' THEN served_at END,
	outcome_from = report_at, outcome_reports = CASE WHEN report_at IS NOT NULL THEN 1 ELSE 0 END;
INSERT INTO facts_periods (device_id, from_at, facts) SELECT id, facts_from, facts FROM devices;
INSERT INTO served_periods (device_id, from_at, hash, revision, group_name, ring, profile)
	SELECT id, served_from, served_hash, served_revision, group_name, ring, profile FROM devices WHERE served_from IS NOT NULL;
INSERT INTO outcome_periods (device_id, from_at, revision, hash, compliance, unchanged, corrected, failed, skipped, drifted, results)
	SELECT d.id, d.outcome_from, d.report_revision, d.applied_hash, d.compliance, d.unchanged, d.corrected, d.failed, d.skipped, d.drifted,
		coalesce((SELECT r.results FROM reports r WHERE r.device_id = d.id AND r.received_at = d.report_at), '[]')
	FROM devices d WHERE d.outcome_from IS NOT NULL;
