-- Incremental reconciliation: a target whose change mark (AD's uSNChanged, OpenLDAP's entryCSN)
-- is what the last complete read saw, with leases and declarations unchanged since, is not read
-- again; every entry is still read completely at least every LEASEGATE_RECONCILE_COMPLETE_EVERY.
alter table reconcile_passes
    -- The target's change mark, read before its holders at the last complete read.
    add column version          text,
    -- When the holders were last read in full.
    add column last_complete_at timestamptz,
    -- Passes that found the target, its leases and its declarations unchanged and read nothing.
    add column unchanged_passes bigint not null default 0;

-- Where the system tracks changes itself (Graph's groups/delta for Entra groups), the cursor of
-- the next round and the holders the last round left: each pass applies the round's changes to
-- the list instead of reading every member.
alter table reconcile_passes
    add column cursor        text,
    add column holders_list  text[];
