#![recursion_limit = "256"]
//! Leasegate: just-in-time access for hybrid Microsoft estates.
//!
//! One crate, two builds: with `ssr` the server (axum, Leptos SSR, server functions, and all IO
//! under [`server`]); with `hydrate` the WebAssembly that hydrates the pages in the browser.

pub mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod text;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Asynchronous: a page split off the main module (a lazy route) is fetched before it is
    // hydrated.
    wasm_bindgen_futures::spawn_local(async {
        let body = leptos::prelude::document()
            .body()
            .expect("a page has a body");
        let owner = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        owner.forget();
        // A mark that hydration finished, for the browser tests (and anyone debugging a page).
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
