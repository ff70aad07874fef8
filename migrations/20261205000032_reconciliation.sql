-- Reconciliation: who holds each managed target in the system itself, compared with the leases.
--
-- A finding is one difference, from the pass that first saw it to the pass that no longer did
-- (or to what closed it): shadow access (the target lists an account no live lease covers),
-- or drift (a lease says removed and the target still lists the account; a lease says added
-- and the target does not). Its period, like a grant's, answers "who held X at T" for access
-- the portal did not give.
create table findings (
    id              uuid primary key default gen_random_uuid(),
    entitlement_id  uuid not null references entitlements (id),
    kind            text not null check (kind in ('shadow', 'drift_present', 'drift_absent')),
    -- The account as the target lists it (a distinguished name, an object id), and its stable
    -- id when the system has one.
    account_ref     text not null,
    account_id      text,
    -- How people know the account (its sign-in name, its display name), read from the system.
    account_label   text not null default '',
    -- The person the account belongs to, where the portal knows them.
    principal_id    uuid references principals (id),
    -- For drift: the lease the target disagrees with.
    grant_id        uuid references grants (id),
    first_seen      timestamptz not null default now(),
    -- When the target says the access began, where its own records tell (a PIM schedule's
    -- start): the access was held before the pass that first saw it.
    held_since      timestamptz,
    last_seen       timestamptz not null default now(),
    closed_at       timestamptz,
    -- gone: it disappeared by itself; removed: the portal removed it (read back); declared: an
    -- owner declared the account a standing holder; covered: a lease covers it now.
    closed_reason   text check (closed_reason in ('gone', 'removed', 'declared', 'covered')),
    -- What the portal did about it: reported it; removed it and read the removal back; tried
    -- and the target still listed it (or the call failed).
    action          text not null default 'reported'
                    check (action in ('reported', 'removed', 'remove_failed')),
    acted_by        uuid references principals (id),
    acted_at        timestamptz,
    last_error      text,
    -- When the access was in the target: from its start as the target tells it (else the first
    -- pass that saw it) to its close.
    held            tstzrange generated always as (
                        tstzrange(least(held_since, first_seen), closed_at, '[)')
                    ) stored,
    constraint findings_closed check ((closed_at is null) = (closed_reason is null)),
    constraint findings_drift check ((kind = 'shadow') = (grant_id is null))
);

-- One open finding per entry, kind and account; a pass updates it rather than adding another.
create unique index findings_one_open on findings (entitlement_id, kind, account_ref)
    where closed_at is null;
create index findings_open on findings (last_seen desc) where closed_at is null;
create index findings_by_entitlement on findings (entitlement_id, first_seen desc);
create index findings_held_by_entitlement on findings using gist (entitlement_id, held)
    where kind <> 'drift_absent';
create index findings_held_by_principal on findings using gist (principal_id, held)
    where principal_id is not null and kind <> 'drift_absent';

-- Accounts an owner or an administrator declared may hold an entry without a lease (service
-- accounts, break-glass accounts), each with a reason and an end. A pass does not flag them
-- until the declaration ends or is withdrawn.
create table standing_holders (
    id              uuid primary key default gen_random_uuid(),
    entitlement_id  uuid not null references entitlements (id),
    account_ref     text not null,
    account_label   text not null default '',
    -- The account's person, where the portal knew them when it was declared.
    principal_id    uuid references principals (id),
    reason          text not null,
    until           timestamptz not null,
    declared_by     uuid not null references principals (id),
    declared_at     timestamptz not null default now(),
    withdrawn_at    timestamptz,
    withdrawn_by    uuid references principals (id),
    constraint standing_holders_end check (until > declared_at)
);

create unique index standing_holders_one_live on standing_holders (entitlement_id, account_ref)
    where withdrawn_at is null;

-- Each entry's last pass: when, whether the system could be read, how many holders it listed.
-- An administrator's "reconcile now" sets `requested_at`; the job runs such entries first.
create table reconcile_passes (
    entitlement_id  uuid primary key references entitlements (id),
    last_pass_at    timestamptz,
    last_ok_at      timestamptz,
    last_error      text,
    -- False when the connector cannot list who holds this kind of access at all (not a
    -- failure: the entry is simply not reconciled yet; last_error says why).
    readable        boolean not null default true,
    holders         integer,
    requested_at    timestamptz
);

-- Changes made to a managed target outside the portal, as the target's own records tell them
-- (PIM's assignment and activation requests made in Entra directly): read by each pass, kept
-- once, and told in the trail (`reconcile.outside_change`). The source's id keeps a record from
-- being told twice.
create table outside_changes (
    entitlement_id  uuid not null references entitlements (id),
    source_id       text not null,
    occurred_at     timestamptz not null,
    account_ref     text not null,
    principal_id    uuid references principals (id),
    -- In the source's words: adminAssign, selfActivate, adminRemove, ...; Provisioned, Revoked.
    action          text not null,
    status          text not null,
    -- Who made it, as the source names them (a user's or an application's id).
    made_by         text not null,
    justification   text,
    starts_at       timestamptz,
    ends_at         timestamptz,
    recorded_at     timestamptz not null default now(),
    primary key (entitlement_id, source_id)
);

create index outside_changes_by_account on outside_changes (entitlement_id, account_ref, occurred_at);
