-- A person's direct reports, as the entitlement page offers them for requests on someone's
-- behalf: the accounts whose manager is the person's account on that connector. Without this
-- index the lookup compared every account of the connector with every other (a nested loop the
-- planner chose while the table's statistics were young: 31 ms on average for 200 people in
-- the load benchmark, and quadratic in the number of people).
create index principal_accounts_by_manager on principal_accounts (connector_id, lower(manager_ref))
    where manager_ref is not null;
