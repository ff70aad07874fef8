-- More than groups: connectors to Microsoft Graph and Azure, and typed entitlement kinds. An
-- entry's `access` is the domain's `Access` (its kind with what the kind needs: a role in a
-- group or team, a directory scope, a port) as JSON; each grant pins the access it was given
-- with, so it is removed as it was given whatever the catalog says later.

alter table connectors
    drop constraint connectors_kind_check,
    add constraint connectors_kind_check check (kind in ('ldap', 'graph', 'azure'));

alter table entitlements
    drop constraint entitlements_kind_check,
    add constraint entitlements_kind_check check (kind in (
        'ad_group', 'entra_group', 'pim_group', 'entra_role', 'team', 'sharepoint_site',
        'azure_vm_port')),
    add column access jsonb not null default '{"kind": "ad_group"}',
    add constraint entitlements_access_kind check (access ->> 'kind' = kind),
    -- A team's owners and its members are two entries on one target.
    drop constraint entitlements_one_per_target,
    add constraint entitlements_one_per_target unique (connector_id, target_ref, access);

alter table grants
    add column access jsonb not null default '{"kind": "ad_group"}';
