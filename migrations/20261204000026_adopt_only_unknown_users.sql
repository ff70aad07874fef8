-- A stopped contractor's user found in Entra may be adopted only while no other person in the
-- portal holds it (the people sync reads guests too): one account belongs to one person. An
-- administrator adopting a user the sync had read meanwhile saw "the onboarding goes on", and
-- then the onboarding stopped again on "an account another person holds" (found by hand in the
-- demo). This names that person, for the admin page and the refusal.
create function holder_of_found(p_contractor uuid) returns text
language sql stable as $$
    select p.display_name
      from contractors c
      join principal_accounts pa on pa.account_id = c.found_id and pa.principal_id <> c.principal_id
      join principals p on p.id = pa.principal_id
     where c.id = p_contractor
     order by p.created_at
     limit 1
$$;
