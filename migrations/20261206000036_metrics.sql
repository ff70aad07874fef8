-- `/metrics` counts grants by state at every scrape. The live states have partial indexes
-- already (grants_one_live, grants_live); failed grants, which wait for a person, get theirs,
-- so a scrape never reads the table's ended grants.
create index grants_failed on grants (entitlement_id) where state = 'failed';
