//! The language a request is answered in: the person's stored choice, else the language cookie
//! (the banner's switch), else the browser's `Accept-Language`; the switch itself, which only
//! ever sends people back to a page of the portal; and server messages in the chosen language.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use sqlx::PgPool;

use crate::harness::TestApp;
use leasegate::text::lang::Language::German;

async fn page_language(
    app: &TestApp,
    browser: &reqwest::Client,
    headers: &[(&str, &str)],
) -> (String, String) {
    let mut request = browser.get(app.url("/signed-out"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_language = response.headers()[CONTENT_LANGUAGE]
        .to_str()
        .unwrap()
        .to_string();
    let html = response.text().await.unwrap();
    let lang = html
        .split_once("<html lang=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(lang, _)| lang.to_string())
        .unwrap_or_default();
    (lang, content_language)
}

fn switch_to(language: &str, back: &str) -> Vec<(&'static str, String)> {
    vec![
        ("language", language.to_string()),
        ("back", back.to_string()),
    ]
}

#[sqlx::test]
async fn the_browser_speaks_first_and_the_switch_overrides_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let german = [(ACCEPT_LANGUAGE.as_str(), "de-DE,de;q=0.9,en;q=0.5")];
    assert_eq!(
        page_language(&app, &browser, &[]).await,
        ("en".into(), "en".into())
    );
    assert_eq!(
        page_language(&app, &browser, &german).await,
        ("de".into(), "de".into())
    );
    let page = browser
        .get(app.url("/signed-out"))
        .header(ACCEPT_LANGUAGE, "de")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sie haben sich abgemeldet"), "{page}");

    // The switch: remembered in a cookie, and back to the page it was used on.
    let response = app
        .post_same_origin(&browser, "/language")
        .form(&switch_to("de", "/request?q=sql"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/request?q=sql");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("leasegate_lang=de;"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let chosen = [
        (COOKIE.as_str(), "leasegate_lang=de"),
        (ACCEPT_LANGUAGE.as_str(), "en-US"),
    ];
    assert_eq!(page_language(&app, &browser, &chosen).await.0, "de");

    // Only ever back to the portal; nothing but en or de; only from the portal's own pages.
    for back in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "",
    ] {
        let response = app
            .post_same_origin(&browser, "/language")
            .form(&switch_to("en", back))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[LOCATION], "/", "{back:?}");
    }
    let odd = app
        .post_same_origin(&browser, "/language")
        .form(&switch_to("fr", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(odd.headers().get(SET_COOKIE).is_none());
    let forged = browser
        .post(app.url("/language"))
        .header("origin", "https://evil.example")
        .form(&switch_to("de", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get(SET_COOKIE).is_none());
}

#[sqlx::test]
async fn a_persons_choice_is_stored_and_followed_on_every_device(pool: PgPool) {
    let key = crate::seed::offered(
        &pool,
        serde_json::json!({
            "name": "Manager approval",
            "durations": { "default_minutes": 60, "max_minutes": 240 },
            "justification": { "required": true, "min_chars": 10 },
            "stages": [{ "approvers": "manager" }],
        }),
        &[],
    )
    .await;
    let (app, _) = crate::seed::ldap_portal(pool.clone(), Vec::new()).await;
    let adele = app.person("adele").await;
    let stored = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "select language from principals where upn = 'adele.vance@contoso.test'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(stored().await, None);

    // A server function answers with the problem as data, which her page puts in its language
    // (the browser suite reads the German on every page)…
    let (status, body) = app.call(&adele, "me/language", &[("language", "xx")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"]["problem"], "ChooseLanguage", "{body}");
    assert!(
        crate::harness::said(&body).contains("Choose en (English)"),
        "{body}"
    );

    // …and her choice in the banner is stored with her.
    let response = app
        .post_same_origin(&adele, "/language")
        .form(&switch_to("de", "/my-access"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored().await.as_deref(), Some("de"));
    let (status, body) = app.call(&adele, "me/language", &[("language", "xx")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crate::harness::said_in(&body, German).contains("Wählen Sie en (English)"),
        "{body}"
    );
    // A rule broken in a request is explained in German too, and so is a bad value.
    let (status, body) = app
        .request(&adele, &key, &[("form[justification]", "kurz")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crate::harness::said_in(&body, German).contains("mindestens 10 Zeichen"),
        "{body}"
    );
    let (status, body) = app
        .request(&adele, &key, &[("form[duration]", "bald")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let words = crate::harness::said_in(&body, German);
    assert!(
        words.contains("wie lange") && !words.contains("how long"),
        "{body}"
    );
    assert_eq!(
        crate::seed::count(&pool, "select count(*) from access_requests").await,
        0
    );

    // Another device, whose browser speaks English: her pages are German once she has signed
    // in, and the sign-in tells that browser her language for the pages it shows signed out.
    let other = app.browser();
    let (callback, _) = app.sign_in(&other, "adele").await;
    let cookies: Vec<String> = callback
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("leasegate_lang=de;")),
        "{cookies:?}"
    );
    let page = other
        .get(app.url("/my-access"))
        .header(ACCEPT_LANGUAGE, "en-US")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()[CONTENT_LANGUAGE], "de");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#), "{html}");
    assert!(html.contains("Meine Zugriffe"), "{html}");

    // The settings page's choice goes the same way, back to English.
    let (status, _) = app.call(&adele, "me/language", &[("language", "en")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored().await.as_deref(), Some("en"));
    let page = adele
        .get(app.url("/my-access"))
        .header(ACCEPT_LANGUAGE, "de-DE")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()[CONTENT_LANGUAGE], "en");
}
