-- Credentials that can be rotated and revoked, re-enrollment of the same device, and the
-- enrollment token each device came with (for the token's quota).
ALTER TABLE devices
	ADD COLUMN enroll_token          text NOT NULL DEFAULT '',
	ADD COLUMN serial                text NOT NULL DEFAULT '',
	-- During a rotation the previous credential still works until prev_credential_until.
	ADD COLUMN prev_credential_hash  bytea,
	ADD COLUMN prev_credential_until timestamptz,
	ADD COLUMN revoked_at            timestamptz,
	-- credential_at is the last change of the credential, so that replicas pick changes up.
	ADD COLUMN credential_at         timestamptz;
UPDATE devices SET serial = coalesce(facts->>'serial', '');
CREATE INDEX devices_member_serial ON devices (member, serial) WHERE serial <> '';
CREATE INDEX devices_credential_at ON devices (credential_at) WHERE credential_at IS NOT NULL;
ALTER TABLE enrollments ADD COLUMN enroll_token text NOT NULL DEFAULT '';
ALTER TABLE enrollments ADD COLUMN replaced boolean NOT NULL DEFAULT false;
