-- Run-time records of the service desk: each service's status as its owner sets it (every
-- change kept), notices to devices, and the survey answers devices send back. target, survey
-- and members are JSON.
CREATE TABLE service_status (
	seq        bigserial PRIMARY KEY,
	service    text NOT NULL,
	state      text NOT NULL,
	message    text NOT NULL,
	valid_from timestamptz NOT NULL,
	valid_to   timestamptz,
	set_at     timestamptz NOT NULL,
	set_by     text NOT NULL,
	member     text NOT NULL
);
CREATE INDEX service_status_service ON service_status (service, seq);

CREATE TABLE notices (
	seq          bigserial PRIMARY KEY,
	created_at   timestamptz NOT NULL,
	created_by   text NOT NULL,
	sender       text NOT NULL,
	severity     text NOT NULL,
	title        text NOT NULL,
	body         text NOT NULL,
	valid_from   timestamptz NOT NULL,
	valid_to     timestamptz NOT NULL,
	target       jsonb NOT NULL,
	members      jsonb NOT NULL,
	survey       jsonb,
	withdrawn_at timestamptz,
	withdrawn_by text
);
CREATE INDEX notices_valid_to ON notices (valid_to);

CREATE TABLE notice_answers (
	notice_seq bigint NOT NULL,
	device_id  text NOT NULL,
	member     text NOT NULL,
	answer     integer NOT NULL,
	at         timestamptz NOT NULL,
	PRIMARY KEY (notice_seq, device_id)
);
