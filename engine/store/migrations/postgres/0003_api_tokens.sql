-- API tokens for automation: only the SHA-256 of each token is kept. Revoked tokens stay, for
-- the audit trail.
CREATE TABLE api_tokens (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	member     text NOT NULL,
	role       text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL,
	created_by text NOT NULL,
	expires_at timestamptz NOT NULL,
	last_used  timestamptz,
	revoked_at timestamptz
);
