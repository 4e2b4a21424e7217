-- Progressive rollout: the revision each ring is served, and every decision about it (a
-- promotion record: revision, ring, action, who or what decided, why, and the evidence at
-- decision time as JSON).
CREATE TABLE rollout_rings (
	ring       text PRIMARY KEY,
	revision   text NOT NULL,
	previous   text NOT NULL DEFAULT '',
	since      timestamptz NOT NULL,
	status     text NOT NULL,
	updated_at timestamptz NOT NULL,
	updated_by text NOT NULL
);

CREATE TABLE rollout_records (
	seq      bigserial PRIMARY KEY,
	at       timestamptz NOT NULL,
	revision text NOT NULL,
	ring     text NOT NULL,
	action   text NOT NULL,
	actor    text NOT NULL,
	reason   text NOT NULL,
	evidence jsonb NOT NULL
);
CREATE INDEX rollout_records_revision ON rollout_records (revision, seq);

-- The gate's evidence counts devices by ring, latest report's revision and failure: a
-- covering index makes that one index scan instead of a sort of the devices table.
CREATE INDEX devices_ring_report ON devices (ring, report_revision, failed) WHERE revoked_at IS NULL;
