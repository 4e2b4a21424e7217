CREATE TABLE devices (
	id              text PRIMARY KEY,
	member          text NOT NULL,
	credential_hash bytea NOT NULL,
	hostname        text NOT NULL DEFAULT '',
	facts           jsonb NOT NULL,
	labels          jsonb NOT NULL DEFAULT '{}',
	-- What compilation reads of the facts, and a digest of them, so the daemon can load every
	-- device at start without decoding each device's facts.
	vendor          text NOT NULL DEFAULT '',
	model           text NOT NULL DEFAULT '',
	os_family       text NOT NULL DEFAULT '',
	os_build        text NOT NULL DEFAULT '',
	facts_digest    bigint NOT NULL DEFAULT 0,
	enrolled_at     timestamptz NOT NULL,
	last_seen       timestamptz NOT NULL,
	group_name      text NOT NULL DEFAULT '',
	ring            text NOT NULL DEFAULT '',
	profile         text NOT NULL DEFAULT '',
	served_hash     text NOT NULL DEFAULT '',
	served_revision text NOT NULL DEFAULT '',
	served_at       timestamptz,
	report_at       timestamptz,
	report_revision text NOT NULL DEFAULT '',
	applied_hash    text NOT NULL DEFAULT '',
	unchanged       integer NOT NULL DEFAULT 0,
	corrected       integer NOT NULL DEFAULT 0,
	failed          integer NOT NULL DEFAULT 0,
	skipped         integer NOT NULL DEFAULT 0,
	drifted         integer NOT NULL DEFAULT 0,
	compliance      text NOT NULL DEFAULT 'stale',
	reports         bigint NOT NULL DEFAULT 0,
	-- hash_streak counts the reports in a row that applied applied_hash; history_seq counts the
	-- reports kept in history.
	hash_streak     bigint NOT NULL DEFAULT 0,
	history_seq     bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 80); -- room for HOT updates: reports rewrite a device's row
-- Only member and group are indexed: a report then changes no indexed column, and PostgreSQL
-- can update the row in place (HOT). Filters on compliance and revision scan.
CREATE INDEX devices_member_group ON devices (member, group_name);

-- reports is a ring of History slots per device (slot = seq % History) holding the reports
-- worth keeping: the first of each applied state, and any that corrected, skipped, failed or
-- found drift. A run that found everything in line only updates the device row.
CREATE TABLE reports (
	device_id   text NOT NULL,
	slot        integer NOT NULL,
	seq         bigint NOT NULL,
	received_at timestamptz NOT NULL,
	revision    text NOT NULL,
	hash        text NOT NULL,
	started_at  timestamptz NOT NULL,
	duration_ms bigint NOT NULL,
	noop        boolean NOT NULL,
	unchanged   integer NOT NULL,
	corrected   integer NOT NULL,
	failed      integer NOT NULL,
	skipped     integer NOT NULL,
	drifted     integer NOT NULL,
	compliance  text NOT NULL,
	results     json NOT NULL,
	PRIMARY KEY (device_id, slot)
);

CREATE TABLE enrollments (
	id        bigserial PRIMARY KEY,
	device_id text NOT NULL,
	member    text NOT NULL,
	at        timestamptz NOT NULL,
	hostname  text NOT NULL,
	serial    text NOT NULL,
	remote    text NOT NULL
);
CREATE INDEX enrollments_member_at ON enrollments (member, at);
