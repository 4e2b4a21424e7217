-- API tokens for automation: only the SHA-256 of each token is kept. Times are Unix
-- milliseconds (UTC). Revoked tokens stay, for the audit trail.
CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	member     TEXT NOT NULL,
	role       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	last_used  INTEGER,
	revoked_at INTEGER
);
