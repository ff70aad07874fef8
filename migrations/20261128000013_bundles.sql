-- Bundles: one catalog entry that gives several entries together (an AD group, a Team and a
-- SharePoint site for a project, say), requested and approved once. A bundle is an
-- entitlement of kind `bundle` without a system of its own; its parts are entries of their
-- systems. An approved bundle makes one grant per part, each pinned and provisioned on its
-- own, all sharing the request and the end; `grants.bundle_id` says which bundle a grant came
-- with, so giving back or extending the bundle acts on all its parts.

alter table entitlements
    alter column connector_id drop not null,
    drop constraint entitlements_kind_check,
    add constraint entitlements_kind_check check (kind in (
        'ad_group', 'entra_group', 'pim_group', 'entra_role', 'team', 'sharepoint_site',
        'azure_vm_port', 'bundle')),
    -- Exactly the bundles have no system; they point at their parts instead.
    add constraint entitlements_bundle_system check ((kind = 'bundle') = (connector_id is null));

create table bundle_items (
    bundle_id  uuid not null references entitlements (id),
    item_id    uuid not null references entitlements (id),
    position   integer not null check (position >= 0),
    primary key (bundle_id, item_id),
    constraint bundle_items_not_itself check (bundle_id <> item_id)
);

create index bundle_items_item on bundle_items (item_id);

-- A bundle's parts are entries of a system, never bundles (no nesting): checked where the
-- row is written, whatever writes it.
create function bundle_items_check() returns trigger language plpgsql as $$
begin
    if (select kind from entitlements where id = new.bundle_id) <> 'bundle' then
        raise exception 'entitlement % is not a bundle', new.bundle_id
            using errcode = 'check_violation';
    end if;
    if (select kind from entitlements where id = new.item_id) = 'bundle' then
        raise exception 'a bundle cannot be part of a bundle (%)', new.item_id
            using errcode = 'check_violation';
    end if;
    return new;
end $$;

create trigger bundle_items_check before insert or update on bundle_items
    for each row execute function bundle_items_check();

alter table grants
    add column bundle_id uuid references entitlements (id),
    -- A grant is given in a system: never of a bundle itself.
    add constraint grants_not_a_bundle check (access ->> 'kind' <> 'bundle');

create index grants_bundle on grants (principal_id, bundle_id) where bundle_id is not null;
