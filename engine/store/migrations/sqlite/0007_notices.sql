-- Run-time records of the service desk: each service's status as its owner sets it (every
-- change kept), notices to devices, and the survey answers devices send back. Times are Unix
-- milliseconds (UTC); target, survey and members are JSON.
CREATE TABLE service_status (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	service    TEXT NOT NULL,
	state      TEXT NOT NULL,
	message    TEXT NOT NULL,
	valid_from INTEGER NOT NULL,
	valid_to   INTEGER,
	set_at     INTEGER NOT NULL,
	set_by     TEXT NOT NULL,
	member     TEXT NOT NULL
);
CREATE INDEX service_status_service ON service_status (service, seq);

CREATE TABLE notices (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at   INTEGER NOT NULL,
	created_by   TEXT NOT NULL,
	sender       TEXT NOT NULL,
	severity     TEXT NOT NULL,
	title        TEXT NOT NULL,
	body         TEXT NOT NULL,
	valid_from   INTEGER NOT NULL,
	valid_to     INTEGER NOT NULL,
	target       TEXT NOT NULL,
	members      TEXT NOT NULL,
	survey       TEXT,
	withdrawn_at INTEGER,
	withdrawn_by TEXT
);
CREATE INDEX notices_valid_to ON notices (valid_to);

CREATE TABLE notice_answers (
	notice_seq INTEGER NOT NULL,
	device_id  TEXT NOT NULL,
	member     TEXT NOT NULL,
	answer     INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (notice_seq, device_id)
);
