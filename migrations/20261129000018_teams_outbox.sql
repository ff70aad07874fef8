-- Microsoft Teams: Adaptive Cards posted to Workflows webhooks, from an outbox like mail's.
-- A card goes to a channel (its webhook is a setting) or to a person's chat (the webhook of a
-- workflow they made, which they give the portal). Cards carry no secret and nothing that
-- grants: their buttons open the portal's decision page, where the approver signs in.

-- A person's own Workflows webhook that posts to their chat; null: no chat cards.
alter table principals
    add column teams_webhook text check (teams_webhook is null or teams_webhook like 'http%');

create table teams_outbox (
    id               uuid primary key default gen_random_uuid(),
    -- As in mail_outbox: with the target, the card's idempotency key.
    topic            text not null,
    kind             text not null,
    -- `channel:<name>` or `person:<principal id>`.
    target           text not null check (target like 'channel:%' or target like 'person:%'),
    -- The message as posted: {"type": "message", "attachments": [{... adaptive card ...}]}.
    payload          jsonb not null,
    request_id       uuid references access_requests (id),
    state            text not null default 'pending'
                     check (state in ('pending', 'sent', 'refused')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    locked_by        text,
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz not null default now(),
    sent_at          timestamptz,
    refused_at       timestamptz,
    constraint teams_outbox_once unique (topic, target),
    constraint teams_outbox_sent check ((state = 'sent') = (sent_at is not null)),
    constraint teams_outbox_refused check ((state = 'refused') = (refused_at is not null)
                                           and (state <> 'refused' or last_error is not null))
);

create index teams_outbox_due on teams_outbox (next_attempt_at) where state = 'pending';

create trigger teams_outbox_notify after insert on teams_outbox
    for each statement execute function leasegate_notify_trail();
