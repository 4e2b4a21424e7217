-- Replicas sharing this database, one of which leads (engine/leader).
--
-- leader_term is one row: the term of the leader, incremented by each replica that takes the
-- leader's advisory lock. Every leader write checks, in its own transaction, that the term it
-- was granted is still this one (FOR SHARE: a new leader's increment waits for it), so a
-- leader that lost the lock while paused can never write.
CREATE TABLE leader_term (
	id          integer PRIMARY KEY CHECK (id = 1),
	term        bigint NOT NULL,
	holder      text NOT NULL,
	acquired_at timestamptz NOT NULL
);
INSERT INTO leader_term (id, term, holder, acquired_at) VALUES (1, 0, '', now());

-- Every replica's heartbeat, for status.
CREATE TABLE replicas (
	id        text PRIMARY KEY,
	host      text NOT NULL,
	started   timestamptz NOT NULL,
	last_seen timestamptz NOT NULL,
	version   text NOT NULL,
	leads     boolean NOT NULL,
	term      bigint NOT NULL DEFAULT 0,
	revision  text NOT NULL DEFAULT ''
);

-- The leader's publication decisions, which the other replicas follow: each replica fetches
-- the revision into its own clone and compiles it (deterministically: the same ETag).
CREATE TABLE publications (
	seq      bigserial PRIMARY KEY,
	at       timestamptz NOT NULL,
	revision text NOT NULL,
	term     bigint NOT NULL,
	holder   text NOT NULL
);

-- Operator state shared by every replica: one row.
CREATE TABLE operator_state (
	id         integer PRIMARY KEY CHECK (id = 1),
	suspended  boolean NOT NULL,
	reason     text NOT NULL,
	updated_at timestamptz NOT NULL,
	updated_by text NOT NULL
);
INSERT INTO operator_state (id, suspended, reason, updated_at, updated_by) VALUES (1, false, '', now(), '');
