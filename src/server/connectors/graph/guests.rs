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
    Connector, ConnectorError, ExternalIdentities, Guest, Known, MadeIdentity, NewIdentity,
};

impl GraphTenant {
    /// Who in the tenant has `email` as their mail address, if anyone.
    pub async fn user_by_mail(&self, email: &str) -> Result<Option<Known>, ConnectorError> {
        let filter = format!("mail eq '{}'", email.trim().replace('\'', "''"));
        let url = self.url(&format!(
            "/users?$filter={}&$select=id,userPrincipalName,userType,accountEnabled&$top=2",
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

    async fn make_identity(&self, new: &NewIdentity<'_>) -> Result<MadeIdentity, ConnectorError> {
        let guest = self
            .invite_guest(new.email, new.display_name, new.redirect)
            .await?;
        let account = self.find_account(&guest.id).await?.ok_or_else(|| {
            ConnectorError::Transient(format!("the guest {} is not readable yet", guest.id))
        })?;
        Ok(MadeIdentity {
            upn: account.upn.clone().unwrap_or_else(|| guest.id.clone()),
            reference: account.reference,
            id: guest.id,
            redeem_url: Some(guest.redeem_url),
        })
    }

    async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        GraphTenant::set_account_enabled(self, id, enabled).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), ConnectorError> {
        GraphTenant::delete_user(self, id).await
    }
}
