-- OS upgrades as agents report them: each device's current phase (one row, replaced as it
-- moves) and every phase it entered (appended). reset_gen counts the resets people made; an
-- agent that has seen fewer starts its failed upgrade over.
CREATE TABLE os_upgrades (
	device_id    text PRIMARY KEY,
	member       text NOT NULL,
	group_name   text NOT NULL,
	release      text NOT NULL,
	from_release text NOT NULL,
	phase        text NOT NULL,
	attempt      integer NOT NULL,
	at           timestamptz NOT NULL,
	received_at  timestamptz NOT NULL,
	message      text NOT NULL,
	log_tail     text NOT NULL,
	build        text NOT NULL,
	agent_reset  bigint NOT NULL,
	reset_gen    bigint NOT NULL DEFAULT 0,
	reset_at     timestamptz,
	reset_by     text NOT NULL DEFAULT ''
);
CREATE INDEX os_upgrades_member ON os_upgrades (member, group_name, phase);

CREATE TABLE os_upgrade_events (
	seq         bigserial PRIMARY KEY,
	device_id   text NOT NULL,
	member      text NOT NULL,
	release     text NOT NULL,
	phase       text NOT NULL,
	attempt     integer NOT NULL,
	at          timestamptz NOT NULL,
	received_at timestamptz NOT NULL,
	message     text NOT NULL,
	log_tail    text NOT NULL,
	build       text NOT NULL
);
CREATE INDEX os_upgrade_events_device ON os_upgrade_events (device_id, seq);
