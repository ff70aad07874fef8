-- "Start now" requests start when they are approved: the lease is as long as asked for,
-- however long the approval took.
alter table access_requests
    add column start_on_approval boolean not null default false,
    add column requested_minutes integer check (requested_minutes > 0);

-- One request in flight per person and entitlement: a second would only race the first.
create unique index access_requests_one_pending on access_requests (beneficiary_id, entitlement_id)
    where state = 'pending';
