//! Contractors: the sponsor's form for a temporary identity, and the contractors they sponsor.

use crate::ui::components::page_title::PageTitle;
use leptos::prelude::*;

use crate::api::contractors::{
    ContractorView, ContractorsPage, ExtendContractor, IssuePassword, OnboardContractor,
    get_contractors,
};
use crate::error::AppError;
use crate::text::labels;
use crate::ui::components::field_error::{FieldError, FormError};
use crate::ui::components::notice::{ErrorNotice, SignInAgain};
use crate::ui::components::time::{Time, When, clock, utc_offset};

const FIELDS: &[&str] = &[
    "display_name",
    "email",
    "company",
    "ends_at",
    "bundle",
    "justification",
];

#[component]
pub fn ContractorsPage() -> impl IntoView {
    let onboard = ServerAction::<OnboardContractor>::new();
    let password = ServerAction::<IssuePassword>::new();
    let extend = ServerAction::<ExtendContractor>::new();
    let data = Resource::new(
        move || (onboard.version().get(), extend.version().get()),
        |_| get_contractors(),
    );
    view! {
        <PageTitle text=labels().contractors_title/>
        <h1>{labels().contractors_title}</h1>
        <p class="lead">{labels().contractors_lead}</p>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <Contractors page onboard password extend/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Contractors(
    page: ContractorsPage,
    onboard: ServerAction<OnboardContractor>,
    password: ServerAction<IssuePassword>,
    extend: ServerAction<ExtendContractor>,
) -> impl IntoView {
    if !page.offered {
        return view! { <p class="card notice">{labels().contractors_not_offered}</p> }.into_any();
    }
    let error = Signal::derive(move || onboard.value().get().and_then(|r| r.err()));
    let done = move || onboard.value().get().and_then(|r| r.ok());
    let offset = utc_offset();
    let now = clock();
    let ad = page.ad_accounts;
    let password_error = move || password.value().get().and_then(|r| r.err());
    let extended = move || extend.value().get();
    view! {
        <div role="status" class="card notice success" hidden=move || done().is_none()>
            <p>{move || done().map(|d| d.done.to_string())}</p>
        </div>
        {move || password_error().map(|e| view! { <div role="alert" class="card notice error"><p>{e.to_string()}</p></div> })}
        {move || extended().map(|result| match result {
            Ok(done) => view! { <div role="status" class="card notice success"><p>{done.done.to_string()}</p></div> }.into_any(),
            Err(e) => view! { <div role="alert" class="card notice error"><p>{e.to_string()}</p></div> }.into_any(),
        })}
        <FormError error fields=FIELDS/>
        <section class="card" aria-labelledby="onboard-title">
            <h2 id="onboard-title">{labels().onboard_title}</h2>
            <ActionForm action=onboard attr:class="request-form">
                <input type="hidden" name="form[client_token]" value=page.client_token.clone()/>
                <input type="hidden" name="form[utc_offset_minutes]" prop:value=move || offset.get().to_string()/>
                <label for="contractor-name">{labels().contractor_name}</label>
                <input type="text" class="wide" id="contractor-name" name="form[display_name]" required=true maxlength="100"
                    autocomplete="off" aria-describedby="display_name-error"/>
                <FieldError error field="display_name" id="display_name-error"/>
                <label for="contractor-email">{labels().contractor_email}</label>
                <p class="muted" id="contractor-email-hint">{labels().contractor_email_hint}</p>
                <input type="email" class="wide" id="contractor-email" name="form[email]" required=true maxlength="254"
                    autocomplete="off" spellcheck="false" aria-describedby="contractor-email-hint email-error"/>
                <FieldError error field="email" id="email-error"/>
                <label for="contractor-company">{labels().contractor_company}</label>
                <input type="text" class="wide" id="contractor-company" name="form[company]" maxlength="100"
                    autocomplete="off" aria-describedby="company-error"/>
                <FieldError error field="company" id="company-error"/>
                <label for="contractor-ends">{labels().contractor_ends}</label>
                <p class="muted" id="contractor-ends-hint">{(labels().contractor_ends_hint)(page.max_days)}</p>
                <input type="datetime-local" id="contractor-ends" name="form[ends_at]" required=true
                    aria-describedby="contractor-ends-hint ends_at-error"/>
                <FieldError error field="ends_at" id="ends_at-error"/>
                <label for="contractor-bundle">{labels().contractor_bundle}</label>
                <select id="contractor-bundle" name="form[bundle]" aria-describedby="bundle-error">
                    {page.bundles.iter().map(|b| view! {
                        <option value=b.key.clone() translate="no">{b.name.clone()}</option>
                    }).collect_view()}
                </select>
                <FieldError error field="bundle" id="bundle-error"/>
                <label for="contractor-why">{labels().contractor_why}</label>
                <textarea id="contractor-why" name="form[justification]" rows="3" maxlength="2000"
                    aria-describedby="justification-error" dir="auto"></textarea>
                <FieldError error field="justification" id="justification-error"/>
                <div class="actions">
                    <button type="submit" class="button primary">{labels().onboard_submit}</button>
                </div>
            </ActionForm>
        </section>
        <section aria-labelledby="sponsored-title">
            <h2 id="sponsored-title">{labels().your_contractors}</h2>
            {if page.contractors.is_empty() {
                view! { <p class="empty">{labels().no_contractors}</p> }.into_any()
            } else {
                view! {
                    <ul class="leases">
                        {page.contractors.into_iter().map(|c| view! { <Contractor c now ad password extend offset/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
    .into_any()
}

#[component]
fn Contractor(
    c: ContractorView,
    now: ReadSignal<chrono::DateTime<chrono::Utc>>,
    ad: bool,
    password: ServerAction<IssuePassword>,
    extend: ServerAction<ExtendContractor>,
    offset: ReadSignal<i32>,
) -> impl IntoView {
    let new_end_id = format!("new-end-{}", c.id);
    let why_id = format!("extend-why-{}", c.id);
    let extend_token = c.extension_token.clone();
    let title_id = format!("contractor-{}", c.id);
    let labelled_by = title_id.clone();
    let id = c.id.to_string();
    let extend_id = id.clone();
    let shown_for = c.id;
    let issued = move || {
        password
            .value()
            .get()
            .and_then(|r| r.ok())
            .filter(|issued| issued.contractor_id == shown_for)
    };
    view! {
        <li class="card lease" aria-labelledby=labelled_by>
            <h3 id=title_id><span translate="no">{c.display_name.clone()}</span> " " <span class="pill">{c.standing.clone()}</span></h3>
            <p class="muted" translate="no">{format!("{} · {} · {}", c.email, c.company, c.bundle)}</p>
            <p>{labels().contractor_ends_label} <When at=c.ends_at now/></p>
            {c.ending_soon.then(|| view! { <p class="notice">{labels().contractor_ending_soon}</p> })}
            {c.problem.clone().map(|p| view! { <p class="part-problem">{(labels().contractor_problem)(&p)}</p> })}
            {c.delete_after.map(|at| view! { <p class="muted">{labels().contractor_deleted_after} <Time at/></p> })}
            {c.redeem_url.clone().filter(|_| c.active).map(|url| {
                let field = format!("invitation-{}", c.id);
                let hint = format!("invitation-hint-{}", c.id);
                view! {
                    <label for=field.clone()>{labels().contractor_invitation}</label>
                    <p class="muted" id=hint.clone()>{labels().contractor_invitation_hint}</p>
                    <input type="text" class="wide" id=field readonly=true value=url aria-describedby=hint/>
                }
            })}
            {c.active.then(|| view! {
                <details class="confirm">
                    <summary class="button">{labels().extend_contractor}</summary>
                    <ActionForm action=extend>
                        <input type="hidden" name="form[contractor_id]" value=extend_id.clone()/>
                        <input type="hidden" name="form[client_token]" value=extend_token.clone()/>
                        <input type="hidden" name="form[utc_offset_minutes]" prop:value=move || offset.get().to_string()/>
                        <label for=new_end_id.clone()>{labels().contractor_new_end}</label>
                        <input type="datetime-local" id=new_end_id.clone() name="form[ends_at]" required=true/>
                        <label for=why_id.clone()>{labels().why}</label>
                        <textarea id=why_id.clone() name="form[justification]" rows="2" maxlength="2000" dir="auto"></textarea>
                        <div class="actions">
                            <button type="submit" class="button primary">{labels().extend_contractor_submit}</button>
                        </div>
                    </ActionForm>
                </details>
            })}
            {(ad && c.active).then(|| view! {
                <details class="confirm">
                    <summary class="button">{labels().first_password}</summary>
                    <p>{labels().issue_password_hint}</p>
                    <ActionForm action=password>
                        <input type="hidden" name="contractor_id" value=id.clone()/>
                        <button type="submit" class="button">{labels().issue_password}</button>
                    </ActionForm>
                </details>
            })}
            {move || issued().map(|issued| view! {
                <p role="status" class="card notice success"><code>{(labels().issued_password)(&issued.password)}</code></p>
            })}
        </li>
    }
}
