-- Temporary identities for external people: a sponsor asks for one with an end date and a
-- bundle; once approved the portal makes the identity (an Entra B2B guest; an AD account),
-- grants the bundle to it, ends everything at the end date, disables the identity at once and
-- deletes it after the retention. The contractor is a principal of kind `guest` from the start
-- (the request's beneficiary); the identities it gets are its `principal_accounts`.

create table contractors (
    id             uuid primary key default gen_random_uuid(),
    principal_id   uuid not null unique references principals (id),
    sponsor_id     uuid not null references principals (id),
    display_name   text not null,
    email          text not null check (email = lower(email)),
    company        text not null default '',
    bundle_id      uuid not null references entitlements (id),
    -- The request that approves the identity with its bundle (a later one may extend it).
    request_id     uuid not null references access_requests (id),
    ends_at        timestamptz not null,
    state          text not null default 'requested'
                   check (state in ('requested', 'closed', 'making', 'active', 'ended', 'deleted')),
    -- When the worker must next act: make the identity, end it, delete it.
    next_due_at    timestamptz,
    attempts       integer not null default 0,
    last_error     text,
    locked_until   timestamptz,
    -- The guest's invitation link, for the sponsor to pass on.
    redeem_url     text,
    made_at        timestamptz,
    -- When the sponsor was told the end is near.
    reminded_at    timestamptz,
    ended_at       timestamptz,
    delete_after   timestamptz,
    deleted_at     timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint contractors_due check ((state in ('closed', 'deleted')) = (next_due_at is null))
);

-- One identity per address while it lives.
create unique index contractors_one_live on contractors (email)
    where state in ('requested', 'making', 'active');
create index contractors_due on contractors (next_due_at) where next_due_at is not null;
create index contractors_sponsor on contractors (sponsor_id);

-- The catalog's `[contractors]` as last loaded (absent: no contractors can be asked for).
create table contractor_settings (
    only_row  boolean primary key default true check (only_row),
    settings  jsonb not null,
    loaded_at timestamptz not null default now()
);
