use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::governance::{EventView, Overview, governance_overview};
use crate::domain::role::can_view_governance;
use crate::error::AppError;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::pill::StatePill;
use crate::ui::components::require_area::RequireArea;
use crate::ui::components::time::{When, clock};

/// Who holds what now, what is overdue, and what happened, for auditors and administrators.
#[component]
pub fn GovernancePage() -> impl IntoView {
    view! {
        <Title text="Governance"/>
        <RequireArea allowed=can_view_governance>
            <h1>"Governance"</h1>
            <GovernanceData/>
        </RequireArea>
    }
}

#[component]
fn GovernanceData() -> impl IntoView {
    let overview = Resource::new(|| (), |_| governance_overview());
    let now = clock();
    view! {
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <OverviewView overview=o now/> }.into_any(),
                    Err(error @ AppError::Forbidden) | Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewView(overview: Overview, now: ReadSignal<chrono::DateTime<Utc>>) -> impl IntoView {
    let Overview {
        live,
        overdue,
        pending_requests,
        events,
    } = overview;
    let tile_class = if overdue > 0 {
        "card tile alert"
    } else {
        "card tile"
    };
    view! {
        <div class="tiles stats">
            <div class="card tile"><p class="stat">{live.len()}</p><p>"Live leases"</p></div>
            <div class=tile_class>
                <p class="stat">{overdue}</p><p>"Overdue removals"</p>
            </div>
            <div class="card tile"><p class="stat">{pending_requests}</p><p>"Pending requests"</p></div>
        </div>
        <section aria-labelledby="live-title">
            <h2 id="live-title">"Live leases"</h2>
            {if live.is_empty() {
                view! { <p class="empty">"Nobody holds access through the portal right now."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Holder"</th><th scope="col">"Access"</th><th scope="col">"State"</th>
                            <th scope="col">"Ends"</th><th scope="col">"Trail"</th>
                        </tr></thead>
                        <tbody>
                            {live.into_iter().map(|g| {
                                let state = if g.overdue_since.is_some() { "overdue".to_string() } else { g.state.clone() };
                                let row_class = if g.overdue_since.is_some() { "overdue" } else { "" };
                                view! {
                                    <tr class=row_class>
                                        <td>{g.holder}</td>
                                        <td>{g.entitlement}</td>
                                        <td>
                                            <StatePill state/>
                                            {g.last_error.map(|e| view! { <span class="muted">{format!(" {e}")}</span> })}
                                        </td>
                                        <td><When at=g.ends_at now/></td>
                                        <td>{g.request_id.map(|id| view! {
                                            <a href=format!("/governance/requests/{id}")>"Trail"</a>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="events-title">
            <h2 id="events-title">"Recent events"</h2>
            <Events events/>
        </section>
    }
}

/// The audit events as a table, newest or oldest first as given.
#[component]
pub fn Events(events: Vec<EventView>) -> impl IntoView {
    view! {
        <table class="table events">
            <thead><tr>
                <th scope="col">"#"</th><th scope="col">"When"</th><th scope="col">"Who"</th>
                <th scope="col">"What"</th><th scope="col">"Request"</th>
            </tr></thead>
            <tbody>
                {events.into_iter().map(|e| view! {
                    <tr data-action=e.action.clone()>
                        <td>{e.position}</td>
                        <td>{crate::text::at(e.occurred_at)}</td>
                        <td>{e.actor}</td>
                        <td>{e.summary}</td>
                        <td>{e.request_id.map(|id| view! {
                            <a href=format!("/governance/requests/{id}")>"Trail"</a>
                        })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
