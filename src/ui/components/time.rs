use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// The current time, ticking every second once the page is hydrated (the server renders the
/// moment of rendering).
pub fn clock() -> ReadSignal<DateTime<Utc>> {
    let (now, set_now) = signal(Utc::now());
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || set_now.set(Utc::now()),
            std::time::Duration::from_secs(1),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_now;
    now
}

/// "2026-11-27 14:30 UTC (in 2 h 5 min)", kept current.
#[component]
pub fn When(at: DateTime<Utc>, now: ReadSignal<DateTime<Utc>>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339()>
            {crate::text::at(at)}
            <span class="muted">" (" {move || crate::text::relative(at, now.get())} ")"</span>
        </time>
    }
}
