//! SharePoint Online sites through Graph. A site is given one of two ways:
//!
//! - **Through its Microsoft 365 group** (the common case, a group-connected team site): the
//!   site's Members and Owners are the group's, so a `member` or `owner` lease is the group's
//!   membership or ownership (`../shared/docs/microsoft-apis.md` §6.2).
//! - **By sharing its document library** (`POST /drives/{d}/items/root/invite`, §6.3): for
//!   sites without a group, where Graph cannot write the site's own SharePoint groups, and for
//!   `visitor` (read) on any site. The share is made with `requireSignIn` and without
//!   `expirationDateTime`, which SharePoint refuses on invites; the engine ends it on time by
//!   deleting the permission. Owners of a site without a group are a SharePoint site group,
//!   which Graph cannot change: the catalog refuses such entries.
//!
//! A person has one direct permission on the library's root, whose roles grow with each
//! invite (UNVERIFIED: how SharePoint merges a second invite is undocumented; the simulator
//! merges). So a lease's end takes its role out of that permission: the permission is deleted
//! when the role is all it holds, otherwise its roles are patched, and a standing `read` share
//! survives the end of a `write` lease. Both writes are read-modify-write on what was read, so
//! they carry the root's `eTag` in `If-Match`; a 412 (changed since) is read again, never
//! overwritten. One change per library at a time in this process.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ATTEMPTS, GraphTenant, Written, backoff, refusal, segment};
use crate::domain::access::{GroupRole, SiteRole, is_site_id};
use crate::server::connectors::{ConnectorError, Receipt};

/// How an entry on a site is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SiteWay {
    /// The site's Microsoft 365 group (the target is the group's id).
    Group(GroupRole),
    /// A share of the site's document library: `read` or `write`.
    Library(&'static str),
}

/// The way `role` on the site `target` (a group id, or a site id for a site without a group)
/// is given.
pub(super) fn way(role: SiteRole, target: &str) -> Result<SiteWay, ConnectorError> {
    match (role, is_site_id(target)) {
        (SiteRole::Visitor, _) => Ok(SiteWay::Library("read")),
        (SiteRole::Member, false) => Ok(SiteWay::Group(GroupRole::Member)),
        (SiteRole::Member, true) => Ok(SiteWay::Library("write")),
        (SiteRole::Owner, false) => Ok(SiteWay::Group(GroupRole::Owner)),
        (SiteRole::Owner, true) => Err(ConnectorError::Permanent(format!(
            "site {target} has no Microsoft 365 group: its owners are a SharePoint site group, \
             which Graph cannot change"
        ))),
    }
}

/// The person a permission is granted to directly (not inherited), lower-cased.
fn direct_grantee(permission: &Value) -> Option<String> {
    if permission
        .get("inheritedFrom")
        .is_some_and(|from| !from.is_null())
    {
        return None;
    }
    permission["grantedToV2"]["user"]["id"]
        .as_str()
        .or_else(|| permission["grantedTo"]["user"]["id"].as_str())
        .map(str::to_lowercase)
}

fn roles_of(permission: &Value) -> Vec<String> {
    permission["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The direct permissions of `account` among `permissions` (SharePoint shows one per person;
/// more are taken as they come).
fn shares_of<'a>(permissions: &'a [Value], account: &str) -> Vec<&'a Value> {
    let account = account.to_lowercase();
    permissions
        .iter()
        .filter(|p| direct_grantee(p).as_deref() == Some(account.as_str()))
        .collect()
}

/// The roles `account` holds by direct permissions.
fn roles_held(permissions: &[Value], account: &str) -> BTreeSet<String> {
    shares_of(permissions, account)
        .into_iter()
        .flat_map(roles_of)
        .collect()
}

/// How a change to one permission came out.
enum Changed {
    Done,
    /// Changed since it was read (412), gone (404) or unknown (5xx): read again.
    Again,
}

