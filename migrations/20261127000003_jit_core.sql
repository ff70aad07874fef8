-- The JIT core: catalog, policies, requests, decisions, grants and the audit trail.
-- Invariants live here, not only in the code: whatever writes to these tables obeys them.

alter table principals
    add column department text;

-- Connected systems. Secrets never live here: settings hold only what is safe to show.
create table connectors (
    id                uuid primary key default gen_random_uuid(),
    name              text not null unique,
    kind              text not null check (kind in ('ldap')),
    settings          jsonb not null default '{}',
    health            text not null default 'unknown'
                      check (health in ('unknown', 'healthy', 'down')),
    health_detail     text,
    health_checked_at timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

-- A principal's account in each connected system (an AD user's DN, say), found by the
-- connector from the person's Entra identity and remembered.
create table principal_accounts (
    principal_id  uuid not null references principals (id),
    connector_id  uuid not null references connectors (id),
    account_ref   text not null,
    manager_ref   text,
    resolved_at   timestamptz not null default now(),
    primary key (principal_id, connector_id)
);

-- Who may request, for how long, with what justification and with whose approval. The rules
-- are the domain's `Policy`, stored as JSON so that a request can keep the exact rules it was
-- submitted under.
create table policies (
    id          uuid primary key default gen_random_uuid(),
    key         text not null unique,
    name        text not null,
    rules       jsonb not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- The catalog.
create table entitlements (
    id            uuid primary key default gen_random_uuid(),
    key           text not null unique,
    connector_id  uuid not null references connectors (id),
    kind          text not null check (kind in ('ad_group')),
    target_ref    text not null,
    name          text not null,
    description   text not null default '',
    owners        text[] not null default '{}',
    tags          text[] not null default '{}',
    policy_id     uuid not null references policies (id),
    enabled       boolean not null default true,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint entitlements_one_per_target unique (connector_id, target_ref)
);

create table access_requests (
    id              uuid primary key default gen_random_uuid(),
    requester_id    uuid not null references principals (id),
    beneficiary_id  uuid not null references principals (id),
    entitlement_id  uuid not null references entitlements (id),
    starts_at       timestamptz not null,
    ends_at         timestamptz not null,
    justification   text not null default '',
    ticket          text,
    -- The policy as it was when the request was submitted, and the approvers it resolved to.
    policy          jsonb not null,
    state           text not null default 'pending'
                    check (state in ('pending', 'approved', 'denied', 'cancelled', 'expired')),
    stage           integer not null default 0 check (stage >= 0),
    submitted_at    timestamptz not null default now(),
    expires_at      timestamptz not null,
    closed_at       timestamptz,
    -- A request that extends a live grant instead of creating a second one.
    extends_grant   uuid,
    -- The form's one-time token: a replayed submission finds its first request.
    client_token    uuid not null,
    version         integer not null default 0,
    constraint access_requests_window check (ends_at > starts_at),
    constraint access_requests_replay unique (requester_id, client_token),
    constraint access_requests_closed check ((state = 'pending') = (closed_at is null))
);

create index access_requests_pending on access_requests (expires_at) where state = 'pending';
create index access_requests_requester on access_requests (requester_id, submitted_at desc);
create index access_requests_beneficiary on access_requests (beneficiary_id, submitted_at desc);

-- The people who may decide each stage, resolved at submission (lower-case UPNs).
create table request_approvers (
    request_id   uuid not null references access_requests (id),
    stage        integer not null check (stage >= 0),
    approver_upn text not null,
    primary key (request_id, stage, approver_upn),
    constraint request_approvers_lower check (approver_upn = lower(approver_upn))
);

create index request_approvers_upn on request_approvers (approver_upn);

create table approval_decisions (
    id           uuid primary key default gen_random_uuid(),
    request_id   uuid not null references access_requests (id),
    stage        integer not null check (stage >= 0),
    approver_id  uuid not null references principals (id),
    outcome      text not null check (outcome in ('approve', 'deny')),
    comment      text not null default '',
    decided_at   timestamptz not null default now(),
    -- A double click, or the same person in two tabs, can never count twice.
    constraint approval_decisions_once unique (request_id, stage, approver_id)
);

create index approval_decisions_approver on approval_decisions (approver_id, decided_at desc);

create table grants (
    id               uuid primary key default gen_random_uuid(),
    principal_id     uuid not null references principals (id),
    entitlement_id   uuid not null references entitlements (id),
    request_id       uuid references access_requests (id),
    starts_at        timestamptz not null,
    ends_at          timestamptz not null,
    state            text not null default 'scheduled'
                     check (state in ('scheduled', 'active', 'revoking', 'revoked', 'failed')),
    -- When the engine must next act: starts_at, ends_at, or the next retry.
    next_due_at      timestamptz,
    attempts         integer not null default 0,
    last_error       text,
    locked_by        text,
    locked_until     timestamptz,
    provisioned_at   timestamptz,
    revoke_reason    text check (revoke_reason in ('expired', 'returned', 'revoked', 'offboarding')),
    revoked_at       timestamptz,
    verified_at      timestamptz,
    overdue_since    timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint grants_window check (ends_at > starts_at),
    constraint grants_due check ((state in ('revoked', 'failed')) = (next_due_at is null))
);

-- At most one live grant per person and entitlement: a second request extends the first.
create unique index grants_one_live on grants (principal_id, entitlement_id)
    where state in ('scheduled', 'active');
create index grants_due on grants (next_due_at) where next_due_at is not null;
create index grants_principal on grants (principal_id, ends_at desc);
create index grants_request on grants (request_id);
create index grants_overdue on grants (overdue_since) where overdue_since is not null;

alter table access_requests
    add constraint access_requests_extends foreign key (extends_grant) references grants (id);

-- Wake every engine when work is added or moved earlier.
create function grants_notify() returns trigger language plpgsql as $$
begin
    if new.next_due_at is not null then
        perform pg_notify('leasegate_engine', '');
    end if;
    return null;
end $$;

create trigger grants_notify after insert or update of next_due_at, state on grants
    for each row execute function grants_notify();

create function access_requests_notify() returns trigger language plpgsql as $$
begin
    if new.state = 'pending' then
        perform pg_notify('leasegate_engine', '');
    end if;
    return null;
end $$;

create trigger access_requests_notify after insert on access_requests
    for each row execute function access_requests_notify();

-- The audit trail: insert-only and hash-chained. Each row's hash is the SHA-256 of the previous
-- row's hash followed by the row's canonical content, so removing, reordering or changing a
-- row breaks every later hash.
create table audit_chain_head (
    only_row  boolean primary key default true check (only_row),
    position  bigint not null,
    hash      bytea not null
);
insert into audit_chain_head (position, hash) values (0, sha256(''::bytea));

create table audit_events (
    position       bigint primary key,
    id             uuid not null unique default gen_random_uuid(),
    occurred_at    timestamptz not null,
    actor_id       uuid references principals (id),
    actor_label    text not null,
    action         text not null,
    request_id     uuid,
    grant_id       uuid,
    entitlement_id uuid,
    subject_id     uuid,
    details        jsonb not null default '{}',
    prev_hash      bytea not null,
    hash           bytea not null
);

create index audit_events_request on audit_events (request_id) where request_id is not null;
create index audit_events_grant on audit_events (grant_id) where grant_id is not null;
create index audit_events_time on audit_events (occurred_at desc);

create function audit_canonical(e audit_events) returns bytea language sql immutable as $$
    select convert_to(jsonb_build_object(
        'position', e.position,
        'id', e.id,
        'occurred_at', to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor_id', e.actor_id,
        'actor_label', e.actor_label,
        'action', e.action,
        'request_id', e.request_id,
        'grant_id', e.grant_id,
        'entitlement_id', e.entitlement_id,
        'subject_id', e.subject_id,
        'details', e.details
    )::text, 'UTF8')
$$;

create function audit_events_chain() returns trigger language plpgsql as $$
declare
    head audit_chain_head;
begin
    -- The head row's lock orders concurrent writers; it is held until their commit.
    select * into head from audit_chain_head for update;
    new.position := head.position + 1;
    new.occurred_at := clock_timestamp();
    new.prev_hash := head.hash;
    new.hash := sha256(head.hash || audit_canonical(new));
    update audit_chain_head set position = new.position, hash = new.hash;
    return new;
end $$;

create trigger audit_events_chain before insert on audit_events
    for each row execute function audit_events_chain();

create function audit_events_refuse() returns trigger language plpgsql as $$
begin
    raise exception 'audit events are insert-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_no_change before update or delete on audit_events
    for each row execute function audit_events_refuse();
create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_refuse();

-- Recomputes the chain and returns the first position whose hash does not follow, or null
-- when the whole trail is intact.
create function audit_chain_first_break() returns bigint language plpgsql stable as $$
declare
    e audit_events;
    expected_prev bytea := sha256(''::bytea);
    expected_position bigint := 1;
begin
    for e in select * from audit_events order by position loop
        if e.position <> expected_position
           or e.prev_hash <> expected_prev
           or e.hash <> sha256(e.prev_hash || audit_canonical(e)) then
            return expected_position;
        end if;
        expected_prev := e.hash;
        expected_position := expected_position + 1;
    end loop;
    if expected_position - 1 <> (select position from audit_chain_head) then
        return expected_position;
    end if;
    return null;
end $$;
