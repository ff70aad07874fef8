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
