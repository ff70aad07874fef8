//! The people of an Entra tenant for the people sync: `GET /users/delta` rounds
//! (`docs/people-sync.md`). A round follows `@odata.nextLink` verbatim (an empty page is not
//! the end) until `@odata.deltaLink`, which is the next pass's cursor. `manager` is in
//! `$select` (delta ignores `$expand`), so a manager change makes the user show.
//!
//! What a delta entry carries for a changed user is not settled (only the changed properties,
//! or all selected ones; `manager@delta` absent when unchanged; how a removed manager shows), so
//! the entries are used only to learn *who* changed: each changed user is then read whole,
//! with the manager. That costs a read per changed person (the first pass reads everyone once)
//! and is right whatever delta returns. A deleted user (`@removed`, soft or hard) is gone; one
//! restored comes back as changed. A cursor Graph no longer knows (400 `syncStateNotFound` or
//! `resyncRequired`, 410 Gone) starts a complete pass.

use std::collections::BTreeSet;

use futures::StreamExt as _;
use serde_json::Value;

use super::{GraphTenant, PARALLEL_READS, segment, to_account};
use crate::server::connectors::{ConnectorError, DirectoryPerson, PeoplePass};

const DELTA_FIELDS: &str = "id,userPrincipalName,displayName,accountEnabled,department,manager";
const PERSON_FIELDS: &str = "id,userPrincipalName,displayName,mail,accountEnabled,department,\
                             jobTitle,userType,onPremisesImmutableId,onPremisesSyncEnabled";

/// One delta round: who changed, who is gone, the next cursor. `None`: the cursor has expired.
struct Round {
    changed: BTreeSet<String>,
    removed: BTreeSet<String>,
    cursor: String,
}

fn to_person(user: &Value) -> Option<DirectoryPerson> {
    Some(DirectoryPerson {
        account: to_account(user)?,
        mail: user["mail"].as_str().map(str::to_string),
        job_title: user["jobTitle"].as_str().map(str::to_string),
        guest: user["userType"].as_str() == Some("Guest"),
        // Only a user synced from on premises is named by its anchor: an administrator can set
        // `onPremisesImmutableId` on a cloud-only user, and it must not make them an AD person.
        anchor: (user["onPremisesSyncEnabled"].as_bool() == Some(true))
            .then(|| user["onPremisesImmutableId"].as_str().map(str::to_string))
            .flatten(),
        // `employeeLeaveDateTime` needs User-LifeCycleInfo.Read.All: not read yet.
        leaves_at: None,
    })
}

impl GraphTenant {
    pub(super) async fn people_pass(
        &self,
        cursor: Option<&str>,
    ) -> Result<PeoplePass, ConnectorError> {
        let first = self.url(&format!("/users/delta?$select={DELTA_FIELDS}"));
        // A cursor is Graph's deltaLink, an absolute URL: one from another Graph address (the
        // connector repointed) is not followed, and a complete pass starts.
        let cursor = cursor.filter(|link| link.starts_with(&self.url("/users/delta")));
        let (round, complete) = match cursor {
            Some(link) => match self.delta_round(link).await? {
                Some(round) => (round, false),
                None => {
                    tracing::warn!(connector = %self.name, "delta token expired; a complete pass");
                    (self.delta_round(&first).await?.ok_or_else(expired)?, true)
                }
            },
            None => (self.delta_round(&first).await?.ok_or_else(expired)?, true),
        };
        let ids: Vec<String> = round.changed.difference(&round.removed).cloned().collect();
        let urls: Vec<String> = ids
            .iter()
            .map(|id| {
                self.url(&format!(
                    "/users/{}?$select={PERSON_FIELDS}&$expand=manager($select=id)",
                    segment(id)
                ))
            })
            .collect();
        let reads: Vec<Result<Option<Value>, ConnectorError>> = futures::stream::iter(urls)
            .map(|url| async move { self.read_optional(&url).await })
            .buffered(PARALLEL_READS)
            .collect()
            .await;
        let mut removed: Vec<String> = round.removed.into_iter().collect();
        let mut changed = Vec::new();
        for (id, read) in ids.iter().zip(reads) {
            match read? {
                Some(user) => changed.extend(to_person(&user)),
                // Deleted since the round listed it.
                None => removed.push(id.clone()),
            }
        }
        Ok(PeoplePass {
            changed,
            removed: if complete { Vec::new() } else { removed },
            cursor: round.cursor,
            complete,
            tenant: Some(self.tenant_id()),
            directory: Some(format!("entra tenant {}", self.tenant_id())),
        })
    }

    /// One person by their object id, with the anchor that names them on premises. `None`:
    /// Graph does not know the id (yet: a user made moments ago may not have replicated).
    pub(super) async fn person_by_id(
        &self,
        object_id: &str,
    ) -> Result<Option<DirectoryPerson>, ConnectorError> {
        let url = self.url(&format!(
            "/users/{}?$select={PERSON_FIELDS}",
            segment(object_id.trim())
        ));
        Ok(self.read_optional(&url).await?.as_ref().and_then(to_person))
    }

    async fn delta_round(&self, start: &str) -> Result<Option<Round>, ConnectorError> {
        let (mut changed, mut removed) = (BTreeSet::new(), BTreeSet::new());
        let cursor = self
            .delta_round_pages(start, |entry| {
                let Some(id) = entry["id"].as_str().map(str::to_lowercase) else {
                    return;
                };
                if entry.get("@removed").is_some() {
                    changed.remove(&id);
                    removed.insert(id);
                } else {
                    removed.remove(&id);
                    changed.insert(id);
                }
            })
            .await?;
        Ok(cursor.map(|cursor| Round {
            changed,
            removed,
            cursor,
        }))
    }
}

fn expired() -> ConnectorError {
    ConnectorError::Transient("Graph refused a fresh users/delta round as expired".into())
}
