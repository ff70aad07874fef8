use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

use crate::ui::layout::Layout;
use crate::ui::pages::{
    admin::AdminPage,
    approvals::{ApprovalsPage, DecisionPage},
    contractors::ContractorsPage,
    entitlement::EntitlementPage,
    governance::GovernancePage,
    home::HomePage,
    my_access::MyAccessPage,
    not_found::NotFoundPage,
    people::{PeoplePage, PersonPage},
    request_access::RequestAccessPage,
    settings::SettingsPage,
    signed_out::SignedOutPage,
    trail::TrailPage,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang=crate::text::lang::tag()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/leasegate.css"/>
        // Pages render once their data is ready (SsrMode::Async), so the server can answer with the
        // right status (403, 404) and the first paint is complete.
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFoundPage/> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("request") view=RequestAccessPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("request"), ParamSegment("key")) view=EntitlementPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("my-access") view=MyAccessPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("approvals") view=ApprovalsPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("approvals"), ParamSegment("id")) view=DecisionPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("contractors") view=ContractorsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("governance") view=GovernancePage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("requests"), ParamSegment("id")) view=TrailPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("people")) view=PeoplePage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("people"), ParamSegment("id")) view=PersonPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("settings") view=SettingsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signed-out") view=SignedOutPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}
