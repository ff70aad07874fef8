use leptos::prelude::*;

use crate::api::url_escape;
use crate::text::labels;
use crate::ui::components::page_title::PageTitle;
use leptos_router::components::Form;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::catalog::list_catalog;
use crate::error::AppError;
use crate::ui::components::kind_icon::KindIcon;
use crate::ui::components::notice::{ErrorNotice, SignInAgain};

/// The catalog: search as you type (or submit the search without JavaScript), then pick.
#[component]
pub fn RequestAccessPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let items = Resource::new(q, list_catalog);
    let navigate = use_navigate();
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let encoded: String = url_escape(&value);
        navigate(
            &format!("/request?q={encoded}"),
            leptos_router::NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    view! {
        <PageTitle text=labels().nav_request/>
        <h1>{labels().nav_request}</h1>
        <Form method="GET" action="/request" attr:class="search" attr:role="search">
            <label for="catalog-search">{labels().catalog_search}</label>
            <input
                id="catalog-search"
                type="search"
                name="q"
                maxlength="200"
                prop:value=q
                placeholder=labels().catalog_search_hint
                on:input=on_input
            />
            <button type="submit" class="button">{labels().search}</button>
        </Form>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().catalog_loading}</p> }>
            {move || Suspend::new(async move {
                match items.await {
                    Ok(items) if items.is_empty() => view! {
                        <div class="card notice">
                            <p>{labels().catalog_empty}</p>
                        </div>
                    }.into_any(),
                    Ok(items) => view! {
                        <ul class="catalog" aria-label=labels().catalog>
                            {items.into_iter().map(|item| view! {
                                <li class="card catalog-item">
                                    <h2>
                                        <KindIcon kind=item.access.kind()/>
                                        <a href=format!("/request/{}", item.key) translate="no">{item.name.clone()}</a>
                                    </h2>
                                    <p dir="auto">{item.description.clone()}</p>
                                    <p class="muted">
                                        {format!("{} · ", crate::text::access_label(&item.access))}
                                        <span translate="no">{item.system.clone()}</span>
                                        {format!(" · {} · {}", (labels().up_to)(&crate::text::minutes(item.max_minutes)), item.approval)}
                                    </p>
                                    <p class="tags">
                                        {item.tags.iter().map(|t| view! { <span class="tag" translate="no">{t.clone()}</span> }).collect_view()}
                                    </p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
