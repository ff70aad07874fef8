-- The governance dashboard reads requests by when they were submitted and closed, and leases
-- by when they end and whether they are live, over the whole estate (docs/governance.md,
-- "Dashboard"); `make bench-governance` times its queries at a million grants.
create index access_requests_submitted on access_requests (submitted_at);
create index access_requests_approved on access_requests (closed_at) where state = 'approved';
create index grants_ends on grants (ends_at);
create index grants_live on grants (entitlement_id) where state in ('active', 'revoking');
