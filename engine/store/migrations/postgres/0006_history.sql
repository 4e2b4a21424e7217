-- History: each device's facts, served state and reported outcome as periods [from_at, to_at)
-- (to_at NULL while open), the revisions each ring was served, and the waivers in force.
--
-- The device row keeps the start of each open period, so that the report and served updates
-- learn in the same statement whether a period ends (their SET clauses see the old row) and
-- which one: *_closed is the start of the period the last update closed (NULL when it closed
-- none; equal to the new start when it only opened one), and outcome_reports counts the
-- reports of the open outcome period. None of these columns is indexed, so reports stay HOT
-- updates.
ALTER TABLE devices
	ADD COLUMN facts_from             timestamptz,
	ADD COLUMN facts_closed           timestamptz,
	ADD COLUMN served_from            timestamptz,
	ADD COLUMN served_closed          timestamptz,
	ADD COLUMN outcome_from           timestamptz,
	ADD COLUMN outcome_closed         timestamptz,
	ADD COLUMN outcome_reports        bigint NOT NULL DEFAULT 0,
	ADD COLUMN outcome_closed_reports bigint;

-- A period is found by its primary key (device_id, from_at), and by nothing else: closing one
-- is an update by that key and changes no indexed column, so it is a HOT update within the
-- page (fillfactor leaves room) and leaves no dead index entries; retention walks the devices
-- and deletes each one's oldest closed periods through the same key.
CREATE TABLE facts_periods (
	device_id text NOT NULL,
	from_at   timestamptz NOT NULL,
	to_at     timestamptz,
	facts     jsonb NOT NULL,
	PRIMARY KEY (device_id, from_at)
) WITH (fillfactor = 85);

CREATE TABLE served_periods (
	device_id  text NOT NULL,
	from_at    timestamptz NOT NULL,
	to_at      timestamptz,
	hash       text NOT NULL,
	revision   text NOT NULL,
	group_name text NOT NULL,
	ring       text NOT NULL,
	profile    text NOT NULL,
	PRIMARY KEY (device_id, from_at)
) WITH (fillfactor = 85);

CREATE TABLE outcome_periods (
	device_id   text NOT NULL,
	from_at     timestamptz NOT NULL,
	to_at       timestamptz,
	revision    text NOT NULL,
	hash        text NOT NULL,
	compliance  text NOT NULL,
	unchanged   integer NOT NULL,
	corrected   integer NOT NULL,
	failed      integer NOT NULL,
	skipped     integer NOT NULL,
	drifted     integer NOT NULL,
	-- reports is set when the period closes; while open, the device row counts them.
	reports     bigint NOT NULL DEFAULT 0,
	results     json NOT NULL,
	PRIMARY KEY (device_id, from_at)
) WITH (fillfactor = 85);

CREATE TABLE revision_events (
	id       bigserial PRIMARY KEY,
	at       timestamptz NOT NULL,
	ring     text NOT NULL,
	revision text NOT NULL,
	event    text NOT NULL,
	reason   text NOT NULL,
	message  text NOT NULL,
	by_whom  text NOT NULL
);
CREATE INDEX revision_events_ring_at ON revision_events (ring, at);
CREATE INDEX revision_events_at ON revision_events (at);

CREATE TABLE waiver_periods (
	id        bigserial PRIMARY KEY,
	from_at   timestamptz NOT NULL,
	to_at     timestamptz,
	namespace text NOT NULL,
	name      text NOT NULL,
	policy    text NOT NULL,
	targets   jsonb NOT NULL,
	reason    text NOT NULL,
	approver  text NOT NULL,
	expires   text NOT NULL,
	revision  text NOT NULL
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
		coalesce((SELECT r.results FROM reports r WHERE r.device_id = d.id AND r.received_at = d.report_at LIMIT 1), '[]'::json)
	FROM devices d WHERE d.outcome_from IS NOT NULL;
