-- Service requests and what comes of them: each request for a catalog service, every decision
-- on it (who, when, why), the grant an approved request becomes, and the work items for
-- entitlements samverk cannot deliver itself, which the member's own systems mark done.
-- Times are Unix milliseconds (UTC); devices and products are JSON arrays of ids. version is the
-- compare-and-set counter of decisions: a write that read another version is refused.
CREATE TABLE service_requests (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	service        TEXT NOT NULL,
	member         TEXT NOT NULL,
	requester      TEXT NOT NULL,
	requester_name TEXT NOT NULL,
	devices        TEXT NOT NULL,
	person         TEXT NOT NULL,
	justification  TEXT NOT NULL,
	days           INTEGER NOT NULL,
	cost_centre    TEXT NOT NULL,
	created_at     INTEGER NOT NULL,
	state          TEXT NOT NULL,
	version        INTEGER NOT NULL
);
CREATE INDEX service_requests_member ON service_requests (member, state);

CREATE TABLE request_decisions (
	request_id INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	by_subject TEXT NOT NULL,
	by_name    TEXT NOT NULL,
	acting_as  TEXT NOT NULL,
	verdict    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (request_id, seq)
);

CREATE TABLE grants (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	request_id  INTEGER NOT NULL UNIQUE,
	service     TEXT NOT NULL,
	member      TEXT NOT NULL,
	requester   TEXT NOT NULL,
	devices     TEXT NOT NULL,
	products    TEXT NOT NULL,
	person      TEXT NOT NULL,
	cost_centre TEXT NOT NULL,
	approved_at INTEGER NOT NULL,
	from_at     INTEGER,
	until_at    INTEGER,
	state       TEXT NOT NULL,
	ended_at    INTEGER,
	end_reason  TEXT NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX grants_state ON grants (state);
CREATE INDEX grants_service ON grants (service, from_at);

CREATE TABLE work_items (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	grant_id   INTEGER NOT NULL,
	member     TEXT NOT NULL,
	service    TEXT NOT NULL,
	type       TEXT NOT NULL,
	name       TEXT NOT NULL,
	action     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	done_at    INTEGER,
	done_by    TEXT NOT NULL,
	note       TEXT NOT NULL
);
CREATE INDEX work_items_member ON work_items (member, done_at);
