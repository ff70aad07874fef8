-- The people sync: what each directory says about people, correlated into one person, and
-- where each directory's next pass starts.

-- A person may be known from a directory before signing in, or without ever having an Entra
-- identity (an on-premises-only account): tenant and object id come with the sync (Entra) or
-- with the first sign-in.
alter table principals
    alter column tenant_id drop not null,
    alter column object_id drop not null,
    add constraint principals_identity_whole check ((tenant_id is null) = (object_id is null)),
    add column job_title  text,
    -- Entra Connect's source anchor (base64 of AD's mS-DS-ConsistencyGuid or objectGUID, Entra's
    -- onPremisesImmutableId): names the same human in Active Directory and Entra ID.
    add column anchor     text,
    add column manager_id uuid references principals (id),
    -- When a directory last described the person; null for people known only from sign-in.
    add column synced_at  timestamptz,
    -- When a directory said the person left (disabled or deleted there): every lease they held
    -- was ended then. Cleared if they come back; leases are not given back.
    add column left_at    timestamptz;

create unique index principals_anchor on principals (anchor) where anchor is not null;
create index principals_identity_lower on principals (lower(tenant_id), lower(object_id));
create index principals_manager on principals (manager_id) where manager_id is not null;

-- Each account as its directory last described it.
alter table principal_accounts
    add column upn          text,
    add column display_name text,
    add column department   text,
    add column job_title    text,
    add column mail         text,
    add column enabled      boolean,
    add column guest        boolean not null default false,
    add column anchor       text,
    -- When the directory stops the account by itself (AD's accountExpires).
    add column expires_at   timestamptz,
    add column synced_at    timestamptz,
    -- Deleted at the source (or missing from a complete pass).
    add column gone_at      timestamptz;

create index principal_accounts_by_id on principal_accounts (connector_id, account_id)
    where account_id is not null;
create index principal_accounts_by_ref on principal_accounts (connector_id, lower(account_ref));

-- The directories people are read from (the catalog's `[people]`), and where each one's next
-- pass starts. The cursor is written in the same transaction as the people it read, so a crash
-- repeats a pass and never skips one.
create table people_sources (
    connector_id       uuid primary key references connectors (id),
    -- Lower comes first: the first source that knows a person describes them (name,
    -- department, title, manager).
    precedence         integer not null,
    enabled            boolean not null default true,
    every_seconds      integer not null check (every_seconds > 0),
    complete_every_seconds integer not null check (complete_every_seconds > 0),
    -- A pass that would offboard more people than this at once is refused (a directory that
    -- answers wrongly is likelier than a wave of leavers) until an administrator forces it.
    max_leavers        integer not null check (max_leavers >= 0),
    cursor             text,
    last_pass_at       timestamptz,
    last_complete_at   timestamptz,
    last_result        jsonb,
    last_error         text,
    last_error_at      timestamptz,
    -- An administrator asked for a pass now (`forced`: apply it even past max_leavers).
    requested_at       timestamptz,
    requested_forced   boolean not null default false
);
