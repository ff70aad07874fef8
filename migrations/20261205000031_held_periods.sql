-- When each grant's access was in its target system: from the moment the connector added it
-- to the moment its removal was read back (or a person closed a removal whose account or group
-- was gone); open above while the access may still be there. Grants whose access was never
-- added have no period. "Who held X at T" and "what did P hold between A and B" are then one
-- index scan each, at any scale of history.
--
-- btree_gist lets one GiST index hold the entitlement (or the person) beside the period; it is a
-- trusted extension (PostgreSQL 13 and later), so the database owner that migrates may create
-- it. On Azure Database for PostgreSQL it must be allowed first (`azure.extensions`).
create extension if not exists btree_gist;

alter table grants add column held tstzrange generated always as (
    case when provisioned_at is null then null
         else tstzrange(provisioned_at, revoked_at, '[)') end
) stored;

create index grants_held_by_entitlement on grants using gist (entitlement_id, held)
    where held is not null;
create index grants_held_by_principal on grants using gist (principal_id, held)
    where held is not null;
