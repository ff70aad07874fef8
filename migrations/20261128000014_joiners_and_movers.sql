-- Joiner/mover templates: a bundle may be requested automatically for the people of some
-- departments or job titles, when the people sync first describes them there or sees them move
-- there; a mover keeps the bundle of the role they left for a grace period, then it ends.

alter table entitlements
    add column for_departments text[] not null default '{}',
    add column for_job_titles text[] not null default '{}',
    add column mover_grace_seconds integer not null default 0 check (mover_grace_seconds >= 0),
    add constraint entitlements_templates_are_bundles
        check (kind = 'bundle' or (cardinality(for_departments) = 0 and cardinality(for_job_titles) = 0));

-- Joiners and movers as the people sync saw them, written in the pass's transaction and acted
-- on after it commits (requests need the directories, which no transaction waits on): a crash
-- between the two leaves the move to be handled, never lost.
create table people_moves (
    id              uuid primary key default gen_random_uuid(),
    principal_id    uuid not null references principals (id),
    from_department text,
    to_department   text,
    from_job_title  text,
    to_job_title    text,
    seen_at         timestamptz not null default now(),
    -- A replica working on it; others leave it alone until the claim lapses.
    claimed_until   timestamptz,
    attempts        integer not null default 0,
    handled_at      timestamptz,
    outcome         jsonb
);

create index people_moves_open on people_moves (seen_at) where handled_at is null;
