-- Break-glass: entries under an emergency policy are granted at once, with a mandatory reason
-- and a short maximum; security is alerted, and every use opens a review that an owner of the
-- entry must close (never the person who used it). Reviews are evidence: closed once, never
-- reopened or deleted by the portal.

create table emergency_reviews (
    request_id  uuid primary key references access_requests (id),
    opened_at   timestamptz not null default now(),
    closed_at   timestamptz,
    closed_by   uuid references principals (id),
    verdict     text check (verdict in ('justified', 'not_justified')),
    note        text,
    constraint emergency_reviews_closed check (
        (closed_at is null) = (closed_by is null)
        and (closed_at is null) = (verdict is null)
        and (closed_at is null) = (note is null))
);

create index emergency_reviews_open on emergency_reviews (opened_at) where closed_at is null;
