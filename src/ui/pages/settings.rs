//! A person's own settings: the language of their mail, their Teams chat, and their deputy
//! while they are away.

use crate::ui::components::page_title::PageTitle;
use leptos::prelude::*;

use crate::api::me::{
    EndDelegation, MySettings, NameDeputy, SetLanguage, SetTeamsWebhook, get_settings,
};
use crate::error::AppError;
use crate::text::labels;
use crate::ui::components::field_error::{FieldError, FormError};
use crate::ui::components::notice::{ErrorNotice, SignInAgain};
use crate::ui::components::time::{Time, utc_offset};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let language = ServerAction::<SetLanguage>::new();
    let teams = ServerAction::<SetTeamsWebhook>::new();
    let deputy = ServerAction::<NameDeputy>::new();
    let end = ServerAction::<EndDelegation>::new();
    let data = Resource::new(
        move || {
            (
                language.version().get(),
                teams.version().get(),
                deputy.version().get(),
                end.version().get(),
            )
        },
        |_| get_settings(),
    );
    view! {
        <PageTitle text=labels().settings_title/>
        <h1>{labels().settings_title}</h1>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(settings) => view! { <Settings settings language teams deputy end/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

const DEPUTY_FIELDS: &[&str] = &["deputy", "starts_at", "ends_at"];

#[component]
fn Settings(
    settings: MySettings,
    language: ServerAction<SetLanguage>,
    teams: ServerAction<SetTeamsWebhook>,
    deputy: ServerAction<NameDeputy>,
    end: ServerAction<EndDelegation>,
) -> impl IntoView {
    let offset = utc_offset();
    let chosen = settings
        .language
        .unwrap_or_else(crate::text::lang::current)
        .as_str();
    let language_error = Signal::derive(move || language.value().get().and_then(|r| r.err()));
    // The pages speak the new language from the next one loaded: load this one again.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if matches!(language.value().get(), Some(Ok(()))) {
            let _ = window().location().reload();
        }
    });
    let teams_error = Signal::derive(move || teams.value().get().and_then(|r| r.err()));
    let deputy_error = Signal::derive(move || deputy.value().get().and_then(|r| r.err()));
    let deputy_done = move || deputy.value().get().and_then(|r| r.ok());
    let end_result = move || end.value().get();
    let (mine, theirs): (Vec<_>, Vec<_>) = settings.delegations.into_iter().partition(|d| d.mine);
    view! {
        <section class="card" aria-labelledby="language-title">
            <h2 id="language-title">{labels().settings_language}</h2>
            <p class="muted" id="language-hint">{labels().settings_language_hint}</p>
            <ActionForm action=language attr:class="inline-form">
                <label for="language">{labels().settings_language_label}</label>
                <select id="language" name="language" aria-describedby="language-hint language-error">
                    <option value="en" selected=chosen == "en" lang="en">"English"</option>
                    <option value="de" selected=chosen == "de" lang="de">"Deutsch"</option>
                </select>
                <button type="submit" class="button">{labels().save}</button>
            </ActionForm>
            <FieldError error=language_error field="language" id="language-error"/>
            <p role="status" hidden=move || !matches!(language.value().get(), Some(Ok(())))>{labels().saved}</p>
        </section>
        <section class="card" aria-labelledby="teams-title">
            <h2 id="teams-title">{labels().settings_teams}</h2>
            <p class="muted" id="teams-hint">{labels().settings_teams_hint}</p>
            <p>{if settings.teams_chat { labels().settings_teams_on } else { labels().settings_teams_off }}</p>
            <ActionForm action=teams attr:class="request-form">
                <label for="webhook">{labels().settings_teams_label}</label>
                <input type="url" class="wide" id="webhook" name="webhook" autocomplete="off" spellcheck="false"
                    aria-describedby="teams-hint webhook-error"/>
                <FieldError error=teams_error field="webhook" id="webhook-error"/>
                <div class="actions"><button type="submit" class="button">{labels().save}</button></div>
            </ActionForm>
            <p role="status" hidden=move || !matches!(teams.value().get(), Some(Ok(())))>{labels().saved}</p>
        </section>
        <section class="card" aria-labelledby="deputy-title">
            <h2 id="deputy-title">{labels().settings_deputy}</h2>
            <p class="muted" id="deputy-hint">{labels().settings_deputy_hint}</p>
            <div role="status" class="notice success" hidden=move || deputy_done().is_none()>
                <p>{deputy_done}</p>
            </div>
            {move || end_result().map(|result| match result {
                Ok(message) => view! { <div role="status" class="notice success"><p>{message}</p></div> }.into_any(),
                Err(e) => view! { <div role="alert" class="notice error"><p>{e.to_string()}</p></div> }.into_any(),
            })}
            <FormError error=deputy_error fields=DEPUTY_FIELDS/>
            {(!mine.is_empty()).then(|| view! {
                <ul class="plain">
                    {mine.into_iter().map(|d| view! {
                        <li>
                            {(labels().deputy_is)(&d.deputy)}" "<Time at=d.starts_at/>" – "<Time at=d.ends_at/>
                            <ActionForm action=end attr:class="inline-form">
                                <input type="hidden" name="delegation_id" value=d.id.to_string()/>
                                <button type="submit" class="button">{labels().end_delegation}</button>
                            </ActionForm>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <ActionForm action=deputy attr:class="request-form">
                <input type="hidden" name="utc_offset_minutes" prop:value=move || offset.get().to_string()/>
                <label for="deputy">{labels().deputy_label}</label>
                <input type="email" class="wide" id="deputy" name="deputy" required=true autocomplete="off"
                    spellcheck="false" aria-describedby="deputy-hint deputy-error"/>
                <FieldError error=deputy_error field="deputy" id="deputy-error"/>
                <label for="deputy-from">{labels().deputy_from}</label>
                <input type="datetime-local" id="deputy-from" name="starts_at" required=true aria-describedby="starts_at-error"/>
                <FieldError error=deputy_error field="starts_at" id="starts_at-error"/>
                <label for="deputy-until">{labels().deputy_until}</label>
                <input type="datetime-local" id="deputy-until" name="ends_at" required=true aria-describedby="ends_at-error"/>
                <FieldError error=deputy_error field="ends_at" id="ends_at-error"/>
                <div class="actions"><button type="submit" class="button primary">{labels().name_deputy}</button></div>
            </ActionForm>
            {(!theirs.is_empty()).then(|| view! {
                <h3>{labels().deputy_for_others}</h3>
                <ul class="plain">
                    {theirs.into_iter().map(|d| view! {
                        <li>{d.approver}" "<Time at=d.starts_at/>" – "<Time at=d.ends_at/></li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
