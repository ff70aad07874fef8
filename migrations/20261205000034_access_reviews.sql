-- Access reviews: campaigns in which the owners of chosen entries (or the holders' managers)
-- certify the entries' standing holders and open shadow-access findings: keep (with a reason
-- and until when) or remove (through the connector, read back). Unanswered items follow the
-- campaign's default at its deadline. Nothing here is edited after the fact except the one
-- decision each item takes; the trail (`review.*`) tells every step.
create table review_campaigns (
    id              uuid primary key default gen_random_uuid(),
    name            text not null check (length(trim(name)) between 3 and 200),
    -- Who certifies an item: the entry's owners, or the holder's manager (the entry's owners
    -- where the portal knows no manager).
    reviewers       text not null check (reviewers in ('owners', 'managers')),
    -- What an item nobody answered by the deadline becomes.
    default_action  text not null check (default_action in ('keep', 'remove')),
    deadline        timestamptz not null,
    -- When the undecided reviewers are reminded, and when their managers (else the
    -- administrators) are asked to stand in; set from the campaign's length when it opens.
    remind_at       timestamptz not null,
    escalate_at     timestamptz not null,
    reminded_at     timestamptz,
    escalated_at    timestamptz,
    created_by      uuid not null references principals (id),
    created_at      timestamptz not null default now(),
    closed_at       timestamptz,
    -- complete: every item was answered; deadline: the default answered the rest.
    closed_how      text check (closed_how in ('complete', 'deadline')),
    constraint review_campaigns_closed check ((closed_at is null) = (closed_how is null)),
    constraint review_campaigns_order check (created_at < remind_at and remind_at <= escalate_at
                                             and escalate_at <= deadline)
);

create index review_campaigns_open on review_campaigns (deadline) where closed_at is null;

create table review_campaign_entries (
    campaign_id     uuid not null references review_campaigns (id),
    entitlement_id  uuid not null references entitlements (id),
    primary key (campaign_id, entitlement_id)
);

-- One account's standing access to one entry, as the campaign found it when it opened.
create table review_items (
    id              uuid primary key default gen_random_uuid(),
    campaign_id     uuid not null references review_campaigns (id),
    entitlement_id  uuid not null references entitlements (id),
    -- declared: a live standing-holder declaration; finding: an open shadow-access finding.
    source          text not null check (source in ('declared', 'finding')),
    declaration_id  uuid references standing_holders (id),
    finding_id      uuid references findings (id),
    account_ref     text not null,
    account_label   text not null default '',
    principal_id    uuid references principals (id),
    -- For a declaration: its reason and end when the campaign opened.
    declared_reason text,
    declared_until  timestamptz,
    -- For a managers' campaign: the holder's manager; null (or no longer active): the entry's
    -- owners as they were when the campaign opened review it. An owner named later does not.
    reviewer_id     uuid references principals (id),
    owners          text[] not null default '{}',
    decision        text check (decision in ('keep', 'remove')),
    reason          text,
    keep_until      timestamptz,
    -- Null with a decision: the campaign's default decided it at the deadline.
    decided_by      uuid references principals (id),
    decided_at      timestamptz,
    -- kept: declared a standing holder until keep_until (or left as it was, by default);
    -- removed: removed and read back absent; gone: the target no longer listed the account;
    -- remove_failed: the target still listed it after the removal, or the call failed (the
    -- finding stays open, and reconciliation goes on reporting it).
    outcome         text check (outcome in ('kept', 'removed', 'gone', 'remove_failed')),
    outcome_error   text,
    constraint review_items_source check (
        (source = 'declared') = (declaration_id is not null)
        and (source = 'finding') = (finding_id is not null)),
    constraint review_items_decided check ((decision is null) = (decided_at is null)
                                           and (decision is null) = (outcome is null)),
    unique (campaign_id, entitlement_id, account_ref)
);

create index review_items_undecided on review_items (campaign_id) where decision is null;
create index review_items_by_reviewer on review_items (reviewer_id) where reviewer_id is not null;

-- Who stands in for a reviewer who had not finished when the campaign escalated: their
-- manager, else every administrator. A backup decides the items of the reviewer they back up.
create table review_backups (
    campaign_id     uuid not null references review_campaigns (id),
    reviewer_id     uuid not null references principals (id),
    backup_id       uuid not null references principals (id),
    primary key (campaign_id, reviewer_id, backup_id)
);

-- Who must answer each item: its named reviewer while active, else each active person signed
-- in under one of the owners' names the item was opened with (matched through principals'
-- lower(upn) index).
create view review_duties as
select i.id as item_id, i.campaign_id, i.entitlement_id, p.id as reviewer_id
  from review_items i
  join principals p on p.id = i.reviewer_id
 where p.status = 'active'
union
select i.id, i.campaign_id, i.entitlement_id, p.id
  from review_items i
  cross join lateral unnest(i.owners) as o(upn)
  join principals p on lower(p.upn) = lower(o.upn)
 where p.status = 'active'
   and not exists (select 1 from principals r where r.id = i.reviewer_id and r.status = 'active');
