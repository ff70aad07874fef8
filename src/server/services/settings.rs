//! A person's own settings: their Teams chat webhook, language and deputies as the settings
//! page shows them.

use crate::api::types::me::{DelegationView, MySettings};
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;

/// Sets (or, when `webhook` is empty, clears) the person's own Teams Workflows webhook, after
/// checking that it is an address the portal may post to.
pub async fn set_teams_webhook(
    state: &AppState,
    user: &SessionUser,
    webhook: &str,
) -> Result<(), AppError> {
    let webhook = webhook.trim();
    let webhook = if webhook.is_empty() {
        None
    } else {
        let url = url::Url::parse(webhook)
            .map_err(|_| AppError::invalid("webhook", Problem::WebhookAddress))?;
        state
            .settings
            .teams
            .destinations
            .check_resolved(&url)
            .await
            .map_err(|why| AppError::invalid("webhook", Problem::WebhookRefused(why)))?;
        if webhook.len() > 2000 {
            return Err(AppError::invalid("webhook", Problem::WebhookTooLong));
        }
        Some(webhook)
    };
    crate::server::db::teams::set_chat_webhook(&state.pool, user.principal_id, webhook).await?;
    Ok(())
}

/// The person's settings as the settings page shows them.
pub async fn of(state: &AppState, user: &SessionUser) -> Result<MySettings, AppError> {
    let (language, teams_chat) =
        crate::server::db::principals::preferences(&state.pool, user.principal_id).await?;
    let delegations = crate::server::db::delegations::of(&state.pool, user.principal_id)
        .await?
        .into_iter()
        .map(|d| DelegationView {
            id: d.id,
            mine: d.deputy_upn.to_lowercase() != user.upn.as_str(),
            approver: d.approver,
            deputy: d.deputy,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
        })
        .collect();
    Ok(MySettings {
        language,
        teams_chat,
        delegations,
    })
}
