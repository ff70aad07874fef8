//! Access reviews: the campaigns a person sees (all of them for the governance roles, their
//! own for reviewers), the form administrators open one with, and one campaign's items with
//! the reviewer's keep and remove forms and, for those who see all of it, its report.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::access_reviews::{
    Campaign, CampaignReport, Campaigns, DecideReview, Item, OpenReview, Reviewable, list_reviews,
    review_report,
};
use crate::domain::review::{ItemSource, ReviewDecision, ReviewOutcome, Reviewers};
use crate::text::labels;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::page_title::PageTitle;
use crate::ui::components::time::{Time, utc_offset};

#[component]
pub fn ReviewsPage() -> impl IntoView {
    let open = ServerAction::<OpenReview>::new();
    let answer = Resource::new(move || open.version().get(), |_| list_reviews());
    view! {
        <PageTitle text=labels().access_reviews_title/>
        <p class="breadcrumb"><crate::ui::components::back::BackToArea/> " / " {labels().access_reviews_title}</p>
        <h1>{labels().access_reviews_title}</h1>
        <p>{labels().reviews_intro}</p>
        {move || open.value().get().map(|result| match result {
            Ok(id) => view! {
                <div class="card notice success" role="status">
                    <p>{labels().review_opened}" "<a href=format!("/governance/reviews/{id}")>{labels().open_review_link}</a></p>
                </div>
            }.into_any(),
            Err(error) => view! { <ErrorNotice error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match answer.await {
                    Ok(campaigns) => view! { <CampaignList campaigns open/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CampaignList(campaigns: Campaigns, open: ServerAction<OpenReview>) -> impl IntoView {
    let Campaigns {
        campaigns,
        reviewable,
        may_open,
    } = campaigns;
    view! {
        <section aria-labelledby="campaigns-title">
            <h2 id="campaigns-title">{labels().campaigns_title}</h2>
            {if campaigns.is_empty() {
                view! { <p class="empty">{labels().campaigns_none}</p> }.into_any()
            } else {
                view! {
                    <table class="table" data-testid="campaigns">
                        <thead><tr>
                            <th scope="col">{labels().campaign_name}</th><th scope="col">{labels().campaign_deadline}</th>
                            <th scope="col">{labels().state}</th><th scope="col">{labels().campaign_items}</th>
                            <th scope="col">{labels().campaign_yours}</th>
                        </tr></thead>
                        <tbody>
                            {campaigns.into_iter().map(|c| view! { <CampaignRow c/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        {may_open.then(|| view! { <OpenForm reviewable open/> })}
    }
}

#[component]
fn CampaignRow(c: Campaign) -> impl IntoView {
    view! {
        <tr>
            <td><a href=format!("/governance/reviews/{}", c.id) dir="auto">{c.name.clone()}</a><br/>
                <span class="muted">{(labels().opened_by)(&c.created_by)}</span></td>
            <td><Time at=c.deadline/></td>
            <td><CampaignState campaign=c.clone()/></td>
            <td>{(labels().campaign_progress)(c.items - c.undecided, c.items)}</td>
            <td>{c.mine}</td>
        </tr>
    }
}

#[component]
fn CampaignState(campaign: Campaign) -> impl IntoView {
    match (campaign.closed_at, campaign.closed_how) {
        (Some(at), how) => {
            let how = match how {
                Some(crate::domain::review::ClosedHow::Deadline) => labels().closed_at_deadline,
                _ => labels().closed_complete,
            };
            view! { <span class="pill pill-revoked">{how}</span>" "<Time at/> }.into_any()
        }
        (None, _) => {
            view! { <span class="pill pill-pending">{labels().campaign_open}</span> }.into_any()
        }
    }
}

#[component]
fn OpenForm(reviewable: Vec<Reviewable>, open: ServerAction<OpenReview>) -> impl IntoView {
    let offset = utc_offset();
    view! {
        <section aria-labelledby="open-review-title">
            <h2 id="open-review-title">{labels().open_review_title}</h2>
            <p class="muted">{labels().open_review_hint}</p>
            <ActionForm action=open attr:class="card form" attr:data-testid="open-review">
                <input type="hidden" name="offset" prop:value=move || offset.get().to_string()/>
                <div class="field">
                    <label for="review-name">{labels().campaign_name}</label>
                    <input id="review-name" name="name" type="text" class="wide" required minlength="3" maxlength="200" dir="auto"/>
                </div>
                <fieldset class="field">
                    <legend>{labels().campaign_entries}</legend>
                    <div class="entry-choices">
                    {reviewable.into_iter().enumerate().map(|(i, r)| {
                        let id = format!("review-entry-{i}");
                        let label_for = id.clone();
                        view! {
                            <label for=label_for class="choice">
                                <input type="checkbox" id=id name=format!("entries[{i}]") value=r.key.clone()/>
                                <span translate="no">{r.name}</span>
                                <span class="muted"><span translate="no">{r.key}{" · "}{r.system}</span>{" · "}{(labels().standing_now)(r.standing)}</span>
                            </label>
                        }
                    }).collect_view()}
                    </div>
                </fieldset>
                <div class="field">
                    <label for="review-reviewers">{labels().campaign_reviewers}</label>
                    <select id="review-reviewers" name="reviewers">
                        <option value=Reviewers::Owners.as_str() selected>{labels().reviewers_owners}</option>
                        <option value=Reviewers::Managers.as_str()>{labels().reviewers_managers}</option>
                    </select>
                </div>
                <div class="field">
                    <label for="review-default">{labels().campaign_default}</label>
                    <select id="review-default" name="default_action">
                        <option value=ReviewDecision::Keep.as_str() selected>{labels().default_keep}</option>
                        <option value=ReviewDecision::Remove.as_str()>{labels().default_remove}</option>
                    </select>
                </div>
                <div class="field">
                    <label for="review-deadline">{labels().campaign_deadline}</label>
                    <input id="review-deadline" name="deadline" type="date" required/>
                </div>
                <div class="actions">
                    <button type="submit" class="button primary">{labels().open_review}</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let decide = ServerAction::<DecideReview>::new();
    let answer = Resource::new(
        move || (id(), decide.version().get()),
        |(id, _)| review_report(id),
    );
    view! {
        <PageTitle text=labels().access_reviews_title/>
        <p class="breadcrumb"><a href="/governance/reviews">{labels().access_reviews_title}</a></p>
        {move || decide.value().get().map(|result| match result {
            Ok(outcome) => view! { <div class="card notice success" role="status"><p>{outcome_text(outcome)}</p></div> }.into_any(),
            Err(error) => view! { <ErrorNotice error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match answer.await {
                    Ok(report) => view! { <Report report decide/> }.into_any(),
                    Err(error) => view! { <h1>{labels().access_reviews_title}</h1><ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn outcome_text(outcome: ReviewOutcome) -> &'static str {
    match outcome {
        ReviewOutcome::Kept => labels().outcome_kept,
        ReviewOutcome::Removed => labels().outcome_removed,
        ReviewOutcome::Gone => labels().outcome_gone,
        ReviewOutcome::RemoveFailed => labels().outcome_remove_failed,
    }
}

#[component]
fn Report(report: CampaignReport, decide: ServerAction<DecideReview>) -> impl IntoView {
    let CampaignReport {
        campaign,
        entries,
        items,
        whole,
    } = report;
    let default = match campaign.default_action {
        ReviewDecision::Keep => labels().default_keep,
        ReviewDecision::Remove => labels().default_remove,
    };
    let reviewers = match campaign.reviewers {
        Reviewers::Owners => labels().reviewers_owners,
        Reviewers::Managers => labels().reviewers_managers,
    };
    let evidence = format!(
        "/governance?action=review&from={}",
        campaign.created_at.format("%Y-%m-%d")
    );
    let id = campaign.id;
    view! {
        <h1 dir="auto">{campaign.name.clone()}</h1>
        <p class="report-actions"><crate::ui::components::print::PrintButton/></p>
        <p class="print-only muted">{labels().printed_note}</p>
        <dl class="facts">
            <dt>{labels().state}</dt><dd><CampaignState campaign=campaign.clone()/></dd>
            <dt>{labels().campaign_deadline}</dt><dd><Time at=campaign.deadline/></dd>
            <dt>{labels().campaign_reviewers}</dt><dd>{reviewers}</dd>
            <dt>{labels().campaign_default}</dt><dd>{default}</dd>
            <dt>{labels().campaign_entries}</dt><dd translate="no">{entries.join(", ")}</dd>
            <dt>{labels().campaign_items}</dt><dd>{(labels().campaign_progress)(campaign.items - campaign.undecided, campaign.items)}</dd>
            <dt>{labels().opened}</dt><dd><span translate="no">{campaign.created_by.clone()}</span>" · "<Time at=campaign.created_at/></dd>
        </dl>
        {whole.then(|| view! {
            <form class="export-links" data-testid="review-export" method="post" action=format!("/governance/reviews/{id}/report")>
                <button class="button" type="submit">{labels().review_report_csv}</button>
                <a class="button subtle" href=evidence>{labels().review_evidence}</a>
                <p class="muted">{labels().review_report_hint}</p>
            </form>
        })}
        <section aria-labelledby="items-title">
            <h2 id="items-title">{if whole { labels().review_items_all } else { labels().review_items_yours }}</h2>
            <table class="table" data-testid="review-items">
                <thead><tr>
                    <th scope="col">{labels().account}</th><th scope="col">{labels().access}</th>
                    <th scope="col">{labels().why_standing}</th><th scope="col">{labels().reviewer}</th>
                    <th scope="col">{labels().review_answer}</th><th scope="col">{labels().actions}</th>
                </tr></thead>
                <tbody>
                    <For each=move || items.clone() key=|i| (i.id, i.decision) children=move |i| view! { <ItemRow item=i decide/> }/>
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn ItemRow(item: Item, decide: ServerAction<DecideReview>) -> impl IntoView {
    let name = if item.account_label.is_empty() {
        item.account_ref.clone()
    } else {
        item.account_label.clone()
    };
    let why = match item.source {
        ItemSource::Declared => view! {
            <span>{labels().declared_holder}</span>
            {item.declared_reason.clone().map(|r| view! { <br/><span class="muted" dir="auto">{r}</span> })}
            {item.declared_until.map(|at| view! { <br/>{labels().seen_until}" "<Time at/> })}
        }.into_any(),
        ItemSource::Finding => view! { <span>{labels().found_without_lease}</span> }.into_any(),
    };
    let holder = item
        .holder
        .clone()
        .map(|h| view! { <br/><span translate="no">{h}</span> });
    view! {
        <tr data-account=item.account_ref.clone()>
            <td><span translate="no">{name.clone()}</span><br/><span class="muted mono" translate="no">{item.account_ref.clone()}</span>{holder}</td>
            <td translate="no">{item.entitlement.clone()}<br/><span class="muted">{item.entitlement_key.clone()}{" · "}{item.system.clone()}</span></td>
            <td>{why}</td>
            <td translate="no">{item.reviewer.clone().unwrap_or_else(|| labels().entry_owners.to_string())}</td>
            <td><Answered item=item.clone()/></td>
            <td>{item.may_decide.then(|| view! { <Decide item=item.id name=name.clone() decide/> })}
                {(item.own && item.decision.is_none()).then(|| view! { <span class="muted">{labels().own_item}</span> })}</td>
        </tr>
    }
}

/// An item's answer: keep or remove, why, by whom (or the campaign's default), and what it did.
#[component]
fn Answered(item: Item) -> impl IntoView {
    let Some(decision) = item.decision else {
        return view! { <span class="muted">{labels().unanswered}</span> }.into_any();
    };
    let (pill, said) = match decision {
        ReviewDecision::Keep => ("pill pill-active", labels().decision_keep),
        ReviewDecision::Remove => ("pill pill-revoked", labels().decision_remove),
    };
    let by = item
        .decided_by
        .clone()
        .unwrap_or_else(|| labels().by_campaign_default.to_string());
    view! {
        <span class=pill>{said}</span>
        {item.keep_until.map(|at| view! { " "{labels().seen_until}" "<Time at/> })}
        {item.reason.clone().map(|r| view! { <br/><span dir="auto">{r}</span> })}
        <br/><span class="muted" translate="no">{by}</span>
        {item.decided_at.map(|at| view! { " "<Time at/> })}
        {item.outcome.map(|o| view! { <br/><strong>{outcome_text(o)}</strong> })}
        {item.outcome_error.clone().map(|e| view! { <br/><span class="muted">{e}</span> })}
    }
    .into_any()
}

#[component]
fn Decide(item: uuid::Uuid, name: String, decide: ServerAction<DecideReview>) -> impl IntoView {
    let offset = utc_offset();
    let keep_reason = format!("keep-reason-{item}");
    let keep_until = format!("keep-until-{item}");
    let remove_reason = format!("remove-reason-{item}");
    let (keep_named, remove_named) = ((labels().keep_named)(&name), (labels().remove_named)(&name));
    view! {
        <details class="confirm">
            <summary class="button" aria-label=keep_named.clone()>{labels().decision_keep}</summary>
            <ActionForm action=decide>
                <input type="hidden" name="item_id" value=item.to_string()/>
                <input type="hidden" name="decision" value=ReviewDecision::Keep.as_str()/>
                <input type="hidden" name="offset" prop:value=move || offset.get().to_string()/>
                <label for=keep_reason.clone()>{labels().keep_reason}</label>
                <textarea id=keep_reason name="reason" rows="2" required minlength="10" maxlength="1000" dir="auto"></textarea>
                <label for=keep_until.clone()>{labels().declare_until}</label>
                <input id=keep_until name="until" type="date" required/>
                <div class="actions">
                    <button type="submit" class="button primary" aria-label=keep_named>{labels().decision_keep}</button>
                </div>
            </ActionForm>
        </details>
        <details class="confirm">
            <summary class="button danger" aria-label=remove_named.clone()>{labels().decision_remove}</summary>
            <ActionForm action=decide>
                <input type="hidden" name="item_id" value=item.to_string()/>
                <input type="hidden" name="decision" value=ReviewDecision::Remove.as_str()/>
                <label for=remove_reason.clone()>{labels().remove_reason}</label>
                <textarea id=remove_reason name="reason" rows="2" required minlength="10" maxlength="1000" dir="auto"></textarea>
                <div class="actions">
                    <button type="submit" class="button danger" aria-label=remove_named>{labels().decision_remove}</button>
                </div>
            </ActionForm>
        </details>
    }
}
