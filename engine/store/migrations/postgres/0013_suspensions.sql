-- Suspensions of one member's devices or one device group's: while one stands, its devices
-- keep the state they have and no new revision reaches them. grp is '' for a whole member.
CREATE TABLE suspensions (
	member text NOT NULL,
	grp    text NOT NULL DEFAULT '',
	reason text NOT NULL,
	actor  text NOT NULL,
	since  timestamptz NOT NULL,
	PRIMARY KEY (member, grp)
);

-- The OS release the state last served tells the device to upgrade to ('' when it is to stay):
-- while it is set and the device's upgrade to it is not done, the device is not compliant
-- (os-pending, os-upgrading, os-failed).
ALTER TABLE devices ADD COLUMN os_target text NOT NULL DEFAULT '';
