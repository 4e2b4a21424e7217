-- Service requests and what comes of them: each request for a catalog service, every decision
-- on it (who, when, why), the grant an approved request becomes, and the work items for
-- entitlements samverk cannot deliver itself, which the member's own systems mark done.
-- devices and products are JSON arrays of ids, kept as text. version is the compare-and-set counter
-- of decisions: a write that read another version is refused.
CREATE TABLE service_requests (
	id             bigserial PRIMARY KEY,
	service        text NOT NULL,
	member         text NOT NULL,
	requester      text NOT NULL,
	requester_name text NOT NULL,
	devices        text NOT NULL,
	person         text NOT NULL,
	justification  text NOT NULL,
	days           integer NOT NULL,
	cost_centre    text NOT NULL,
	created_at     timestamptz NOT NULL,
	state          text NOT NULL,
	version        bigint NOT NULL
);
CREATE INDEX service_requests_member ON service_requests (member, state);

CREATE TABLE request_decisions (
	request_id bigint NOT NULL,
	seq        integer NOT NULL,
	by_subject text NOT NULL,
	by_name    text NOT NULL,
	acting_as  text NOT NULL,
	verdict    text NOT NULL,
	reason     text NOT NULL,
	at         timestamptz NOT NULL,
	PRIMARY KEY (request_id, seq)
);

CREATE TABLE grants (
	id          bigserial PRIMARY KEY,
	request_id  bigint NOT NULL UNIQUE,
	service     text NOT NULL,
	member      text NOT NULL,
	requester   text NOT NULL,
	devices     text NOT NULL,
	products    text NOT NULL,
	person      text NOT NULL,
	cost_centre text NOT NULL,
	approved_at timestamptz NOT NULL,
	from_at     timestamptz,
	until_at    timestamptz,
	state       text NOT NULL,
	ended_at    timestamptz,
	end_reason  text NOT NULL,
	version     bigint NOT NULL
);
CREATE INDEX grants_state ON grants (state);
CREATE INDEX grants_service ON grants (service, from_at);

CREATE TABLE work_items (
	id         bigserial PRIMARY KEY,
	grant_id   bigint NOT NULL,
	member     text NOT NULL,
	service    text NOT NULL,
	type       text NOT NULL,
	name       text NOT NULL,
	action     text NOT NULL,
	created_at timestamptz NOT NULL,
	done_at    timestamptz,
	done_by    text NOT NULL,
	note       text NOT NULL
);
CREATE INDEX work_items_member ON work_items (member, done_at);
