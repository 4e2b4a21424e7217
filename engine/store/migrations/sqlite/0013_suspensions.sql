-- Suspensions of one member's devices or one device group's: while one stands, its devices
-- keep the state they have and no new revision reaches them. grp is '' for a whole member.
-- Times are Unix milliseconds.
CREATE TABLE suspensions (
	member TEXT NOT NULL,
	grp    TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL,
	actor  TEXT NOT NULL,
	since  INTEGER NOT NULL,
	PRIMARY KEY (member, grp)
);

-- The OS release the state last served tells the device to upgrade to ('' when it is to stay):
-- while it is set and the device's upgrade to it is not done, the device is not compliant
-- (os-pending, os-upgrading, os-failed).
ALTER TABLE devices ADD COLUMN os_target TEXT NOT NULL DEFAULT '';
