-- Deliveries to the outside: every attempt to send a notification to a sink (webhook, Teams,
-- Slack) or a commit status to the Git host, with its outcome. One row per attempt, so that
-- a retried delivery shows its failures before its success. Times are Unix milliseconds (UTC).
CREATE TABLE deliveries (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	at          INTEGER NOT NULL,
	sink        TEXT NOT NULL,
	kind        TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	member      TEXT NOT NULL,
	attempt     INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	code        INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ms INTEGER NOT NULL
);
CREATE INDEX deliveries_sink ON deliveries (sink, seq);
CREATE INDEX deliveries_event ON deliveries (event_id, seq);
