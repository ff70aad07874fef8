-- Two database roles: the owner, who runs these migrations, and the portal, which may read and
-- write its data but only append to the audit trail. And signed checkpoints of the chain.

-- The chain trigger runs with its owner's rights, so a portal role that may only INSERT audit
-- events (and only SELECT the chain head) still advances the head, and can change it no other
-- way.
alter function audit_events_chain() security definer;
alter function audit_events_chain() set search_path = public, pg_temp;

-- Checkpoints: the chain head at a moment, signed with a key the database never sees (Ed25519,
-- from the portal's secrets). Whoever rewrites the whole chain as the table owner, hashes
-- recomputed, cannot produce a signature for the rewritten head, so the rewrite shows against
-- the checkpoints. The portal also logs each checkpoint, outside the database.
create table audit_checkpoints (
    position   bigint primary key,
    hash       bytea not null,
    key_id     text not null,
    signature  bytea not null,
    signed_at  timestamptz not null default now()
);

create trigger audit_checkpoints_no_change before update or delete on audit_checkpoints
    for each row execute function audit_events_refuse();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
    for each statement execute function audit_events_refuse();

-- Called by the owner (`leasegate migrate`, or start-up with LEASEGATE_MIGRATE_DATABASE_URL)
-- for the role the portal connects as: everything it needs, and over the trail only SELECT and
-- INSERT. Not being the owner, it cannot alter tables, disable triggers or rewrite the chain.
create function leasegate_grant_portal_role(portal name) returns void language plpgsql as $$
begin
    if portal = current_user then
        raise exception 'the portal role must not be the owner (%)', portal;
    end if;
    execute format('grant usage on schema public to %I', portal);
    execute format('grant select, insert, update, delete on all tables in schema public to %I', portal);
    execute format('grant usage, select on all sequences in schema public to %I', portal);
    execute format('revoke update, delete, truncate on audit_events, audit_checkpoints from %I', portal);
    execute format('revoke insert, update, delete, truncate on audit_chain_head, _sqlx_migrations from %I', portal);
end $$;
