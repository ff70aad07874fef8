-- Four eyes on the catalog: a change made in the Admin page to a policy, or to an entry's owners
-- or policy, waits here until a second administrator approves it. The file stays reviewed in
-- version control; these are the changes that bypass it.
create table catalog_changes (
    id           uuid primary key default gen_random_uuid(),
    kind         text not null check (kind in ('entitlement', 'policy')),
    target_key   text not null,
    -- The target as it was when the change was proposed, and as it would become.
    before       jsonb not null,
    after        jsonb not null,
    -- What the change would have meant, in words, computed when it was proposed.
    impact       jsonb not null default '[]',
    author_id    uuid not null references principals (id),
    author_label text not null,
    state        text not null default 'pending'
                 check (state in ('pending', 'applied', 'rejected', 'stale')),
    proposed_at  timestamptz not null default now(),
    decided_by   uuid references principals (id),
    decided_at   timestamptz,
    comment      text not null default '',
    constraint catalog_changes_decided check ((state = 'pending') = (decided_at is null)),
    -- Nobody applies their own change (they may withdraw it).
    constraint catalog_changes_four_eyes check (state <> 'applied' or decided_by <> author_id)
);

-- One change at a time per target: a second would be decided against a stale "before".
create unique index catalog_changes_one_pending on catalog_changes (kind, target_key)
    where state = 'pending';
