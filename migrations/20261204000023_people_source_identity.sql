-- A people source remembers which directory its people were read from (issue 23): AD's domain
-- objectGUID, an LDAP naming context's entryUUID, the Entra tenant id. A pass from a directory
-- that is not that one (re-provisioned, migrated, a connector pointed elsewhere) offboards
-- nobody: it is refused, with what it found, until an administrator confirms the new one.
alter table people_sources
    add column directory_identity text,
    -- What a refused pass found instead, for the administrator to confirm.
    add column found_identity     text,
    -- Confirmed by an administrator: the next pass may apply from this directory.
    add column accept_identity    text,
    -- An administrator asked for a complete pass (every person read, deletions acted on).
    add column requested_complete boolean not null default false;
