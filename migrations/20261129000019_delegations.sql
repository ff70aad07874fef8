-- Out-of-office delegation: an approver names a deputy for a time; while it lasts, requests
-- that wait for the approver wait for the deputy too (the approver can still decide). A chain
-- (the deputy is away as well) is followed a few steps; the portal refuses a delegation that
-- would close a loop.

create table delegations (
    id           uuid primary key default gen_random_uuid(),
    principal_id uuid not null references principals (id),
    deputy_id    uuid not null references principals (id),
    starts_at    timestamptz not null,
    ends_at      timestamptz not null,
    created_at   timestamptz not null default now(),
    -- Ended early by the approver.
    ended_at     timestamptz,
    constraint delegations_window check (ends_at > starts_at),
    constraint delegations_not_self check (deputy_id <> principal_id)
);

create index delegations_active on delegations (principal_id, ends_at) where ended_at is null;

-- Which requests were routed to which deputy, once per stage and approver.
create table request_delegations (
    request_id   uuid not null references access_requests (id),
    stage        integer not null check (stage >= 0),
    from_upn     text not null,
    to_upn       text not null,
    delegated_at timestamptz not null default now(),
    primary key (request_id, stage, from_upn, to_upn)
);
