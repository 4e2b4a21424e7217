-- The audit log: every state-changing action by a person or a token, in the order it was
-- appended. Seq is assigned by the store under an advisory lock, one more than the last (no
-- gaps, no fork between replicas); hash chains each entry to the one before (see AuditHash).
-- detail is JSON.
CREATE TABLE audit_log (
	seq            bigint PRIMARY KEY,
	at             timestamptz NOT NULL,
	subject        text NOT NULL,
	subject_name   text NOT NULL,
	auth_method    text NOT NULL,
	role           text NOT NULL,
	subject_member text NOT NULL,
	action         text NOT NULL,
	target         text NOT NULL,
	member         text NOT NULL,
	detail         text NOT NULL,
	status         integer NOT NULL,
	outcome        text NOT NULL,
	remote         text NOT NULL,
	hash           bytea NOT NULL
);
CREATE INDEX audit_log_member ON audit_log (member, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_at ON audit_log (at);
-- Append-only in the database too: nothing updates, deletes or truncates an entry, whoever asks.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
