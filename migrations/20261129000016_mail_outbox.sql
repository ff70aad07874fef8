-- Mail to people about their requests and leases. The notifier reads the audit trail in order
-- (`notification_cursor`), decides who must be told what, and writes each mail, already
-- rendered in the recipient's language, to `mail_outbox` in the same transaction that moves
-- the cursor. The mailer then delivers the outbox through SMTP: an outage of the mail server
-- delays mail and loses none; a mail the server refuses for good is kept with the reason.

-- The language a person reads the portal and its mail in; null: not chosen (English mail, the
-- browser's language on the pages).
alter table principals
    add column language text check (language in ('en', 'de'));

create table mail_outbox (
    id               uuid primary key default gen_random_uuid(),
    -- What the mail is about, e.g. `event:1042` or `request:<id>:stage:1`. With the address it
    -- is the mail's idempotency key: one mail per event and recipient, however often the trail
    -- is read again.
    topic            text not null,
    kind             text not null,
    recipient_id     uuid references principals (id),
    address          text not null check (length(trim(address)) > 0),
    language         text not null check (language in ('en', 'de')),
    subject          text not null,
    text_body        text not null,
    html_body        text not null,
    request_id       uuid references access_requests (id),
    grant_id         uuid references grants (id),
    state            text not null default 'pending'
                     check (state in ('pending', 'sent', 'refused')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    locked_by        text,
    locked_until     timestamptz,
    -- The mail server's last answer when it did not take the mail.
    last_error       text,
    created_at       timestamptz not null default now(),
    sent_at          timestamptz,
    refused_at       timestamptz,
    constraint mail_outbox_once unique (topic, address),
    constraint mail_outbox_sent check ((state = 'sent') = (sent_at is not null)),
    constraint mail_outbox_refused check ((state = 'refused') = (refused_at is not null)
                                          and (state <> 'refused' or last_error is not null))
);

create index mail_outbox_due on mail_outbox (next_attempt_at) where state = 'pending';
create index mail_outbox_refused on mail_outbox (refused_at desc) where state = 'refused';
create index mail_outbox_request on mail_outbox (request_id) where request_id is not null;

-- How far the notifier has read the trail. A new installation starts at the trail's head:
-- history is not mailed.
create table notification_cursor (
    only_row  boolean primary key default true check (only_row),
    position  bigint not null,
    moved_at  timestamptz not null default now()
);

insert into notification_cursor (position) select position from audit_chain_head;

-- Wake the notifier when the trail grows and the mailer when mail is written.
create function leasegate_notify_trail() returns trigger language plpgsql as $$
begin
    perform pg_notify('leasegate_notify', '');
    return null;
end $$;

create trigger audit_events_notify after insert on audit_events
    for each statement execute function leasegate_notify_trail();

create trigger mail_outbox_notify after insert on mail_outbox
    for each statement execute function leasegate_notify_trail();
