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
