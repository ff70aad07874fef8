-- The sets of grant states the queries ask about, written once (they mirror `GrantState::LIVE`
-- and `GrantState::HELD`; a test checks they agree). Plain SQL functions, so the planner
-- inlines them into `state in (...)` and the partial indexes on live grants stay usable.

-- A person holds the access, or is about to.
create function grant_is_live(state text) returns boolean
    language sql immutable parallel safe
    as $$ select state in ('scheduled', 'active') $$;

-- The access may be in the target system (live, or being removed).
create function grant_is_held(state text) returns boolean
    language sql immutable parallel safe
    as $$ select state in ('scheduled', 'active', 'revoking') $$;
