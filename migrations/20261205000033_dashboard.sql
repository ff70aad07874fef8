-- The governance dashboard reads requests by when they were submitted and closed, and leases
-- by when they ended and whether they are live, over the whole estate or one entry
-- (docs/governance.md, "Dashboard"). The indexes carry the columns the figures count, so
-- a range is read from the index alone (once vacuumed), not from rows scattered over the
-- table; `make bench-governance` times the queries at a million grants and requests.
create index access_requests_submitted on access_requests (submitted_at)
    include (state, entitlement_id, beneficiary_id);
create index access_requests_entry_submitted on access_requests (entitlement_id, submitted_at)
    include (state, beneficiary_id);
create index access_requests_approved on access_requests (closed_at)
    include (id, submitted_at, entitlement_id, beneficiary_id) where state = 'approved';
create index grants_ended on grants (ends_at)
    include (revoked_at, overdue_since, revoke_reason, connector_id, entitlement_id, principal_id)
    where state = 'revoked';
create index grants_entry_ended on grants (entitlement_id, ends_at)
    include (revoked_at, overdue_since, revoke_reason, connector_id, principal_id)
    where state = 'revoked';
create index grants_live on grants (entitlement_id)
    include (connector_id, principal_id, ends_at, overdue_since) where state in ('active', 'revoking');
