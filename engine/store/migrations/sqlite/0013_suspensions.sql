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
