-- Replicas sharing the store, one of which leads (engine/leader). SQLite serves one process,
-- which always leads; the tables exist so that both databases keep one schema and one test
-- suite. Times are Unix milliseconds.
--
-- leader_term is one row: the term of the leader, incremented by each acquisition. Every
-- leader write checks, in its own transaction, that its term is still this one.
CREATE TABLE leader_term (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	term        INTEGER NOT NULL,
	holder      TEXT NOT NULL,
	acquired_at INTEGER NOT NULL
);
INSERT INTO leader_term (id, term, holder, acquired_at) VALUES (1, 0, '', 0);

-- Every replica's heartbeat, for status.
CREATE TABLE replicas (
	id        TEXT PRIMARY KEY,
	host      TEXT NOT NULL,
	started   INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	version   TEXT NOT NULL,
	leads     INTEGER NOT NULL,
	term      INTEGER NOT NULL DEFAULT 0,
	revision  TEXT NOT NULL DEFAULT ''
);

-- The leader's publication decisions, which the other replicas follow.
CREATE TABLE publications (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	at       INTEGER NOT NULL,
	revision TEXT NOT NULL,
	term     INTEGER NOT NULL,
	holder   TEXT NOT NULL
);

-- Operator state shared by every replica: one row.
CREATE TABLE operator_state (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	suspended  INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	updated_by TEXT NOT NULL
);
INSERT INTO operator_state (id, suspended, reason, updated_at, updated_by) VALUES (1, 0, '', 0, '');
