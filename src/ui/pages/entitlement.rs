use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;
use leptos_router::hooks::use_params_map;

use crate::api::catalog::{EntitlementDetail, get_entitlement};
use crate::api::requests::SubmitRequest;
use crate::error::AppError;
use crate::ui::components::field_error::{FieldError, FormError};
use crate::ui::components::kind_icon::KindIcon;
use crate::ui::components::notice::{ErrorNotice, SignInAgain};
use crate::ui::components::status::set_http_status;
use crate::ui::components::time::{Time, utc_offset};

const FIELDS: &[&str] = &[
    "duration",
    "end",
    "start",
    "start_at",
    "justification",
    "ticket",
    "source_address",
    "on_behalf_of",
];

/// One entitlement: its rules in plain words, and the form to request it.
#[component]
pub fn EntitlementPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let submit = ServerAction::<SubmitRequest>::new();
    let detail = Resource::new(
        move || (key(), submit.version().get()),
        |(key, _)| get_entitlement(key),
    );
    view! {
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <Entitlement detail submit/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(AppError::NotFound) => {
                        set_http_status(404);
                        view! {
                            <PageTitle text=labels().not_in_catalog/>
                            <h1>{labels().not_in_catalog}</h1>
                            <p>{labels().not_in_catalog_detail}</p>
                            <p><a href="/request">{labels().back_to_catalog}</a></p>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Entitlement(detail: EntitlementDetail, submit: ServerAction<SubmitRequest>) -> impl IntoView {
    let error = Signal::derive(move || submit.value().get().and_then(|r| r.err()));
    let done = move || submit.value().get().and_then(|r| r.ok());
    let offset = utc_offset();
    let duration = RwSignal::new(detail.default_minutes.to_string());
    let custom_end = RwSignal::new(String::new());
    let start_later = RwSignal::new(false);
    let start_at = RwSignal::new(String::new());
    let now = crate::ui::components::time::clock();
    let preview = move || {
        end_preview(
            &duration.get(),
            &custom_end.get(),
            start_later.get(),
            &start_at.get(),
            offset.get(),
            now.get(),
        )
    };
    let mut presets = detail.presets_minutes.clone();
    if !presets.contains(&detail.default_minutes) {
        presets.push(detail.default_minutes);
        presets.sort_unstable();
    }
    let default = detail.default_minutes;
    view! {
        <PageTitle text=detail.name.clone()/>
        <p class="breadcrumb"><a href="/request">{labels().catalog}</a> " / " <span translate="no">{detail.name.clone()}</span></p>
        <h1 translate="no">{detail.name.clone()}</h1>
        <p class="lead" dir="auto">{detail.description.clone()}</p>
        <section class="card" aria-labelledby="rules-title">
            <h2 id="rules-title">{labels().how_it_works}</h2>
            <ul class="rules">
                {detail.rules.iter().map(|r| view! { <li>{r.clone()}</li> }).collect_view()}
            </ul>
            {if detail.parts.is_empty() {
                view! {
                    <p class="muted">
                        <KindIcon kind=detail.access.kind()/>{format!("{} · ", crate::text::access_label(&detail.access))}
                        <span translate="no">{format!("{} · {}", detail.system, crate::text::short_dn(&detail.target))}</span>
                    </p>
                }.into_any()
            } else {
                view! {
                    <h3>{labels().bundle_gives}</h3>
                    <ul class="parts">
                        {detail.parts.iter().map(|part| view! {
                            <li>
                                <KindIcon kind=part.access.kind()/>
                                <span class="part-name" translate="no">{part.name.clone()}</span>
                                <span class="muted">{format!(" · {} · ", crate::text::access_label(&part.access))}<span translate="no">{part.system.clone()}</span></span>
                                {part.withdrawn.then(|| view! { <span class="muted">{format!(" ({})", labels().part_withdrawn)}</span> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {detail.held_until.map(|until| view! {
                <p class="notice">
                    {labels().you_hold_until} <Time at=until/> {labels().you_hold_until_after}
                </p>
            })}
        </section>
        // Once submitted, the outcome takes the form's place, with where to go next.
        <div role="status" class="card notice success" hidden=move || done().is_none()>
            <p>{move || done().map(|d| d.done.to_string())}</p>
            <p class="actions">
                <a class="button primary" href="/my-access">{labels().see_in_my_access}</a>
                <a class="button" href="/request">{labels().ask_for_something_else}</a>
            </p>
        </div>
        <FormError error fields=FIELDS/>
        <section class="card" aria-labelledby="form-title" hidden=move || done().is_some()>
            <h2 id="form-title">{labels().request_it}</h2>
            <ActionForm action=submit attr:class="request-form">
                <input type="hidden" name="form[entitlement]" value=detail.key.clone()/>
                <input type="hidden" name="form[client_token]" value=detail.client_token.clone()/>
                <input type="hidden" name="form[utc_offset_minutes]" prop:value=move || offset.get().to_string()/>
                <fieldset>
                    <legend>{labels().for_how_long}</legend>
                    <div class="choices">
                        {presets.into_iter().map(|m| {
                            let id = format!("duration-{m}");
                            let label_for = id.clone();
                            view! {
                                <label for=label_for class="choice">
                                    <input type="radio" id=id name="form[duration]" value=m.to_string() checked=m == default
                                        on:change=move |_| duration.set(m.to_string())/>
                                    {crate::text::minutes(m)}
                                </label>
                            }
                        }).collect_view()}
                        <label for="duration-custom" class="choice">
                            <input type="radio" id="duration-custom" name="form[duration]" value="custom"
                                on:change=move |_| duration.set("custom".into())/>
                            {labels().until_a_time}
                        </label>
                    </div>
                    // Shown only while "until a time" is chosen (style/main.css, with :has): the
                    // radio stays the one source of truth, before hydration too.
                    <div class="when-chosen when-custom">
                        <label for="end">{labels().ends_at} <TimeZoneNote offset/></label>
                        <input type="datetime-local" id="end" name="form[end]" aria-describedby="end-error"
                            on:input=move |ev| custom_end.set(event_target_value(&ev))/>
                        <FieldError error field="end" id="end-error"/>
                    </div>
                    <FieldError error field="duration" id="duration-error"/>
                    <p class="preview" aria-live="polite">{preview}</p>
                </fieldset>
                {(detail.max_start_delay_minutes > 0).then(|| view! {
                    <fieldset>
                        <legend>{labels().starting}</legend>
                        <div class="choices">
                            <label for="start-now" class="choice">
                                <input type="radio" id="start-now" name="form[start]" value="now" checked=true
                                    on:change=move |_| start_later.set(false)/>
                                {labels().start_now}
                            </label>
                            <label for="start-later" class="choice">
                                <input type="radio" id="start-later" name="form[start]" value="later"
                                    on:change=move |_| start_later.set(true)/>
                                {labels().start_later}
                            </label>
                        </div>
                        <div class="when-chosen when-later">
                            <label for="start-at">{labels().starts_at} <TimeZoneNote offset/></label>
                            <input type="datetime-local" id="start-at" name="form[start_at]" aria-describedby="start_at-error"
                                on:input=move |ev| start_at.set(event_target_value(&ev))/>
                            <FieldError error field="start_at" id="start_at-error"/>
                        </div>
                        <FieldError error field="start" id="start-error"/>
                    </fieldset>
                })}
                <label for="justification">
                    {labels().why_needed}
                    {(!detail.justification_required).then(|| view! { <span class="muted">{labels().optional}</span> })}
                </label>
                <textarea id="justification" name="form[justification]" rows="3" maxlength="2000"
                    aria-describedby="justification-error" dir="auto"></textarea>
                <FieldError error field="justification" id="justification-error"/>
                <label for="ticket">
                    {labels().ticket_number}
                    {(!detail.ticket_required).then(|| view! { <span class="muted">{labels().optional}</span> })}
                    {detail.ticket_hint.clone().map(|h| view! { <span class="muted" dir="auto">{format!(" — {h}")}</span> })}
                </label>
                <input type="text" id="ticket" name="form[ticket]" maxlength="64" aria-describedby="ticket-error"/>
                <FieldError error field="ticket" id="ticket-error"/>
                {detail.asks_source.then(|| view! {
                    <label for="source-address">{labels().source_address}</label>
                    <p class="muted" id="source-address-hint">
                        {labels().source_address_hint}
                        {detail.seen_address.clone().map(|seen| format!(" {}", (labels().source_address_seen)(&seen)))}
                    </p>
                    <input type="text" id="source-address" name="form[source_address]" maxlength="43"
                        required=true inputmode="decimal" autocomplete="off" spellcheck="false"
                        placeholder="203.0.113.7"
                        aria-describedby="source-address-hint source_address-error"/>
                    <FieldError error field="source_address" id="source_address-error"/>
                })}
                {match &detail.access {
                    crate::domain::access::Access::AzureVmPort { source: Some(source), .. } => Some(view! {
                        <p class="muted">{(labels().source_address_fixed)(source)}</p>
                    }),
                    _ => None,
                }}
                {(!detail.reports.is_empty()).then(|| view! {
                    <label for="on-behalf-of">{labels().who_is_it_for}</label>
                    <select id="on-behalf-of" name="form[on_behalf_of]" aria-describedby="on_behalf_of-error">
                        <option value="">{labels().myself}</option>
                        {detail.reports.iter().map(|p| view! {
                            <option value=p.upn.clone() translate="no">{p.name.clone()}</option>
                        }).collect_view()}
                    </select>
                    <FieldError error field="on_behalf_of" id="on_behalf_of-error"/>
                })}
                <div class="actions">
                    <button type="submit" class="button primary" disabled=move || submit.pending().get()>
                        {labels().submit_request}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

/// "Ends 2026-11-27 16:30 (UTC+01:00) if approved now", from what the form says so far.
fn end_preview(
    duration: &str,
    custom_end: &str,
    start_later: bool,
    start_at: &str,
    offset: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let local = |text: &str| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .ok()
            .map(|n| n.and_utc() - chrono::TimeDelta::minutes(i64::from(offset)))
    };
    let start = if start_later {
        local(start_at)
    } else {
        Some(now)
    };
    let end = match duration {
        "custom" => local(custom_end),
        minutes => minutes
            .parse::<i64>()
            .ok()
            .zip(start)
            .map(|(m, s)| s + chrono::TimeDelta::minutes(m)),
    };
    match end {
        Some(end) => {
            let at = crate::text::at_offset(end, offset);
            if start_later || duration == "custom" {
                (labels().ends_preview)(&at)
            } else {
                (labels().ends_preview_if_now)(&at)
            }
        }
        None => labels().ends_preview_unknown.to_string(),
    }
}

/// Which zone the time fields are in: UTC until the browser says otherwise.
#[component]
fn TimeZoneNote(offset: ReadSignal<i32>) -> impl IntoView {
    view! {
        <span class="muted">
            {move || match offset.get() {
                0 => labels().zone_utc.to_string(),
                m => (labels().zone_local)(&format!("{}{:02}:{:02}", if m > 0 { '+' } else { '-' }, m.abs() / 60, m.abs() % 60)),
            }}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::end_preview;

    #[test]
    fn the_preview_follows_the_form() {
        let now = "2026-11-27T12:00:00Z".parse().unwrap();
        assert_eq!(
            end_preview("120", "", false, "", 60, now),
            "If approved now, your access would end 2026-11-27 15:00 (UTC+01:00)."
        );
        assert_eq!(
            end_preview("60", "", true, "2026-11-28T09:00", 0, now),
            "Your access would end 2026-11-28 10:00 UTC."
        );
        assert_eq!(
            end_preview("custom", "2026-11-27T18:30", false, "", 60, now),
            "Your access would end 2026-11-27 18:30 (UTC+01:00)."
        );
        assert_eq!(
            end_preview("custom", "", false, "", 0, now),
            "Choose the times to see when your access would end."
        );
    }
}
