//! Access reviews: campaigns in which owners or managers certify who holds entries standing
//! (docs/access-reviews.md).

use leptos::prelude::*;

use crate::domain::review::ReviewOutcome;
use crate::error::AppError;

pub use crate::api::types::access_reviews::*;

/// The campaigns the caller sees (the governance roles: all; a reviewer: theirs), and for an
/// administrator the entries a new campaign may review.
#[server(endpoint = "governance/reviews")]
pub async fn list_reviews() -> Result<Campaigns, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::access_reviews::list(&state, &caller).await
}

/// One campaign with the items the caller may see.
#[server(endpoint = "governance/review")]
pub async fn review_report(campaign: String) -> Result<CampaignReport, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let campaign = crate::api::parse_id("campaign", &campaign)?;
    crate::server::services::access_reviews::report(&state, &caller, campaign).await
}

/// How many items of open campaigns wait for the caller's answer.
#[server(endpoint = "governance/reviews-waiting")]
pub async fn reviews_waiting() -> Result<i64, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::access_reviews::waiting(&state, &caller).await
}

/// Opens a campaign over the entries keyed in `entries` (`entries[0]`, `entries[1]`, … in a
/// form). Administrators.
#[server(endpoint = "governance/open-review")]
pub async fn open_review(
    name: String,
    #[server(default)] entries: Vec<String>,
    reviewers: String,
    default_action: String,
    deadline: String,
    #[server(default)] offset: String,
) -> Result<uuid::Uuid, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let now = chrono::Utc::now();
    let new = crate::api::forms::new_review(
        &name,
        &entries,
        &reviewers,
        &default_action,
        &deadline,
        &offset,
        now,
    )?;
    crate::server::services::access_reviews::open(&state, &caller, &new, now).await
}

/// Answers one item: `keep` (a reason and until when) or `remove` (a reason).
#[server(endpoint = "governance/decide-review")]
pub async fn decide_review(
    item_id: String,
    decision: String,
    reason: String,
    #[server(default)] until: String,
    #[server(default)] offset: String,
) -> Result<ReviewOutcome, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let item = crate::api::parse_id("item_id", &item_id)?;
    let verdict =
        crate::api::forms::verdict(&decision, &reason, &until, &offset, chrono::Utc::now())?;
    crate::server::services::access_reviews::decide(&state, &caller, item, &verdict).await
}
