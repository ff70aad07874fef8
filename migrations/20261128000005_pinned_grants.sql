-- Pinned grants: a grant records the system, the target and the account it was provisioned on,
-- with their stable ids, so removal and read-back act on exactly those, whatever the catalog
-- or the directory says later. A removal is "verified" only after a read-back.

alter table grants
    add column connector_id uuid references connectors (id),
    add column target_ref   text,
    -- The target's stable id (AD objectGUID, OpenLDAP entryUUID), learnt at provisioning.
    add column target_id    text,
    -- The account the access was given to, pinned before the first attempt to add it.
    add column account_ref  text,
    add column account_id   text,
    -- How a revoked grant ended: removed and read back as absent; never added (nothing was
    -- ever attempted, so nothing to remove); or closed by a person after the portal could not
    -- find the account or the target to remove from.
    add column removal      text
                            check (removal in ('verified', 'never_provisioned', 'resolved')),
    -- Why a removal needs a person: the pinned account or target is gone from the directory.
    add column attention    text
                            check (attention in ('account_missing', 'target_missing'));

update grants g
   set connector_id = e.connector_id, target_ref = e.target_ref
  from entitlements e
 where e.id = g.entitlement_id;

-- Grants provisioned before pinning existed: the account the engine remembered for them.
update grants g
   set account_ref = pa.account_ref
  from entitlements e, principal_accounts pa
 where e.id = g.entitlement_id and g.provisioned_at is not null
   and pa.principal_id = g.principal_id and pa.connector_id = e.connector_id;

update grants set removal = 'verified' where state = 'revoked';
-- Earlier versions recorded "no account to remove from" as verified; say what is known.
update grants set removal = 'never_provisioned', verified_at = null
 where state = 'revoked' and account_ref is null and provisioned_at is null;

alter table grants
    alter column connector_id set not null,
    alter column target_ref set not null,
    add constraint grants_removal check ((state = 'revoked') = (removal is not null)),
    add constraint grants_verified check ((verified_at is not null) = (removal is not distinct from 'verified')),
    add constraint grants_attention check (attention is null or state = 'revoking');

create index grants_attention on grants (attention) where attention is not null;

-- Stable ids of the accounts the portal found, beside their references.
alter table principal_accounts add column account_id text;

-- What the approvers are shown beside a request (nested memberships found at submission),
-- so the inbox never asks the directory while it loads.
alter table access_requests add column hints jsonb not null default '[]';
