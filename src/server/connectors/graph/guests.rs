//! The identities of external people in Entra: B2B guest invitations
//! (`GDOCS:api-reference/v1.0/api/invitation-post.md`), and disabling and deleting the account
//! at the end of its project (`user-update.md`, `user-delete.md`). The app needs
//! `User.Invite.All` to invite and `User.ReadWrite.All` to disable and delete.
//!
//! The portal sends no invitation mail itself (`sendInvitationMessage` false): the sponsor is
//! given the redemption link to pass on, so a contractor is never invited by a mail they did not
//! expect from a system they do not know.

use reqwest::Method;
use serde_json::json;

use async_trait::async_trait;

use super::{GraphTenant, Written, refusal, segment};
use crate::server::connectors::{
    Connector, ConnectorError, ExternalIdentities, Guest, Identity, Known, MadeIdentity,
    NewIdentity,
};

/// How far Entra's clock and the database's may disagree when telling whether a guest was made
/// by the portal's own first invitation (both keep time by NTP; a guest someone else invited
/// for the same address within this window before the portal's first attempt would be taken
/// as the portal's, which `docs/security.md` states).
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Whether a user Entra already has for the address is this contractor's own.
fn ours(known: &Known, new: &NewIdentity<'_>) -> bool {
    if new
        .adopt
        .is_some_and(|id| id.eq_ignore_ascii_case(&known.id))
    {
        return true;
    }
    let made_by_our_invitation = match (new.invited_since, known.created) {
        (Some(since), Some(created)) => created >= since - CLOCK_SKEW,
        _ => false,
    };
    known.user_type.eq_ignore_ascii_case("guest") && made_by_our_invitation
}

impl GraphTenant {
    /// Who in the tenant has `email` as their mail address, if anyone.
    pub async fn user_by_mail(&self, email: &str) -> Result<Option<Known>, ConnectorError> {
        let filter = format!("mail eq '{}'", email.trim().replace('\'', "''"));
        let url = self.url(&format!(
            "/users?$filter={}&$select=id,userPrincipalName,userType,accountEnabled,createdDateTime&$top=2",
            segment(&filter)
        ));
        let body = self.read(&url).await?;
        Ok(body["value"]
            .as_array()
            .and_then(|users| users.first())
            .and_then(|u| {
                Some(Known {
                    id: u["id"].as_str()?.to_lowercase(),
                    upn: u["userPrincipalName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    user_type: u["userType"].as_str().unwrap_or("Member").to_string(),
                    enabled: u["accountEnabled"].as_bool().unwrap_or(true),
                    created: u["createdDateTime"]
                        .as_str()
                        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                        .map(|at| at.with_timezone(&chrono::Utc)),
                })
            }))
    }

    /// Invites `email` as a guest; Entra makes the account at once. Inviting an address again
    /// answers with the same account, so an answer lost to a timeout is asked again safely.
    pub async fn invite_guest(
        &self,
        email: &str,
        display_name: &str,
        redirect: &str,
    ) -> Result<Guest, ConnectorError> {
        let url = self.url("/invitations");
        let body = json!({
            "invitedUserEmailAddress": email.trim(),
            "invitedUserDisplayName": display_name,
            "inviteRedirectUrl": redirect,
            "invitedUserType": "Guest",
            "sendInvitationMessage": false,
        });
        for _ in 0..2 {
            match self.write(Method::POST, &url, Some(&body), 1).await? {
                Written::Done(answer) => {
                    let id = answer.body["invitedUser"]["id"]
                        .as_str()
                        .ok_or_else(|| {
                            ConnectorError::Permanent(format!(
                                "Graph's invitation for {email} names no user"
                            ))
                        })?
                        .to_lowercase();
                    return Ok(Guest {
                        id,
                        redeem_url: answer.body["inviteRedeemUrl"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        status: answer.body["status"]
                            .as_str()
                            .unwrap_or("PendingAcceptance")
                            .to_string(),
                    });
                }
                Written::Uncertain(_) => continue,
                Written::Refused(answer) => return Err(refusal(&answer)),
            }
        }
        Err(ConnectorError::Transient(format!(
            "Graph did not answer the invitation of {email}"
        )))
    }

    /// Turns sign-in on or off for the account `id`.
    pub async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        let url = self.url(&format!("/users/{}", segment(id)));
        let body = json!({ "accountEnabled": enabled });
        match self.write(Method::PATCH, &url, Some(&body), 1).await? {
            Written::Done(_) => Ok(()),
            // Setting it is idempotent: the next attempt settles it.
            Written::Uncertain(detail) => Err(ConnectorError::Transient(detail)),
            Written::Refused(answer) => Err(refusal(&answer)),
        }
    }

    /// Deletes the account `id` (Entra keeps it restorable for 30 days); one already gone is
    /// done.
    pub async fn delete_user(&self, id: &str) -> Result<(), ConnectorError> {
        let url = self.url(&format!("/users/{}", segment(id)));
        match self.write(Method::DELETE, &url, None, 1).await? {
            Written::Done(_) => Ok(()),
            Written::Refused(answer) if answer.not_found() => Ok(()),
            Written::Uncertain(detail) => Err(ConnectorError::Transient(detail)),
            Written::Refused(answer) => Err(refusal(&answer)),
        }
    }
}

#[async_trait]
impl ExternalIdentities for GraphTenant {
    async fn user_by_mail(&self, email: &str) -> Result<Option<Known>, ConnectorError> {
        GraphTenant::user_by_mail(self, email).await
    }

