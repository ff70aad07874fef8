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

/// True once the page runs in the browser. The server (and hydration's first pass) render UTC;
/// afterwards times switch to the person's own zone.
fn in_browser() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| set_hydrated.set(true));
    #[cfg(not(feature = "hydrate"))]
    let _ = set_hydrated;
    hydrated
}

/// The browser's offset from UTC at instant `t`, in minutes east (daylight saving included).
pub fn local_offset_minutes(t: DateTime<Utc>) -> i32 {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(t.timestamp_millis() as f64));
        -(date.get_timezone_offset() as i32)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = t;
        0
    }
}

/// An instant in the person's zone once hydrated ("2026-11-27 15:30 (UTC+01:00)"), UTC before.
#[component]
pub fn Time(at: DateTime<Utc>) -> impl IntoView {
    let browser = in_browser();
    let text = move || {
        let offset = if browser.get() {
            local_offset_minutes(at)
        } else {
            0
        };
        crate::text::at_offset(at, offset)
    };
    view! { <time datetime=at.to_rfc3339()>{text}</time> }
}

/// "2026-11-27 14:30 UTC (in 2 h 5 min)", kept current.
#[component]
pub fn When(at: DateTime<Utc>, now: ReadSignal<DateTime<Utc>>) -> impl IntoView {
    view! {
        <Time at/>
        <span class="muted">" (" {move || crate::text::relative(at, now.get())} ")"</span>
    }
}

/// The browser's offset from UTC in minutes (east positive), read once the page is live; 0 on
/// the server and before hydration. Forms send it with local times.
pub fn utc_offset() -> ReadSignal<i32> {
    let (offset, set_offset) = signal(0);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        set_offset.set(-(js_sys::Date::new_0().get_timezone_offset() as i32));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = set_offset;
    offset
}
