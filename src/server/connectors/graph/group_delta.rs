//! Who is in an Entra group, through Graph's change tracking (`GET /groups/delta`,
//! `concepts/delta-query-groups.md`): a first round names the group
//! (`$filter=id eq '{id}'&$select=members`) and lists every member as `members@delta`, over as
//! many pages as it takes (the group repeated on each); its `@odata.deltaLink` is the cursor,
//! from which the next round lists only members added and removed (`@removed`) since, and
//! leaves the group out when nothing changed. An expired cursor (`syncStateNotFound`,
//! `resyncRequired`, 410) starts a complete round. Reconciliation keeps the member list the last
//! round left and applies each round's changes to it.

use std::collections::BTreeSet;

use super::{GraphTenant, segment};
use crate::server::connectors::{ConnectorError, HoldersDelta};

impl GraphTenant {
    pub(super) async fn member_delta(
        &self,
        group: &str,
        cursor: Option<&str>,
    ) -> Result<HoldersDelta, ConnectorError> {
        let first = self.url(&format!(
            "/groups/delta?$filter=id eq '{}'&$select=members",
            segment(group)
        ));
        // A cursor from another Graph address (the connector repointed) is not followed.
        let cursor = cursor.filter(|link| link.starts_with(&self.url("/groups/delta")));
        if let Some(link) = cursor {
            if let Some(round) = self.member_round(group, link, false).await? {
                return Ok(round);
            }
            tracing::warn!(connector = %self.name, group, "groups/delta cursor expired; a complete round");
        }
        self.member_round(group, &first, true)
            .await?
            .ok_or_else(|| {
                ConnectorError::Transient(
                    "Graph refused a fresh groups/delta round as expired".into(),
                )
            })
    }

    /// One round from `start` to its deltaLink; `None` when Graph says the cursor expired.
    async fn member_round(
        &self,
        group: &str,
        start: &str,
        complete: bool,
    ) -> Result<Option<HoldersDelta>, ConnectorError> {
        let group = group.to_lowercase();
        let (mut added, mut removed) = (BTreeSet::new(), BTreeSet::new());
        let mut gone = false;
        let cursor = self
            .delta_round_pages(start, |entry| {
                if entry["id"].as_str().map(str::to_lowercase).as_deref() != Some(group.as_str()) {
                    return;
                }
                gone |= entry.get("@removed").is_some();
                for member in entry["members@delta"].as_array().into_iter().flatten() {
                    let Some(id) = member["id"].as_str().map(str::to_lowercase) else {
                        continue;
                    };
                    if member.get("@removed").is_some() {
                        added.remove(&id);
                        removed.insert(id);
                    } else {
                        removed.remove(&id);
                        added.insert(id);
                    }
                }
            })
            .await?;
        if gone {
            return Err(ConnectorError::Permanent(format!(
                "Entra group {group} does not exist"
            )));
        }
        Ok(cursor.map(|cursor| HoldersDelta {
            complete,
            added: added.into_iter().collect(),
            removed: if complete {
                Vec::new()
            } else {
                removed.into_iter().collect()
            },
            cursor,
        }))
    }
}
