use chrono::Utc;
use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use crate::api::my_access::{
    ExtendLease, GiveBack, HistoryView, LeaseView, MyAccess, PartView, PendingView, get_my_access,
};
use crate::api::requests::CancelRequest;
use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;
use crate::error::AppError;
use crate::ui::components::notice::{ErrorNotice, SignInAgain};
use crate::ui::components::pill::{StatePill, Status};
use crate::ui::components::time::{Time, When, clock};

/// What I hold now (with time left), what waits for approval, and what happened before.
#[component]
pub fn MyAccessPage() -> impl IntoView {
    let give_back = ServerAction::<GiveBack>::new();
    let cancel = ServerAction::<CancelRequest>::new();
    let extend = ServerAction::<ExtendLease>::new();
    let data = Resource::new(
        move || {
            (
                give_back.version().get(),
                cancel.version().get(),
                extend.version().get(),
            )
        },
        |_| get_my_access(),
    );
    let now = clock();
    let outcome = move || {
        [
            give_back
                .value()
                .get()
                .map(|r| r.map(|_| labels().given_back.to_string())),
            cancel
                .value()
                .get()
                .map(|r| r.map(|_| labels().request_cancelled.to_string())),
            extend.value().get().map(|r| r.map(|s| s.done.to_string())),
        ]
        .into_iter()
        .flatten()
        .next()
    };
    view! {
        <PageTitle text=labels().nav_my_access/>
        <h1>{labels().nav_my_access}</h1>
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <div class="card notice success" role="status"><p>{message}</p></div> }.into_any(),
            Err(e) => view! { <div class="card notice error" role="alert"><p>{e.to_string()}</p></div> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().my_access_loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Sections data now give_back cancel extend/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Sections(
    data: MyAccess,
    now: ReadSignal<chrono::DateTime<Utc>>,
    give_back: ServerAction<GiveBack>,
    cancel: ServerAction<CancelRequest>,
    extend: ServerAction<ExtendLease>,
) -> impl IntoView {
    let MyAccess {
        leases,
        pending,
        history,
    } = data;
    view! {
        <section aria-labelledby="leases-title">
            <h2 id="leases-title">{labels().access_you_hold}</h2>
            {if leases.is_empty() {
                view! { <p class="empty">{labels().you_hold_nothing} <a href="/request">{labels().nav_request}</a></p> }.into_any()
            } else {
                view! {
                    <ul class="leases">
                        {leases.into_iter().map(|l| view! { <Lease lease=l now give_back extend/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="pending-title">
            <h2 id="pending-title">{labels().waiting_for_approval}</h2>
            {if pending.is_empty() {
                view! { <p class="empty">{labels().nothing_waiting}</p> }.into_any()
            } else {
                view! {
                    <ul class="pending">
                        {pending.into_iter().map(|p| view! { <Pending request=p now cancel/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="history-title">
            <h2 id="history-title">{labels().history}</h2>
            <History items=history/>
        </section>
    }
}

#[component]
fn Lease(
    lease: LeaseView,
    now: ReadSignal<chrono::DateTime<Utc>>,
    give_back: ServerAction<GiveBack>,
    extend: ServerAction<ExtendLease>,
) -> impl IntoView {
    let total = (lease.ends_at - lease.starts_at).num_seconds().max(1) as f64;
    let starts_at = lease.starts_at;
    let ends_at = lease.ends_at;
    let used = move || {
        let elapsed = (now.get() - starts_at).num_seconds() as f64;
        (elapsed / total * 100.0).clamp(0.0, 100.0).round()
    };
    let state = if lease.overdue {
        Status::Overdue
    } else {
        Status::Grant(lease.state)
    };
    let live = lease.state.is_live();
    let grant_id = lease.grant_id.to_string();
    let token = lease.extension_token.clone();
    let title_id = format!("lease-{}", lease.grant_id);
    let labelled_by = title_id.clone();
    let return_id = grant_id.clone();
    let extend_id = grant_id.clone();
    let minutes_id = format!("extend-minutes-{grant_id}");
    let minutes_for = minutes_id.clone();
    let why_id = format!("extend-why-{grant_id}");
    let why_for = why_id.clone();
    let is_bundle = !lease.parts.is_empty();
    let parts = lease.parts.clone();
    view! {
        <li class="card lease" aria-labelledby=labelled_by>
            <h3 id=title_id><span translate="no">{lease.entitlement.clone()}</span> " " <StatePill state/></h3>
            <p>{labels().ends} <When at=ends_at now/></p>
            <progress max="100" value=used aria-label=labels().lease_used>{used}"%"</progress>
            {is_bundle.then(|| view! { <Parts parts/> })}
            {live.then(|| view! {
                <div class="lease-actions">
                    <details class="confirm">
                        <summary class="button">{labels().give_back}</summary>
                        <p>{if is_bundle { labels().bundle_give_back_explained } else { labels().give_back_explained }}</p>
                        <ActionForm action=give_back>
                            <input type="hidden" name="grant_id" value=return_id.clone()/>
                            <button type="submit" class="button danger">{labels().give_back_confirm}</button>
                        </ActionForm>
                    </details>
                    <details class="confirm">
                        <summary class="button">{labels().extend}</summary>
                        <ActionForm action=extend>
                            <input type="hidden" name="grant_id" value=extend_id.clone()/>
                            <input type="hidden" name="client_token" value=token.clone()/>
                            <label for=minutes_for.clone()>{labels().more_time}</label>
                            <select id=minutes_id.clone() name="minutes">
                                <option value="30">{crate::text::minutes(30)}</option>
                                <option value="60" selected=true>{crate::text::minutes(60)}</option>
                                <option value="240">{crate::text::minutes(240)}</option>
                            </select>
                            <label for=why_for.clone()>{labels().why}</label>
                            <textarea id=why_id.clone() name="justification" rows="2" maxlength="2000" dir="auto"></textarea>
                            <p class="muted">{if is_bundle { labels().bundle_extend_explained } else { labels().extend_explained }}</p>
                            <button type="submit" class="button primary">{labels().ask_for_more_time}</button>
                        </ActionForm>
                    </details>
                </div>
            })}
        </li>
    }
}

/// A bundle's parts, each with its system, its own state and why it is not granted yet.
#[component]
fn Parts(parts: Vec<PartView>) -> impl IntoView {
    view! {
        <h4 class="parts-title">{labels().bundle_parts}</h4>
        <ul class="parts">
            {parts.into_iter().map(|part| {
                let state = if part.overdue { Status::Overdue } else { Status::Grant(part.state) };
                let problem = part.problem.map(|why| if part.state == GrantState::Failed {
                    (labels().part_failed)(&why)
                } else {
                    (labels().part_not_granted_yet)(&why)
                });
                view! {
                    <li>
                        <span class="part-name" translate="no">{part.entitlement}</span>
                        <span class="muted" translate="no">{format!(" · {} ", part.system)}</span>
                        <StatePill state/>
                        {problem.map(|p| view! { <p class="part-problem">{p}</p> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[component]
fn Pending(
    request: PendingView,
    now: ReadSignal<chrono::DateTime<Utc>>,
    cancel: ServerAction<CancelRequest>,
) -> impl IntoView {
    let id = request.request_id.to_string();
    view! {
        <li class="card">
            <h3><span translate="no">{request.entitlement.clone()}</span> " " <StatePill state=RequestState::Pending/></h3>
            <p>{(labels().for_person)(&request.for_person, &request.progress)}</p>
            <p class="muted">{labels().submitted} <When at=request.submitted_at now/> {labels().expires} <When at=request.expires_at now/></p>
            <details class="confirm">
                <summary class="button">{labels().cancel_request}</summary>
                <p>{labels().cancel_explained}</p>
                <ActionForm action=cancel>
                    <input type="hidden" name="request_id" value=id/>
                    <button type="submit" class="button danger">{labels().cancel_confirm}</button>
                </ActionForm>
            </details>
        </li>
    }
}

#[component]
fn History(items: Vec<HistoryView>) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="empty">{labels().no_history}</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead><tr><th scope="col">{labels().access}</th><th scope="col">{labels().outcome}</th><th scope="col">{labels().submitted_column}</th><th scope="col">{labels().reason}</th></tr></thead>
            <tbody>
                {items.into_iter().map(|h| view! {
                    <tr>
                        <td translate="no">{h.entitlement}</td>
                        <td><StatePill state=h.state/></td>
                        <td><Time at=h.submitted_at/></td>
                        <td dir="auto">{h.justification}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