    /// Looks the address up before inviting: Entra answers an invitation for an address it
    /// knows with that user, so inviting blindly would hand the contractor's bundle to whoever
    /// holds the address already. A user found is this contractor's only when an administrator
    /// adopted it, or when it is a guest made after the portal's first invitation for this
    /// contractor (that invitation's answer was lost).
    async fn make_identity(&self, new: &NewIdentity<'_>) -> Result<Identity, ConnectorError> {
        if let Some(known) = GraphTenant::user_by_mail(self, new.email).await?
            && !ours(&known, new)
        {
            return Ok(Identity::Taken {
                name: new.email.to_string(),
                existing: format!("{} ({}, {})", known.upn, known.user_type, known.id),
                // Only a guest can be a contractor's; a member's account is never adopted.
                adoptable: known
                    .user_type
                    .eq_ignore_ascii_case("guest")
                    .then(|| known.id.clone()),
            });
        }
        let guest = self
            .invite_guest(new.email, new.display_name, new.redirect)
            .await?;
        let account = self.find_account(&guest.id).await?.ok_or_else(|| {
            ConnectorError::Transient(format!("the guest {} is not readable yet", guest.id))
        })?;
        Ok(Identity::Made(MadeIdentity {
            upn: account.upn.clone().unwrap_or_else(|| guest.id.clone()),
            reference: account.reference,
            id: guest.id,
            redeem_url: Some(guest.redeem_url),
        }))
    }

    async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        GraphTenant::set_account_enabled(self, id, enabled).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), ConnectorError> {
        GraphTenant::delete_user(self, id).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::{Known, NewIdentity, ours};

    fn known(user_type: &str, created: Option<chrono::DateTime<Utc>>) -> Known {
        Known {
            id: "1f0c".into(),
            upn: "pat_fabrikam.test#EXT#@contoso.test".into(),
            user_type: user_type.into(),
            enabled: true,
            created,
        }
    }

    fn new(since: Option<chrono::DateTime<Utc>>, adopt: Option<&str>) -> NewIdentity<'_> {
        NewIdentity {
            contractor: uuid::Uuid::nil(),
            number: 1,
            email: "pat@fabrikam.test",
            display_name: "Pat",
            ends_at: Utc::now(),
            redirect: "https://myapps.microsoft.com",
            base: None,
            upn_suffix: None,
            invited_since: since,
            adopt,
        }
    }

    #[test]
    fn a_guest_is_ours_only_when_our_invitation_made_it_or_an_administrator_adopted_it() {
        let since = Utc::now();
        // Made by the portal's first invitation (its answer lost): ours.
        assert!(ours(
            &known("Guest", Some(since + TimeDelta::seconds(1))),
            &new(Some(since), None)
        ));
        // There before the portal ever asked: someone else's.
        assert!(!ours(
            &known("Guest", Some(since - TimeDelta::days(3))),
            &new(Some(since), None)
        ));
        assert!(!ours(&known("Guest", None), &new(Some(since), None)));
        // A member is never a contractor's guest, however new.
        assert!(!ours(
            &known("Member", Some(since + TimeDelta::seconds(1))),
            &new(Some(since), None)
        ));
        // Adopted by an administrator: that user, and only that one.
        let old = known("Guest", Some(since - TimeDelta::days(3)));
        assert!(ours(&old, &new(Some(since), Some("1F0C"))));
        assert!(!ours(&old, &new(Some(since), Some("other"))));
    }
}
