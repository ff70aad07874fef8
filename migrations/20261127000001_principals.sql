-- People who have signed in (and, later, guests and service accounts), keyed by their
-- immutable Entra identity: tenant id + object id.
create table principals (
    id              uuid primary key default gen_random_uuid(),
    tenant_id       text not null,
    object_id       text not null,
    kind            text not null default 'member'
                    check (kind in ('member', 'guest', 'service')),
    upn             text not null,
    display_name    text not null,
    email           text,
    portal_roles    text[] not null default '{}',
    status          text not null default 'active'
                    check (status in ('active', 'disabled')),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    last_sign_in_at timestamptz,
    constraint principals_identity_unique unique (tenant_id, object_id),
    constraint principals_upn_not_blank check (length(trim(upn)) > 0)
);

create index principals_upn_lower on principals (lower(upn));