impl GraphTenant {
    /// The id of the site's default document library: through the group for a
    /// group-connected site, through the site otherwise. It never changes, so it is kept
    /// (and forgotten if it is ever not found).
    async fn library(&self, site: &str) -> Result<String, ConnectorError> {
        let key = site.to_lowercase();
        if let Some(drive) = self.libraries.lock().expect("libraries").get(&key) {
            return Ok(drive.clone());
        }
        let url = if is_site_id(site) {
            self.url(&format!("/sites/{}/drive?$select=id", segment(site)))
        } else {
            self.url(&format!("/groups/{}/drive?$select=id", segment(site)))
        };
        let drive = match self.read_optional(&url).await? {
            Some(drive) => drive["id"].as_str().unwrap_or_default().to_string(),
            // Resolved when the catalog was loaded, so most likely lag or a deletion since:
            // tried again, and said.
            None => {
                return Err(ConnectorError::Transient(format!(
                    "Graph 404: SharePoint site {site} or its document library is not found \
                     (deleted, or not replicated yet)"
                )));
            }
        };
        if drive.is_empty() {
            return Err(ConnectorError::Permanent(format!(
                "Graph answered no id for the document library of site {site}"
            )));
        }
        self.libraries
            .lock()
            .expect("libraries")
            .insert(key, drive.clone());
        Ok(drive)
    }

    /// A library that is not found any more (recreated?) is looked up afresh next time.
    fn library_gone(&self, site: &str, drive: &str) -> ConnectorError {
        self.libraries
            .lock()
            .expect("libraries")
            .remove(&site.to_lowercase());
        ConnectorError::Transient(format!(
            "Graph 404: document library {drive} of SharePoint site {site} is not found; it is \
             looked up again"
        ))
    }

    /// A site without a group, by its site id, checked to have no group: a group-connected
    /// site's members and owners are its group's, so its entries name the group.
    pub(super) async fn site_target(&self, site: &str) -> Result<Option<String>, ConnectorError> {
        let url = self.url(&format!("/sites/{}?$select=id,webUrl", segment(site)));
        let Some(found) = self.read_optional(&url).await? else {
            return Ok(None);
        };
        let id = found["id"].as_str().unwrap_or(site).to_lowercase();
        let url = self.url(&format!("/sites/{}/drive?$select=id,owner", segment(&id)));
        if let Some(drive) = self.read_optional(&url).await?
            && let Some(group) = drive["owner"]["group"]["id"].as_str()
        {
            return Err(ConnectorError::Permanent(format!(
                "SharePoint site {id} belongs to the Microsoft 365 group {group}: use the \
                 group's id as the entry's target, so that its members and owners are the \
                 group's"
            )));
        }
        Ok(Some(id))
    }

