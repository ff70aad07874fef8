//! The governance view: who holds what, what happened, and each request's full trail.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::governance::*;

#[server(endpoint = "governance")]
pub async fn governance_overview() -> Result<Overview, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::app::state::app_state()?;
    crate::server::services::views::overview(&state).await
}

#[server(endpoint = "governance/trail")]
pub async fn request_trail(request_id: String) -> Result<Trail, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    crate::server::services::views::trail(&state, id).await
}

/// Verifies the trail: from its last good signed checkpoint on (every checkpoint's signature and
/// hash checked, the events since recomputed), or with `whole` = `true` every event from the
/// first.
#[server(endpoint = "governance/verify")]
pub async fn verify_audit_chain(whole: Option<String>) -> Result<ChainCheck, AppError> {
    use crate::server::jobs::checkpoints::Scope;
    verify(if whole.as_deref() == Some("true") {
        Scope::Whole
    } else {
        Scope::SinceCheckpoint
    })
    .await
}

#[cfg(feature = "ssr")]
async fn verify(scope: crate::server::jobs::checkpoints::Scope) -> Result<ChainCheck, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::views::verify_chain(&state, &caller, scope).await
}

/// The governance page's search of the audit trail.
#[server(endpoint = "governance/events")]
pub async fn search_events(query: EventQuery) -> Result<EventPage, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::evidence::page(&state, &caller, &query).await
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn a_search_round_trips_through_its_query_string() {
        let query = EventQuery {
            who: "Adele Vance".into(),
            action: "grant".into(),
            from: "2026-11-01".into(),
            what: "a&b=c/ü".into(),
            ..Default::default()
        };
        let text = query.to_query();
        assert_eq!(
            text,
            "who=Adele%20Vance&what=a%26b%3Dc%2F%C3%BC&action=grant&from=2026-11-01"
        );
        let pairs: Vec<(String, String)> = url_pairs(&text);
        let back = EventQuery::from_params(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, query);
        assert_eq!(EventQuery::default().to_query(), "");
        assert_eq!(EventQuery::default().link("/governance"), "/governance");
        assert_eq!(
            query.link("/governance/evidence?format=csv"),
            format!("/governance/evidence?format=csv&{text}")
        );
    }

    fn url_pairs(text: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}
