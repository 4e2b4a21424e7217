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
