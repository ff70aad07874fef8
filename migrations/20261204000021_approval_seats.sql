-- A quorum counts seats, not people. Each approver resolved at submission holds one seat of
-- the stage (named by that approver's lower-case UPN). Whoever stands in for them (a deputy,
-- the deputy's deputy, an escalation backup, the manager an offboarding rerouted to) holds the
-- same seat, not a new one. A seat is decided once, by whoever decides first; a person who
-- holds two seats still decides once per stage (approval_decisions_once).

alter table request_approvers add column seat text;
update request_approvers set seat = approver_upn;

-- Deputies routed before this migration stand for the approver they were routed from (not a
-- seat of their own) unless they were asked themselves at submission.
update request_approvers a
   set seat = d.from_upn
  from request_delegations d, access_requests r
 where d.request_id = a.request_id and d.stage = a.stage and d.to_upn = a.approver_upn
   and r.id = a.request_id
   and not coalesce((r.policy -> 'stages' -> a.stage -> 'approvers') ? a.approver_upn, false);

-- Escalation backups added before this migration stand for every seat that was undecided.
insert into request_approvers (request_id, stage, approver_upn, seat)
select a.request_id, a.stage, a.approver_upn, lower(u)
  from request_approvers a
  join request_escalations e on e.request_id = a.request_id and e.stage = a.stage
  join access_requests r on r.id = a.request_id
  cross join unnest(e.undecided) as t(u)
 where a.approver_upn = any(e.added) and a.seat = a.approver_upn
   and not coalesce((r.policy -> 'stages' -> a.stage -> 'approvers') ? a.approver_upn, false)
on conflict do nothing;
delete from request_approvers a
 using request_escalations e, access_requests r
 where e.request_id = a.request_id and e.stage = a.stage and r.id = a.request_id
   and a.approver_upn = any(e.added) and a.seat = a.approver_upn
   and not coalesce((r.policy -> 'stages' -> a.stage -> 'approvers') ? a.approver_upn, false)
   and cardinality(e.undecided) > 0;

alter table request_approvers alter column seat set not null;
alter table request_approvers drop constraint request_approvers_pkey;
alter table request_approvers add primary key (request_id, stage, seat, approver_upn);
alter table request_approvers
    add constraint request_approvers_seat_lower check (seat = lower(seat));

-- Which seat each decision filled. Earlier decisions filled the decider's own seat when they
-- held one, else the first seat they stood in for.
alter table approval_decisions add column seat text;
update approval_decisions d
   set seat = coalesce(
        (select a.seat
           from request_approvers a join principals p on lower(p.upn) = a.approver_upn
          where a.request_id = d.request_id and a.stage = d.stage and p.id = d.approver_id
          order by (a.seat = a.approver_upn) desc, a.seat
          limit 1),
        (select lower(upn) from principals where id = d.approver_id));
-- Two earlier decisions on one seat (the vote inflation this migration closes): the later
-- ones keep a seat no stage has, so they no longer count.
update approval_decisions d
   set seat = d.seat || '#superseded:' || d.id
 where exists (select 1 from approval_decisions o
                where o.request_id = d.request_id and o.stage = d.stage and o.seat = d.seat
                  and (o.decided_at, o.id) < (d.decided_at, d.id));
alter table approval_decisions alter column seat set not null;
alter table approval_decisions
    add constraint approval_decisions_seat_once unique (request_id, stage, seat);

-- Does the stage wait for this person: do they hold a seat of it that no decision has filled?
-- The one statement of that rule for the inbox, its count and the reminders.
create function holds_open_seat(p_request uuid, p_stage integer, p_upn text) returns boolean
language sql stable as $$
    select exists (select 1 from request_approvers a
                    where a.request_id = p_request and a.stage = p_stage
                      and a.approver_upn = lower(p_upn)
                      and not exists (select 1 from approval_decisions d
                                       where d.request_id = a.request_id and d.stage = a.stage
                                         and d.seat = a.seat))
$$;
