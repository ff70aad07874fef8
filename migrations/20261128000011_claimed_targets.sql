-- The engine claims a grant only while no other replica holds a claim on a grant of the same
-- target (see `grants::claim_due`); claimed grants are few, so the check reads this index.
create index grants_claimed_targets on grants (connector_id, target_ref)
    where locked_by is not null;
