-- Deliveries to the outside: every attempt to send a notification to a sink (webhook, Teams,
-- Slack) or a commit status to the Git host, with its outcome. One row per attempt, so that
-- a retried delivery shows its failures before its success.
CREATE TABLE deliveries (
	seq         bigserial PRIMARY KEY,
	at          timestamptz NOT NULL,
	sink        text NOT NULL,
	kind        text NOT NULL,
	event_id    text NOT NULL,
	member      text NOT NULL,
	attempt     integer NOT NULL,
	outcome     text NOT NULL,
	code        integer NOT NULL,
	error       text NOT NULL,
	duration_ms bigint NOT NULL
);
CREATE INDEX deliveries_sink ON deliveries (sink, seq);
CREATE INDEX deliveries_event ON deliveries (event_id, seq);