    /// Waits for this process's other changes to the library's sharing.
    async fn lock_library(&self, drive: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock: Arc<tokio::sync::Mutex<()>> = self
            .library_locks
            .lock()
            .expect("library locks")
            .entry(drive.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    fn root_url(&self, drive: &str, rest: &str) -> String {
        self.url(&format!("/drives/{}/items/root{rest}", segment(drive)))
    }

    /// The root's eTag, read before its permissions so a change in between shows as a 412.
    async fn root_shares(
        &self,
        site: &str,
        drive: &str,
    ) -> Result<(String, Vec<Value>), ConnectorError> {
        let Some(root) = self
            .read_optional(&self.root_url(drive, "?$select=id,eTag"))
            .await?
        else {
            return Err(self.library_gone(site, drive));
        };
        let etag = root["eTag"].as_str().unwrap_or_default().to_string();
        let Some(permissions) = self
            .read_all_optional(&self.root_url(drive, "/permissions"))
            .await?
        else {
            return Err(self.library_gone(site, drive));
        };
        Ok((etag, permissions))
    }

    /// Sets one permission's roles (deletes it when none are left), only if the root is as
    /// read (`If-Match`).
    async fn change_share(
        &self,
        drive: &str,
        share: &Value,
        roles: &BTreeSet<String>,
        etag: &str,
        attempt: u32,
    ) -> Result<Changed, ConnectorError> {
        let url = self.root_url(
            drive,
            &format!(
                "/permissions/{}",
                segment(share["id"].as_str().unwrap_or_default())
            ),
        );
        let written = if roles.is_empty() {
            self.write_if_match(Method::DELETE, &url, None, etag)
                .await?
        } else {
            let body = json!({ "roles": roles });
            self.write_if_match(Method::PATCH, &url, Some(&body), etag)
                .await?
        };
        match written {
            Written::Done(_) => Ok(Changed::Done),
            Written::Refused(answer)
                if answer.status == StatusCode::PRECONDITION_FAILED || answer.not_found() =>
            {
                tokio::time::sleep(backoff(attempt)).await;
                Ok(Changed::Again)
            }
            Written::Uncertain(_) => {
                tokio::time::sleep(backoff(attempt)).await;
                Ok(Changed::Again)
            }
            Written::Refused(answer) => Err(refusal(&answer)),
        }
    }

    /// Shares the library with each person in `role` (`read` or `write`). An invite of someone
    /// who already holds the role changes nothing, so a repeat after a lost answer is safe.
    /// Whether SharePoint adds the role to a person's permission or replaces its roles is not
    /// documented: any role the person held before and the invite took away is put back, so
    /// the lease's end takes away only its own.
    pub(super) async fn share_library(
        &self,
        site: &str,
        role: &'static str,
        accounts: &[String],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        let drive = self.library(site).await?;
        let _changing = self.lock_library(&drive).await;
        let url = self.root_url(&drive, "/invite");
        let mut receipts = Vec::new();
        for account in accounts {
            let (_, before) = self.root_shares(site, &drive).await?;
            let mut wanted = roles_held(&before, account);
            wanted.insert(role.to_string());
            let body = json!({
                "recipients": [{ "objectId": account }],
                "roles": [role],
                "requireSignIn": true,
                "sendInvitation": false,
            });
            let mut attempt = 0;
            let permission = loop {
                attempt += 1;
                match self.write(Method::POST, &url, Some(&body), 1).await? {
                    Written::Done(answer) => break answer.body["value"][0].clone(),
                    Written::Uncertain(detail) if attempt >= ATTEMPTS => {
                        return Err(ConnectorError::Transient(detail));
                    }
                    Written::Uncertain(_) => tokio::time::sleep(backoff(attempt)).await,
                    Written::Refused(answer) if answer.not_found() => {
                        return Err(self.library_gone(site, &drive));
                    }
                    Written::Refused(answer) => return Err(refusal(&answer)),
                }
            };
            self.keep_roles(site, &drive, account, role, &wanted)
                .await?;
            receipts.push(Receipt {
                account: account.clone(),
                detail: json!({
                    "sharepoint_permission_id": permission["id"],
                    "sharepoint_roles": wanted,
                    "sharepoint_drive_id": drive,
                }),
            });
        }
        Ok(receipts)
    }

    /// Makes sure `account` holds every role in `wanted` after an invite of `role`: a role
    /// the invite replaced is added back to the permission that holds `role`.
    async fn keep_roles(
        &self,
        site: &str,
        drive: &str,
        account: &str,
        role: &str,
        wanted: &BTreeSet<String>,
    ) -> Result<(), ConnectorError> {
        for attempt in 1..=ATTEMPTS {
            let (etag, permissions) = self.root_shares(site, drive).await?;
            let held = roles_held(&permissions, account);
            if wanted.is_subset(&held) {
                return Ok(());
            }
            let shares = shares_of(&permissions, account);
            let Some(share) = shares
                .iter()
                .find(|p| roles_of(p).iter().any(|r| r == role))
                .or(shares.first())
            else {
                return Err(ConnectorError::Transient(format!(
                    "SharePoint library {drive} does not show {account}'s share yet"
                )));
            };
            let mut roles: BTreeSet<String> = roles_of(share).into_iter().collect();
            roles.extend(wanted.iter().cloned());
            if let Changed::Done = self
                .change_share(drive, share, &roles, &etag, attempt)
                .await?
            {
                return Ok(());
            }
        }
        Err(ConnectorError::Transient(format!(
            "the sharing of SharePoint library {drive} kept changing while giving {account} \
             {role}; tried {ATTEMPTS} times"
        )))
    }

    /// Takes `role` out of each person's direct permissions on the library. Someone without it
    /// is done already.
    pub(super) async fn unshare_library(
        &self,
        site: &str,
        role: &'static str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        let drive = self.library(site).await?;
        let _changing = self.lock_library(&drive).await;
        for account in accounts {
            self.unshare_one(site, &drive, role, account).await?;
        }
        Ok(())
    }

    async fn unshare_one(
        &self,
        site: &str,
        drive: &str,
        role: &str,
        account: &str,
    ) -> Result<(), ConnectorError> {
        for attempt in 1..=2 * ATTEMPTS {
            let (etag, permissions) = self.root_shares(site, drive).await?;
            let Some(share) = shares_of(&permissions, account)
                .into_iter()
                .find(|p| roles_of(p).iter().any(|r| r == role))
            else {
                return Ok(());
            };
            let rest: BTreeSet<String> =
                roles_of(share).into_iter().filter(|r| r != role).collect();
            // Done or not, read again: the next read proves it (or finds another permission).
            self.change_share(drive, share, &rest, &etag, attempt)
                .await?;
        }
        Err(ConnectorError::Transient(format!(
            "the sharing of SharePoint library {drive} kept changing while removing {account}'s \
             {role} share; tried {} times",
            2 * ATTEMPTS
        )))
    }

    /// Which of `accounts` hold `role` by a direct permission on the library.
    /// Every permission on the site's document library (its root).
    async fn library_permissions(&self, site: &str) -> Result<Vec<Value>, ConnectorError> {
        let drive = self.library(site).await?;
        self.read_all_optional(&self.root_url(&drive, "/permissions"))
            .await?
            .ok_or_else(|| self.library_gone(site, &drive))
    }

    /// Everyone the site's document library is shared with directly in `role`, whoever
    /// shared it (inherited permissions, the site's own groups, are not holders).
    pub(super) async fn library_holders(
        &self,
        site: &str,
        role: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let holders: BTreeSet<String> = self
            .library_permissions(site)
            .await?
            .iter()
            .filter(|p| roles_of(p).iter().any(|r| r == role))
            .filter_map(direct_grantee)
            .collect();
        Ok(holders.into_iter().collect())
    }

    pub(super) async fn holding_library(
        &self,
        site: &str,
        role: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        let permissions = self.library_permissions(site).await?;
        Ok(accounts
            .iter()
            .filter(|a| roles_held(&permissions, a).contains(role))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_role_is_given_through_the_group_or_the_library() {
        let group = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
        let site = "contoso.sharepoint.com,3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f,\
                    1a2b3c4d-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
        assert_eq!(
            way(SiteRole::Member, group).unwrap(),
            SiteWay::Group(GroupRole::Member)
        );
        assert_eq!(
            way(SiteRole::Owner, group).unwrap(),
            SiteWay::Group(GroupRole::Owner)
        );
        assert_eq!(
            way(SiteRole::Visitor, group).unwrap(),
            SiteWay::Library("read")
        );
        assert_eq!(
            way(SiteRole::Member, site).unwrap(),
            SiteWay::Library("write")
        );
        assert!(way(SiteRole::Owner, site).unwrap_err().is_permanent());
    }

    #[test]
    fn only_direct_user_shares_count() {
        let permissions = vec![
            json!({"id": "a", "roles": ["owner"], "inheritedFrom": {"driveId": "d"},
                   "grantedToV2": {"user": {"id": "U1"}}}),
            json!({"id": "b", "roles": ["read"], "grantedToV2": {"siteGroup": {"id": "3"}}}),
            json!({"id": "c", "roles": ["read", "write"], "grantedToV2": {"user": {"id": "U1"}}}),
        ];
        let shares = shares_of(&permissions, "u1");
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0]["id"], "c");
        assert!(shares_of(&permissions, "u2").is_empty());
        assert_eq!(
            roles_held(&permissions, "U1")
                .into_iter()
                .collect::<Vec<_>>(),
            ["read", "write"]
        );
    }
}
