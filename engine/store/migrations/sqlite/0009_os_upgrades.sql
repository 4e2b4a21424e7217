-- OS upgrades as agents report them: each device's current phase (one row, replaced as it
-- moves) and every phase it entered (appended). reset_gen counts the resets people made; an
-- agent that has seen fewer starts its failed upgrade over. Times are Unix milliseconds (UTC).
CREATE TABLE os_upgrades (
	device_id    TEXT PRIMARY KEY,
	member       TEXT NOT NULL,
	group_name   TEXT NOT NULL,
	release      TEXT NOT NULL,
	from_release TEXT NOT NULL,
	phase        TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	at           INTEGER NOT NULL,
	received_at  INTEGER NOT NULL,
	message      TEXT NOT NULL,
	log_tail     TEXT NOT NULL,
	build        TEXT NOT NULL,
	agent_reset  INTEGER NOT NULL,
	reset_gen    INTEGER NOT NULL DEFAULT 0,
	reset_at     INTEGER,
	reset_by     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX os_upgrades_member ON os_upgrades (member, group_name, phase);

CREATE TABLE os_upgrade_events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id   TEXT NOT NULL,
	member      TEXT NOT NULL,
	release     TEXT NOT NULL,
	phase       TEXT NOT NULL,
	attempt     INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	message     TEXT NOT NULL,
	log_tail    TEXT NOT NULL,
	build       TEXT NOT NULL
);
CREATE INDEX os_upgrade_events_device ON os_upgrade_events (device_id, seq);
