-- The console's fleet list filters by member, group, ring, hardware model and OS, and finds a
-- device by id or hostname, a page at a time in id order. Each filter has an index that ends
-- in id, so a page is read in order without sorting. None of these columns changes when a
-- device reports the same facts again, so such reports stay HOT updates.
CREATE INDEX devices_member_id ON devices (member, id);
CREATE INDEX devices_group_id ON devices (group_name, id);
CREATE INDEX devices_ring_id ON devices (ring, id);
CREATE INDEX devices_model_id ON devices (model, id);
CREATE INDEX devices_os_id ON devices (os_build, id);
-- text_pattern_ops: a prefix search (LIKE 'x%') uses the index whatever the collation.
CREATE INDEX devices_hostname ON devices (hostname text_pattern_ops);
CREATE INDEX devices_id_pattern ON devices (id text_pattern_ops);
