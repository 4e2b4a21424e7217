-- The audit log: every state-changing action by a person or a token, in the order it was
-- appended. Seq is assigned by the store, one more than the last (no gaps); hash chains each
-- entry to the one before (see AuditHash). Times are Unix milliseconds (UTC); detail is JSON.
CREATE TABLE audit_log (
	seq            INTEGER PRIMARY KEY,
	at             INTEGER NOT NULL,
	subject        TEXT NOT NULL,
	subject_name   TEXT NOT NULL,
	auth_method    TEXT NOT NULL,
	role           TEXT NOT NULL,
	subject_member TEXT NOT NULL,
	action         TEXT NOT NULL,
	target         TEXT NOT NULL,
	member         TEXT NOT NULL,
	detail         TEXT NOT NULL,
	status         INTEGER NOT NULL,
	outcome        TEXT NOT NULL,
	remote         TEXT NOT NULL,
	hash           BLOB NOT NULL
);
CREATE INDEX audit_log_member ON audit_log (member, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_at ON audit_log (at);
-- Append-only in the database too: nothing updates or deletes an entry, whoever asks.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted');
END;
