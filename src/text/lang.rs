//! Which language the words are chosen in, for the page being rendered or the server function
//! being answered.
//!
//! - On the server the HTTP layer decides once per request (the person's setting, else the
//!   language cookie, else the browser's `Accept-Language`) and puts the [`Language`] into the
//!   request's extensions; [`current`] reads it from there. Work outside a request (the engine,
//!   the notifier, which has its own per-recipient language) reads English.
//! - In the browser the page says it in `<html lang>`, which the server wrote; it is read once
//!   at start-up, so the hydrated page chooses the same words as the server's. Changing the
//!   language reloads the page.

pub use crate::domain::mail::Language;

/// The language of the current page or server function.
pub fn current() -> Language {
    #[cfg(feature = "hydrate")]
    {
        browser::current()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        server_side()
    }
}

/// `en` or `de`, for `<html lang>` and attributes.
pub fn tag() -> &'static str {
    current().as_str()
}

/// The English or the German of a message, by the current language.
pub fn pick<T>(en: T, de: T) -> T {
    match current() {
        Language::English => en,
        Language::German => de,
    }
}

#[cfg(not(feature = "hydrate"))]
fn server_side() -> Language {
    #[cfg(feature = "ssr")]
    {
        if let Some(parts) = leptos::prelude::use_context::<http::request::Parts>()
            && let Some(language) = parts.extensions.get::<Language>()
        {
            return *language;
        }
    }
    Language::English
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::Language;

    /// 0: not read yet; 1: English; 2: German.
    static CHOSEN: AtomicU8 = AtomicU8::new(0);

    pub fn current() -> Language {
        match CHOSEN.load(Ordering::Relaxed) {
            1 => Language::English,
            2 => Language::German,
            _ => {
                let language = read_document();
                CHOSEN.store(
                    match language {
                        Language::English => 1,
                        Language::German => 2,
                    },
                    Ordering::Relaxed,
                );
                language
            }
        }
    }

    fn read_document() -> Language {
        leptos::prelude::document()
            .document_element()
            .and_then(|html| html.get_attribute("lang"))
            .map(|tag| Language::from_tags(&tag))
            .unwrap_or_default()
    }
}
