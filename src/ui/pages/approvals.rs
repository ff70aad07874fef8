use chrono::Utc;
use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use crate::api::approvals::{Decide, DecidedItem, InboxItem, approval_inbox};
use crate::error::AppError;
use crate::ui::components::notice::{ErrorNotice, SignInAgain};
use crate::ui::components::pill::StatePill;
use crate::ui::components::time::{Time, When, clock};

/// Requests that wait for my decision, and what I decided before.
///
/// A decision stays where it was made: the item shows the outcome in place of its buttons,
/// and the waiting list is not redrawn, so nothing moves under the pointer (a redrawn list
/// once put another request's Approve button where the next click landed). Only "Decided by
/// you", below it, is read again.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let decisions = RwSignal::new(0usize);
    let inbox = Resource::new(|| (), |_| approval_inbox());
    // "Decided by you" is read again only after a decision here; the page's first load has it
    // with the inbox.
    let history = Resource::new(
        move || decisions.get(),
        |made| async move {
            if made == 0 {
                Ok(None)
            } else {
                approval_inbox().await.map(|inbox| Some(inbox.decided))
            }
        },
    );
    let now = clock();
    #[cfg(feature = "hydrate")]
    keyboard_shortcuts();
    view! {
        <PageTitle text=labels().nav_approvals/>
        <h1>{labels().nav_approvals}</h1>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().inbox_loading}</p> }>
            {move || Suspend::new(async move {
                match inbox.await {
                    Ok(inbox) => view! { <Waiting items=inbox.waiting now decisions/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <Reviews/>
        <OwnedFindings/>
        <ReviewsWaiting/>
        <section aria-labelledby="decided-title">
            <h2 id="decided-title">{labels().decided_by_you}</h2>
            <Transition fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().inbox_loading}</p> }>
                {move || Suspend::new(async move {
                    let decided = match history.await {
                        Ok(Some(decided)) => Ok(decided),
                        Ok(None) => inbox.await.map(|inbox| inbox.decided),
                        Err(e) => Err(e),
                    };
                    match decided {
                        Ok(items) => view! { <Decided items/> }.into_any(),
                        Err(_) => ().into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// One request, opened from a mail or a Teams card: its card with Approve and Deny, or why it no
/// longer waits for the caller.
#[component]
pub fn DecisionPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let wanted = move || params.read().get("id").unwrap_or_default();
    // Teams cards open this page with the button that was pressed; the decision is made here,
    // signed in, with one more click.
    let query = leptos_router::hooks::use_query_map();
    let intent = move || match query.read().get("intent").as_deref() {
        Some("approve") => Some(labels().intent_approve),
        Some("deny") => Some(labels().intent_deny),
        _ => None,
    };
    let decisions = RwSignal::new(0usize);
    let inbox = Resource::new(|| (), |_| approval_inbox());
    let now = clock();
    view! {
        <PageTitle text=labels().decision_title/>
        <h1>{labels().decision_title}</h1>
        <p><a href="/approvals">{labels().all_waiting}</a></p>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().inbox_loading}</p> }>
            {move || Suspend::new(async move {
                let wanted = wanted();
                match inbox.await {
                    Ok(inbox) => {
                        let item = inbox.waiting.into_iter().find(|i| i.request_id.to_string() == wanted);
                        let decided = inbox.decided.iter().any(|d| d.request_id.to_string() == wanted);
                        match item {
                            Some(item) => view! {
                                <section aria-labelledby="decision-request">
                                    <h2 id="decision-request">{labels().decision_waiting}</h2>
                                    {intent().map(|text| view! { <p class="notice" role="status">{text}</p> })}
                                    <ul class="inbox"><Item item now decisions/></ul>
                                </section>
                            }.into_any(),
                            None if decided => view! {
                                <p class="notice" role="status">{labels().already_decided}</p>
                            }.into_any(),
                            None => view! {
                                <p class="notice" role="status">{labels().not_waiting_for_you}</p>
                            }.into_any(),
                        }
                    }
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Waiting(
    items: Vec<InboxItem>,
    now: ReadSignal<chrono::DateTime<Utc>>,
    decisions: RwSignal<usize>,
) -> impl IntoView {
    let count = items.len();
    let left = move || count.saturating_sub(decisions.get());
    view! {
        <section aria-labelledby="waiting-title">
            <h2 id="waiting-title">{move || (labels().waiting_for_you)(left())}</h2>
            {(count > 0).then(|| view! { <p class="muted" id="shortcuts">{labels().inbox_shortcuts}</p> })}
            {if items.is_empty() {
                view! { <p class="empty">{labels().nothing_for_you}</p> }.into_any()
            } else {
                view! {
                    <ul class="inbox">
                        {items.into_iter().map(|item| view! { <Item item now decisions/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Item(
    item: InboxItem,
    now: ReadSignal<chrono::DateTime<Utc>>,
    decisions: RwSignal<usize>,
) -> impl IntoView {
    // Each request its own action: its outcome is shown on it, and only on it.
    let decide = ServerAction::<Decide>::new();
    let decided = Memo::new(move |_| matches!(decide.value().get(), Some(Ok(_))));
    let nav_count = use_context::<crate::ui::layout::InboxCountTick>();
    Effect::new(move |was: Option<bool>| {
        let now_decided = decided.get();
        if now_decided && was == Some(false) {
            decisions.update(|n| *n += 1);
            if let Some(tick) = nav_count {
                tick.0.update(|t| *t = t.wrapping_add(1));
            }
        }
        now_decided
    });
    let id = item.request_id.to_string();
    let title_id = format!("request-{id}");
    let labelled_by = title_id.clone();
    let comment_id = format!("comment-{id}");
    let who = if item.requester == item.beneficiary {
        item.beneficiary.clone()
    } else {
        (labels().asked_by)(&item.beneficiary, &item.requester)
    };
    view! {
        <li class="card inbox-item" class:decided=move || decided.get() tabindex="-1" aria-labelledby=labelled_by aria-describedby="shortcuts">
            <h3 id=title_id>{(labels().asks_for)(&who, &item.entitlement)}</h3>
            <dl class="facts">
                <dt>{labels().for_label}</dt><dd>{crate::text::minutes(item.minutes.clamp(0, u32::MAX as i64) as u32)}</dd>
                <dt>{labels().why}</dt><dd dir="auto">{item.justification.clone()}</dd>
                {item.ticket.clone().map(|t| view! { <dt>{labels().ticket}</dt><dd translate="no">{t}</dd> })}
                <dt>{labels().system}</dt><dd>{item.system.clone()}</dd>
                <dt>{labels().progress}</dt><dd>{item.progress.clone()}</dd>
                <dt>{labels().waiting_since}</dt><dd><When at=item.submitted_at now/></dd>
            </dl>
            {(!item.hints.is_empty()).then(|| view! {
                <ul class="hints" aria-label=labels().hints>
                    {item.hints.iter().map(|h| view! { <li>{h.clone()}</li> }).collect_view()}
                </ul>
            })}
            {move || match decide.value().get() {
                Some(Ok(message)) => view! { <p class="notice success" role="status">{message}</p> }.into_any(),
                outcome => {
                    let (id, comment_for, comment_id) = (id.clone(), comment_id.clone(), comment_id.clone());
                    view! {
                    {outcome.and_then(Result::err).map(|e| view! {
                        <p class="notice error" role="alert">{e.to_string()}</p>
                    })}
                    <ActionForm action=decide attr:class="decision">
                        <input type="hidden" name="request_id" value=id/>
                        <label for=comment_for>{labels().comment_optional}</label>
                        <textarea id=comment_id name="comment" rows="2" maxlength="1000" dir="auto"></textarea>
                        <div class="actions">
                            <button type="submit" name="outcome" value="approve" class="button primary"
                                disabled=move || decide.pending().get()>{labels().approve}</button>
                            <button type="submit" name="outcome" value="deny" class="button danger"
                                disabled=move || decide.pending().get()>{labels().deny}</button>
                        </div>
                    </ActionForm>
                    }.into_any()
                }
            }}
        </li>
    }
}

#[component]
fn Decided(items: Vec<DecidedItem>) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="empty">{labels().nothing_decided}</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">{labels().access}</th><th scope="col">{labels().for_label}</th><th scope="col">{labels().your_decision}</th>
                <th scope="col">{labels().comment}</th><th scope="col">{labels().when}</th><th scope="col">{labels().request_now}</th>
            </tr></thead>
            <tbody>
                {items.into_iter().map(|d| view! {
                    <tr>
                        <td translate="no">{d.entitlement}</td>
                        <td translate="no">{d.beneficiary}</td>
                        <td><StatePill state=d.outcome/></td>
                        <td dir="auto">{d.comment}</td>
                        <td><Time at=d.decided_at/></td>
                        <td><StatePill state=d.request_state/></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// j / k move between requests, a approves and d denies the focused one (not while typing).
#[cfg(feature = "hydrate")]
fn keyboard_shortcuts() {
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys::HtmlElement;

    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let document = document();
        let active = document.active_element();
        if active.as_ref().is_some_and(|a| {
            matches!(
                a.tag_name().to_ascii_lowercase().as_str(),
                "input" | "textarea" | "select"
            )
        }) {
            return;
        }
        let list = document.get_elements_by_class_name("inbox-item");
        let items: Vec<HtmlElement> = (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|e| e.dyn_into::<HtmlElement>().ok())
            .collect();
        if items.is_empty() {
            return;
        }
        let current = active.as_ref().and_then(|a| {
            items
                .iter()
                .position(|item| item.contains(Some(a.unchecked_ref())))
        });
        let press = |outcome: &str| {
            if let Some(i) = current
                && let Ok(Some(button)) =
                    items[i].query_selector(&format!("button[value={outcome}]"))
                && let Ok(button) = button.dyn_into::<HtmlElement>()
            {
                button.click();
            }
        };
        match ev.key().as_str() {
            "j" => {
                let next = current.map_or(0, |i| (i + 1).min(items.len() - 1));
                let _ = items[next].focus();
            }
            "k" => {
                let previous = current.map_or(0, |i| i.saturating_sub(1));
                let _ = items[previous].focus();
            }
            "a" => press("approve"),
            "d" => press("deny"),
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || handle.remove());
}

/// The way to reconciliation's findings for an entry's owner: how many are open on their
/// entries, and the findings page. Shown only to owners.
#[component]
fn OwnedFindings() -> impl IntoView {
    let open = Resource::new(|| (), |_| crate::api::findings::owned_findings());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                open.await.ok().flatten().map(|n| view! {
                    <section aria-labelledby="owned-findings-title">
                        <h2 id="owned-findings-title">{labels().owned_findings_title}</h2>
                        <p>{(labels().owned_findings)(n)}" "<a href="/governance/findings">{labels().open_findings}</a></p>
                    </section>
                })
            })}
        </Transition>
    }
}

/// The way to the access reviews that wait for the caller's answers; shown only when some do.
#[component]
fn ReviewsWaiting() -> impl IntoView {
    let waiting = Resource::new(|| (), |_| crate::api::access_reviews::reviews_waiting());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                waiting.await.ok().filter(|n| *n > 0).map(|n| view! {
                    <section aria-labelledby="reviews-waiting-title">
                        <h2 id="reviews-waiting-title">{labels().reviews_waiting_title}</h2>
                        <p>{(labels().reviews_waiting)(n)}" "<a href="/governance/reviews">{labels().open_review_link}</a></p>
                    </section>
                })
            })}
        </Transition>
    }
}

/// Emergency uses of entries the caller owns, each with its review form; shown only when some
/// wait.
#[component]
fn Reviews() -> impl IntoView {
    use crate::api::emergency::{CloseReview, to_review};
    let close = ServerAction::<CloseReview>::new();
    let uses = Resource::new(move || close.version().get(), |_| to_review());
    let outcome = move || close.value().get();
    view! {
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <p class="notice success" role="status">{message}</p> }.into_any(),
            Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
        })}
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let uses = uses.await.unwrap_or_default();
                (!uses.is_empty()).then(|| view! {
                    <section aria-labelledby="reviews-title">
                        <h2 id="reviews-title">{labels().reviews_title}</h2>
                        <p class="muted">{labels().reviews_lead}</p>
                        <ul class="inbox">
                            {uses.into_iter().map(|u| {
                                let id = u.request_id.to_string();
                                let note_id = format!("note-{id}");
                                let note_for = note_id.clone();
                                view! {
                                    <li class="card">
                                        <h3>{(labels().took_emergency)(&u.who, &u.entitlement)}</h3>
                                        <dl class="facts">
                                            <dt>{labels().why}</dt><dd dir="auto">{u.justification.clone()}</dd>
                                            <dt>{labels().when}</dt><dd><Time at=u.starts_at/>" – "<Time at=u.ends_at/></dd>
                                        </dl>
                                        <ActionForm action=close attr:class="decision">
                                            <input type="hidden" name="request_id" value=id/>
                                            <fieldset>
                                                <legend>{labels().review_verdict}</legend>
                                                <label><input type="radio" name="verdict" value="justified" required=true/>" "{labels().review_justified}</label>
                                                <label><input type="radio" name="verdict" value="not_justified"/>" "{labels().review_not_justified}</label>
                                            </fieldset>
                                            <label for=note_for>{labels().review_note}</label>
                                            <textarea id=note_id name="note" rows="2" maxlength="1000" required=true dir="auto"></textarea>
                                            <div class="actions">
                                                <button type="submit" class="button primary">{labels().close_review}</button>
                                            </div>
                                        </ActionForm>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </section>
                })
            })}
        </Transition>
    }
}
