-- Reminders and escalation. A request's current stage has a start (`stage_since`): its
-- approvers are reminded after the policy's `remind_after_minutes` and, after
-- `escalate_after_minutes`, the stage is escalated once: backups (by default each undecided
-- approver's manager) are added to the stage's approvers, and `request_escalations` records it.

alter table access_requests
    add column stage_since timestamptz not null default now();

create table request_escalations (
    request_id   uuid not null references access_requests (id),
    stage        integer not null check (stage >= 0),
    escalated_at timestamptz not null default now(),
    -- Who had not decided, and who was added (lower-case UPNs; empty when no backup was found).
    undecided    text[] not null,
    added        text[] not null,
    primary key (request_id, stage)
);

create index access_requests_pending_stage on access_requests (stage_since) where state = 'pending';
