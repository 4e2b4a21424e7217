-- Credentials that can be rotated and revoked, re-enrollment of the same device, and the
-- enrollment token each device came with (for the token's quota). Times in Unix ms.
ALTER TABLE devices ADD COLUMN enroll_token TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN serial TEXT NOT NULL DEFAULT '';
-- During a rotation the previous credential still works until prev_credential_until.
ALTER TABLE devices ADD COLUMN prev_credential_hash BLOB;
ALTER TABLE devices ADD COLUMN prev_credential_until INTEGER;
ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
-- credential_at is the last change of the credential, so that replicas pick changes up.
ALTER TABLE devices ADD COLUMN credential_at INTEGER;
UPDATE devices SET serial = coalesce(json_extract(facts, '$.serial'), '');
CREATE INDEX devices_member_serial ON devices (member, serial) WHERE serial <> '';
CREATE INDEX devices_credential_at ON devices (credential_at) WHERE credential_at IS NOT NULL;
ALTER TABLE enrollments ADD COLUMN enroll_token TEXT NOT NULL DEFAULT '';
ALTER TABLE enrollments ADD COLUMN replaced INTEGER NOT NULL DEFAULT 0;
