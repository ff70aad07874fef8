-- Approvers are people, not names (issue 23, item 4). Entra lets administrators rename a user
-- and give the old sign-in name to someone else: an approver list, a seat, a deputy's
-- routing or a backup kept as a UPN string would follow the name to the new holder and drop
-- the renamed approver. Each approver is now the person (`principals.id`) the name belonged to
-- when the request was submitted; a name nobody the portal knows holds yet stays a name until
-- someone first signs in with it (then it is theirs, once).
--
-- A *holder* is the person who may fill a seat: their id as text, or the lower-case name of
-- someone never seen (a name has an @, an id never does). Seats are named by the holder they
-- were resolved to at submission.

-- Who holds a name now: someone who has not left, active first, the latest seen first.
create function principal_for_name(p_upn text) returns uuid
language sql stable as $$
    select id from principals
     where lower(upn) = lower(trim(p_upn)) and left_at is null
     order by (status = 'active') desc, last_sign_in_at desc nulls last,
              synced_at desc nulls last, created_at desc
     limit 1
$$;

alter table request_approvers
    add column approver_id uuid references principals (id);

-- Requests submitted before: each name is the person who holds it now (the best that can be
-- known of the past; a name reused since submission cannot be told apart afterwards).
update request_approvers set approver_id = principal_for_name(approver_upn);

alter table request_approvers
    add column holder text generated always as (coalesce(approver_id::text, approver_upn)) stored;

create index request_approvers_holder on request_approvers (holder);
create index request_approvers_approver on request_approvers (approver_id)
    where approver_id is not null;

-- Seats named by a person are renamed to that person's id, in the stage's seats and in the
-- decisions that filled them.
create temporary table seat_names as
select distinct request_id, stage, seat, approver_id::text as holder
  from request_approvers
 where approver_upn = seat and approver_id is not null;

alter table request_approvers drop constraint request_approvers_seat_lower;
update request_approvers a set seat = n.holder
  from seat_names n
 where a.request_id = n.request_id and a.stage = n.stage and a.seat = n.seat;
update approval_decisions d set seat = n.holder
  from seat_names n
 where d.request_id = n.request_id and d.stage = n.stage and d.seat = n.seat;
drop table seat_names;
alter table request_approvers
    add constraint request_approvers_seat_lower check (seat = lower(seat));

alter table request_approvers drop constraint request_approvers_pkey;
alter table request_approvers add primary key (request_id, stage, seat, holder);

-- Deputies' routings by holder: "routed already" must not depend on a name either.
alter table request_delegations
    add column from_holder text,
    add column to_holder   text;
update request_delegations d
   set from_holder = coalesce((select a.holder from request_approvers a
                                where a.request_id = d.request_id and a.stage = d.stage
                                  and a.approver_upn = d.from_upn limit 1), d.from_upn),
       to_holder = coalesce((select a.holder from request_approvers a
                              where a.request_id = d.request_id and a.stage = d.stage
                                and a.approver_upn = d.to_upn limit 1), d.to_upn);
alter table request_delegations
    alter column from_holder set not null,
    alter column to_holder set not null;
alter table request_delegations drop constraint request_delegations_pkey;
alter table request_delegations add primary key (request_id, stage, from_holder, to_holder);

-- An escalation's `added` are holders from now on (names before).
update request_escalations e
   set added = array(select coalesce((select a.holder from request_approvers a
                                       where a.request_id = e.request_id and a.stage = e.stage
                                         and a.approver_upn = u limit 1), u)
                       from unnest(e.added) as t(u));

-- Does the stage wait for this holder: do they hold a seat of it that no decision has filled?
-- The one statement of that rule for the inbox, its count and the reminders.
drop function holds_open_seat(uuid, integer, text);
create function holds_open_seat(p_request uuid, p_stage integer, p_holder text) returns boolean
language sql stable as $$
    select exists (select 1 from request_approvers a
                    where a.request_id = p_request and a.stage = p_stage
                      and a.holder = p_holder
                      and not exists (select 1 from approval_decisions d
                                       where d.request_id = a.request_id and d.stage = a.stage
                                         and d.seat = a.seat))
$$;

-- A name nobody held when a request was submitted becomes the person who first signs in with
-- it: their seats are renamed to them (unless a decision filled the seat already) and they
-- hold what the name held. Once: the rows then name the person, whatever the name does next.
create function claim_approver_name(p_principal uuid, p_upn text) returns void
language plpgsql as $$
declare
    name text := lower(trim(p_upn));
begin
    -- Where the person holds the same seat already (as a deputy, say), the name's row goes.
    delete from request_approvers a
     where a.approver_id is null and a.approver_upn = name
       and exists (select 1 from request_approvers o
                    where o.request_id = a.request_id and o.stage = a.stage
                      and o.seat = a.seat and o.approver_id = p_principal);
    update request_approvers a set seat = p_principal::text
     where a.seat = name
       and exists (select 1 from request_approvers o
                    where o.request_id = a.request_id and o.stage = a.stage
                      and o.seat = name and o.approver_id is null and o.approver_upn = name)
       and not exists (select 1 from approval_decisions d
                        where d.request_id = a.request_id and d.stage = a.stage
                          and d.seat = name);
    update request_approvers set approver_id = p_principal
     where approver_id is null and approver_upn = name;
end
$$;

-- The person a holder names, if it names one.
create function holder_id(p_holder text) returns uuid
language sql immutable as $$
    select case when p_holder ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then p_holder::uuid end
$$;
