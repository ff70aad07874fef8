use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::role::Role;
use crate::error::AppError;

/// The signed-in person, as the browser needs to know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub display_name: String,
    pub upn: String,
    pub roles: Vec<Role>,
}

impl Me {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Who is signed in. Fails with `Unauthorized` when nobody is.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Me, AppError> {
    let user = crate::server::auth::caller::caller()?;
    Ok(Me {
        display_name: user.display_name,
        upn: user.upn,
        roles: user.roles,
    })
}

/// Chooses the language the caller's mail (and, later, pages) are written in: `en` or `de`.
#[server(endpoint = "me/language")]
pub async fn set_language(language: String) -> Result<(), AppError> {
    let user = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let language = crate::domain::mail::Language::parse(language.trim())
        .ok_or_else(|| AppError::invalid("language", "Choose en (English) or de (Deutsch)."))?;
    crate::server::db::principals::set_language(&state.pool, user.principal_id, language).await?;
    Ok(())
}

/// Sets (or, when empty, clears) the caller's own Teams Workflows webhook, which posts to their
/// chat: requests that wait for their decision then arrive there as cards too.
#[server(endpoint = "me/teams")]
pub async fn set_teams_webhook(webhook: String) -> Result<(), AppError> {
    let user = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let webhook = webhook.trim();
    let webhook = if webhook.is_empty() {
        None
    } else {
        let url = url::Url::parse(webhook).map_err(|_| {
            AppError::invalid(
                "webhook",
                "Paste the address your Teams workflow shows (https://…).",
            )
        })?;
        let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
        if url.scheme() != "https" && !(url.scheme() == "http" && local && state.settings.lab_mode)
        {
            return Err(AppError::invalid(
                "webhook",
                "The workflow's address must start with https://.",
            ));
        }
        if webhook.len() > 2000 {
            return Err(AppError::invalid(
                "webhook",
                "This address is too long for a webhook.",
            ));
        }
        Some(webhook)
    };
    crate::server::db::teams::set_chat_webhook(&state.pool, user.principal_id, webhook).await?;
    Ok(())
}
