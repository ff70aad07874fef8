-- The chain checked from a signed checkpoint onward (issue 23): the events after `after`,
-- expecting the first of them to follow `after_hash`. Verifying the trail for the governance
-- page or an export then recomputes only what came since the last good checkpoint; the whole
-- chain (`audit_chain_first_break`) stays available.
create function audit_chain_first_break_after(after bigint, after_hash bytea)
returns bigint language plpgsql stable as $$
declare
    e audit_events;
    expected_prev bytea := after_hash;
    expected_position bigint := after + 1;
begin
    for e in select * from audit_events where position > after order by position loop
        if e.position <> expected_position
           or e.prev_hash <> expected_prev
           or e.hash <> sha256(e.prev_hash || audit_canonical(e)) then
            return expected_position;
        end if;
        expected_prev := e.hash;
        expected_position := expected_position + 1;
    end loop;
    if expected_position - 1 <> (select position from audit_chain_head) then
        return expected_position;
    end if;
    return null;
end $$;

-- The whole chain is the chain after position 0, whose hash is the hash of nothing.
create or replace function audit_chain_first_break() returns bigint language sql stable as $$
    select audit_chain_first_break_after(0, sha256(''::bytea))
$$;
