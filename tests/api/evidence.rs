//! The auditor's search of the trail and its export as evidence: what the search narrows to,
//! what it refuses, who may use it, and that an export's proof checks out with nothing but the
//! file and the public key.

use std::sync::Arc;

use base64::Engine as _;
use leasegate::api::types::address::AddressQuery as _;
use leasegate::domain::audit::AuditAction;
use leasegate::server::db::audit::{self, Actor, Subject};
use leasegate::server::jobs::checkpoints::{self, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::{World, manager_policy, request_id, world, world_with};
use crate::harness::Options;

/// Adele asks, Megan approves, the engine grants: a request with a full trail. Returns its id.
async fn one_lease(w: &World) -> String {
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    w.decide(&megan, &id, "approve").await;
    w.run_engine().await;
    id
}

/// The governance page's search, as the page sends it: every field, empty unless given.
async fn search(w: &World, who: &reqwest::Client, given: &[(&str, &str)]) -> (StatusCode, Value) {
    let form: Vec<(String, &str)> = leasegate::api::governance::EventQuery::names()
        .into_iter()
        .map(|name| {
            let value = given
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, v)| *v);
            (format!("query[{name}]"), value)
        })
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    w.call(who, "governance/events", &form).await
}

fn actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn field(body: &Value) -> &str {
    body["Invalid"]["field"].as_str().unwrap_or_default()
}

#[sqlx::test]
async fn the_trail_is_searched_by_person_access_kind_and_day(pool: PgPool) {
    let w = world(pool.clone(), manager_policy(), &[]).await;
    let id = one_lease(&w).await;
    let irvin = w.person("irvin").await;
    let name: String = sqlx::query_scalar("select name from entitlements where key = $1")
        .bind(&w.entitlement)
        .fetch_one(&pool)
        .await
        .unwrap();
    // Something else in the trail that no narrowing below should find.
    let mut conn = pool.acquire().await.unwrap();
    audit::record(
        &mut conn,
        &Actor::system("catalog"),
        AuditAction::CatalogLoaded,
        &Subject::default(),
        json!({ "origin": "test", "entitlements": 1 }),
    )
    .await
    .unwrap();

    let (status, everything) = search(&w, &irvin, &[]).await;
    assert_eq!(status, StatusCode::OK, "{everything}");
    let all = actions(&everything);
    assert_eq!(
        all.first().map(String::as_str),
        Some("catalog.loaded"),
        "newest first"
    );
    assert!(everything["older"].is_null());

    let lifecycle = [
        "grant.provisioned",
        "grant.created",
        "request.approved",
        "decision.approved",
        "request.submitted",
    ];
    let (_, by_request) = search(&w, &irvin, &[("request", &id)]).await;
    assert_eq!(actions(&by_request), lifecycle);
    // Part of the entry's name, in another case.
    let (_, by_access) = search(&w, &irvin, &[("what", &name[1..].to_uppercase())]).await;
    assert_eq!(actions(&by_access), lifecycle);
    let (_, by_kind) = search(&w, &irvin, &[("action", "grant")]).await;
    assert_eq!(actions(&by_kind), ["grant.provisioned", "grant.created"]);
    let (_, exact) = search(&w, &irvin, &[("action", "request.approved")]).await;
    assert_eq!(actions(&exact), ["request.approved"]);
    // Megan acted: her decision approved the request and made the lease. Adele asked, and the
    // rest is about her.
    let (_, megan) = search(&w, &irvin, &[("who", "megan")]).await;
    assert_eq!(
        actions(&megan),
        ["grant.created", "request.approved", "decision.approved"]
    );
    let (_, adele) = search(&w, &irvin, &[("who", "adele.vance@")]).await;
    assert!(actions(&adele).contains(&"request.submitted".to_string()));
    assert!(!actions(&adele).contains(&"catalog.loaded".to_string()));
    // A wildcard is searched for as typed, and matches nothing here.
    let (_, wildcard) = search(&w, &irvin, &[("who", "%")]).await;
    assert_eq!(actions(&wildcard), Vec::<String>::new());

    let adele_id: String = sqlx::query_scalar(
        "select id::text from principals where upn = 'adele.vance@contoso.test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (_, person) = search(&w, &irvin, &[("person", &adele_id)]).await;
    assert_eq!(person["person"], "Adele Vance");
    assert!(actions(&person).contains(&"request.submitted".to_string()));

    // The days the events fell on (UTC), read from the trail rather than the clock: a run that
    // crosses midnight would otherwise spread the events over two days.
    let (first, last): (chrono::NaiveDate, chrono::NaiveDate) = sqlx::query_as(
        "select min((occurred_at at time zone 'UTC')::date), \
                max((occurred_at at time zone 'UTC')::date) from audit_events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (_, those_days) = search(&w, &irvin, &[("from", &day(first)), ("to", &day(last))]).await;
    assert_eq!(actions(&those_days), all);
    let (_, after) = search(&w, &irvin, &[("from", &day(last.succ_opt().unwrap()))]).await;
    assert_eq!(actions(&after), Vec::<String>::new());
    let (_, before) = search(&w, &irvin, &[("to", &day(first.pred_opt().unwrap()))]).await;
    assert_eq!(actions(&before), Vec::<String>::new());

    for (form, expected) in [
        (vec![("from", "27.11.2026")], "from"),
        (vec![("from", "2026-11-27"), ("to", "2026-11-26")], "to"),
        (vec![("action", "grant.stolen")], "action"),
        (vec![("person", "adele")], "person"),
        (vec![("before", "0")], "before"),
    ] {
        let (status, body) = search(&w, &irvin, &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {body}");
        assert_eq!(field(&body), expected, "{body}");
    }
}

#[sqlx::test]
async fn the_search_pages_through_a_long_trail(pool: PgPool) {
    let w = world(pool.clone(), manager_policy(), &[]).await;
    let irvin = w.person("irvin").await;
    let mut conn = pool.acquire().await.unwrap();
    for i in 0..130 {
        audit::record(
            &mut conn,
            &Actor::system("catalog"),
            AuditAction::CatalogLoaded,
            &Subject::default(),
            json!({ "origin": format!("load {i}"), "entitlements": i }),
        )
        .await
        .unwrap();
    }
    let (_, first) = search(&w, &irvin, &[("action", "catalog")]).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 100);
    let older = first["older"].as_i64().expect("a next page");
    assert_eq!(first["events"][99]["position"].as_i64(), Some(older));
    let (_, second) = search(
        &w,
        &irvin,
        &[("action", "catalog"), ("before", &older.to_string())],
    )
    .await;
    let rest = second["events"].as_array().unwrap();
    assert_eq!(rest.len(), 30);
    assert!(rest.iter().all(|e| e["position"].as_i64().unwrap() < older));
    assert!(second["older"].is_null());
}

/// An export larger than the chunks it is streamed in (64 KiB) arrives whole, in order, as
/// valid JSON and CSV, and the count recorded in the trail is the file's.
#[sqlx::test]
async fn a_long_export_is_streamed_whole_and_counted(pool: PgPool) {
    let w = world(pool.clone(), manager_policy(), &[]).await;
    let irvin = w.person("irvin").await;
    sqlx::query(
        "insert into audit_events (actor_label, action, details)
         select 'catalog', 'catalog.loaded', jsonb_build_object('origin', 'load ' || n, 'pad', repeat('x', 300))
           from generate_series(1, 3000) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let response = export(&w, &irvin, "format=json&action=catalog").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.len() > 4 * 64 * 1024,
        "{} bytes: several chunks",
        text.len()
    );
    let document: Value = serde_json::from_str(&text).expect("the streamed file is JSON");
    let positions: Vec<i64> = document["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions.len(), 3000);
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "oldest first");
    assert_eq!(document["complete"], true);
    let recorded: Value = sqlx::query_scalar(
        "select details from audit_events where action = 'evidence.exported' order by position desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recorded["events"], 3000);

    let response = export(&w, &irvin, "format=csv&action=catalog").await;
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.unwrap();
    // The header and one line per event; the export's own event came after its snapshot.
    assert_eq!(csv.matches("\r\n").count(), 3001);
    assert!(!csv.contains("evidence.exported"));
}

#[sqlx::test]
async fn only_auditors_and_administrators_search_and_export(pool: PgPool) {
    let w = world(pool.clone(), manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let nestor = w.person("nestor").await;
    for who in [&adele, &megan] {
        assert_eq!(search(&w, who, &[]).await.0, StatusCode::FORBIDDEN);
        let response = export(&w, who, "format=json").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(search(&w, &nestor, &[]).await.0, StatusCode::OK);
    // Nobody signed in: the export and the search are refused.
    let anonymous = w.app.browser();
    let response = export(&w, &anonymous, "format=csv&who=adele").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        search(&w, &anonymous, &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A GET never writes: not even an auditor's GET of the old address exports (or records)
    // anything, so a link or an image on another page cannot make the trail grow.
    let irvin = w.person("irvin").await;
    let response = irvin
        .get(w.app.url("/governance/evidence?format=json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    // No export was made, so none is recorded.
    let exported: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'evidence.exported'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(exported, 0);
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A world whose portal signs its trail with `seed`'s key, as one with a key in its secrets
/// directory does.
async fn signing_world(pool: PgPool, seed: u8) -> (World, Arc<SigningKey>) {
    let key = Arc::new(SigningKey::from_seed(&[seed; 32]).unwrap());
    let options = Options {
        audit_key: Some(key.clone()),
        ..Options::default()
    };
    (world_with(pool, manager_policy(), &[], options).await, key)
}

/// A signing world with one request's whole trail and a checkpoint signed after it: the world,
/// its key, the request's id, the checkpoint's position, and Irvin (an auditor) signed in.
async fn signed_lease(
    pool: &PgPool,
    seed: u8,
) -> (World, Arc<SigningKey>, String, i64, reqwest::Client) {
    let (w, key) = signing_world(pool.clone(), seed).await;
    let id = one_lease(&w).await;
    let signed = checkpoints::sign_head(pool, &key).await.unwrap().unwrap();
    let irvin = w.person("irvin").await;
    (w, key, id, signed, irvin)
}

/// `POST /governance/evidence` with the form `{query}` as `who`, from the governance page.
async fn export(w: &World, who: &reqwest::Client, query: &str) -> reqwest::Response {
    w.app
        .post_same_origin(who, "/governance/evidence")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_string())
        .send()
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_export_carries_its_own_proof(pool: PgPool) {
    let (w, key, id, signed, irvin) = signed_lease(&pool, 9).await;

    // Everything, as JSON.
    let response = export(&w, &irvin, "format=json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"leasegate-evidence-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["format"], "leasegate-evidence/1");
    assert_eq!(document["complete"], true);
    assert_eq!(document["exported_by"]["upn"], "irvin.sayers@contoso.test");
    assert_eq!(document["chain"]["verified_at_export"]["intact"], true);
    let events = document["events"].as_array().unwrap();
    assert!(events.len() >= 5);

    // Each event's hash covers its canonical text after the previous hash, and the events
    // link up from the first one.
    let mut previous = sha256(b"");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["position"].as_i64(),
            Some(i as i64 + 1),
            "oldest first, none missing"
        );
        let canonical = e["canonical"].as_str().unwrap();
        let prev = e["prev_hash"].as_str().unwrap();
        assert_eq!(prev, previous, "event {i} follows the one before");
        let mut bytes = unhex(prev);
        bytes.extend_from_slice(canonical.as_bytes());
        assert_eq!(
            sha256(&bytes),
            e["hash"].as_str().unwrap(),
            "event {i}'s hash"
        );
        // The hashed text says what the event says, field by field, as written.
        let hashed: Value = serde_json::from_str(canonical).unwrap();
        let hashed = hashed.as_object().unwrap();
        assert_eq!(hashed.len(), 11, "{canonical}");
        for (name, value) in hashed {
            assert_eq!(value, &e[name], "{name} of event {i}");
        }
        previous = e["hash"].as_str().unwrap().to_string();
    }

    // The signed checkpoint: its message, its signature by the key, and the chain's hash there.
    let checkpoint = &document["chain"]["latest_checkpoint"];
    assert_eq!(checkpoint["position"].as_i64(), Some(signed));
    let message = checkpoint["signed_message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "leasegate audit checkpoint\n{signed}\n{}",
            checkpoint["hash"].as_str().unwrap()
        )
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        document["chain"]["public_key"].as_str(),
        Some(b64.encode(key.public_key()).as_str()),
        "the portal's public key travels with the file"
    );
    let signature = b64
        .decode(checkpoint["signature"].as_str().unwrap())
        .unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.public_key())
        .verify(message.as_bytes(), &signature)
        .expect("the checkpoint's signature verifies");
    assert_eq!(
        events[signed as usize - 1]["hash"],
        checkpoint["hash"],
        "the signed hash is the chain's"
    );
    // A changed event no longer matches its hash.
    let mut forged = events[0]["canonical"].as_str().unwrap().to_string();
    forged = forged.replace("request.submitted", "request.cancelled");
    let mut bytes = unhex(events[0]["prev_hash"].as_str().unwrap());
    bytes.extend_from_slice(forged.as_bytes());
    assert_ne!(sha256(&bytes), events[0]["hash"].as_str().unwrap());

    // One request's events as CSV, in German when the browser asks for German.
    let response = w
        .app
        .post_same_origin(&irvin, "/governance/evidence")
        .form(&[("format", "csv"), ("request", id.as_str())])
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("\u{feff}position,occurred_at_utc,actor,action,summary,"));
    assert_eq!(lines.len(), 6, "a header and five events:\n{csv}");
    assert!(
        lines[1].contains(",request.submitted,") && lines[1].contains("beantragt"),
        "{}",
        lines[1]
    );
    assert!(lines[5].contains(",grant.provisioned,"));

    // Both exports are in the trail, with who made them and what they held.
    let (_, exports) = search(&w, &irvin, &[("action", "evidence")]).await;
    assert_eq!(
        actions(&exports),
        ["evidence.exported", "evidence.exported"]
    );
    let recorded: Vec<Value> = sqlx::query_scalar(
        "select details from audit_events where action = 'evidence.exported' order by position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(recorded[0]["format"], "json");
    assert_eq!(recorded[0]["events"].as_u64(), Some(events.len() as u64));
    assert_eq!(recorded[0]["by"], "irvin.sayers@contoso.test");
    assert_eq!(recorded[1]["format"], "csv");
    assert_eq!(recorded[1]["search"], format!("request={id}"));
    assert_eq!(recorded[1]["events"], 5);

    // A bad format or search is refused by name, and nothing is exported or recorded.
    for (query, expected) in [
        ("format=xml", "format: "),
        ("format=csv&from=yesterday", "from: "),
    ] {
        let response = export(&w, &irvin, query).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        assert!(response.text().await.unwrap().starts_with(expected));
    }
    let count: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'evidence.exported'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(count, 2);
}

/// The first fenced block of `language` in `docs/evidence.md`.
fn documented(language: &str) -> String {
    let doc = include_str!("../../docs/evidence.md");
    let fence = format!("```{language}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("docs/evidence.md has no {language} block"))
        + fence.len();
    let length = doc[start..].find("```").expect("the block ends");
    doc[start..start + length].to_string()
}

/// Runs `program` with `args` in `dir`: whether it succeeded, and what it printed.
fn run(dir: &std::path::Path, program: &str, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (run `make setup`): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// An auditor checks the file with the recipes in `docs/evidence.md` (Python for the hashes,
/// openssl for the signature), exactly as written there, and nothing but the file: they pass on
/// a real export and fail on a changed one.
#[sqlx::test]
async fn the_documented_recipes_check_a_real_export(pool: PgPool) {
    let (w, _, _, _, irvin) = signed_lease(&pool, 7).await;
    let response = export(&w, &irvin, "format=json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let file = response.text().await.unwrap();
    let events = serde_json::from_str::<Value>(&file).unwrap()["events"]
        .as_array()
        .unwrap()
        .len();

    let dir = std::env::temp_dir().join(format!("leasegate-evidence-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("check.py"), documented("python")).unwrap();
    std::fs::write(dir.join("check.sh"), documented("sh")).unwrap();
    std::fs::write(dir.join("evidence.json"), &file).unwrap();

    let (passed, said) = run(&dir, "python3", &["check.py", "evidence.json"]);
    assert!(passed, "{said}");
    assert!(
        said.contains(&format!("{events} events match their hashes")),
        "{said}"
    );
    let (passed, said) = run(&dir, "sh", &["-e", "check.sh"]);
    assert!(passed, "{said}");
    assert!(said.contains("Signature Verified Successfully"), "{said}");
    // The portal's own command checks the same, with the public key as the auditor keeps it.
    let key = serde_json::from_str::<Value>(&file).unwrap()["chain"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let leasegate = env!("CARGO_BIN_EXE_leasegate");
    let verify = || {
        run(
            &dir,
            leasegate,
            &["audit", "verify", "evidence.json", "--key", &key],
        )
    };
    let (passed, said) = verify();
    assert!(passed, "{said}");
    assert!(
        said.contains(&format!("{events} events match their hashes")),
        "{said}"
    );
    assert!(said.contains("signed by the key you gave"), "{said}");

    // A changed event fails the Python check, which names it: a word in its hashed text, or a
    // field shown beside it that the hash covers.
    let original: Value = serde_json::from_str(&file).unwrap();
    let submitted = original["events"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["action"] == "request.submitted")
        .unwrap();
    let forge = |change: &dyn Fn(&mut Value)| {
        let mut document = original.clone();
        change(&mut document["events"][submitted]);
        std::fs::write(dir.join("evidence.json"), document.to_string()).unwrap();
        run(&dir, "python3", &["check.py", "evidence.json"])
    };
    let (passed, said) = forge(&|e| {
        let text = e["canonical"].as_str().unwrap();
        e["canonical"] = json!(text.replace("request.submitted", "request.cancelled"));
    });
    assert!(!passed, "a changed hashed text passed:\n{said}");
    assert!(said.contains("does not match its hash"), "{said}");
    let (passed, said) = verify();
    assert!(!passed, "the command passed a changed hashed text:\n{said}");
    assert!(said.contains("does not match its hash"), "{said}");
    let (passed, said) = forge(&|e| e["action"] = json!("request.cancelled"));
    assert!(!passed, "a changed action passed:\n{said}");
    assert!(
        said.contains("action differs from what was hashed"),
        "{said}"
    );

    // A checkpoint claiming another position: the signature no longer verifies.
    let mut document = original.clone();
    let checkpoint = &mut document["chain"]["latest_checkpoint"];
    let message = checkpoint["signed_message"].as_str().unwrap().to_string();
    let position = checkpoint["position"].as_i64().unwrap();
    checkpoint["signed_message"] = json!(message.replacen(
        &format!("\n{position}\n"),
        &format!("\n{}\n", position + 1),
        1
    ));
    assert_ne!(checkpoint["signed_message"], json!(message));
    std::fs::write(dir.join("evidence.json"), document.to_string()).unwrap();
    let (passed, said) = run(&dir, "sh", &["-e", "check.sh"]);
    assert!(!passed, "a changed checkpoint passed:\n{said}");
    assert!(said.contains("Signature Verification Failure"), "{said}");
    let (passed, said) = verify();
    assert!(!passed, "the command passed a changed checkpoint:\n{said}");
    assert!(
        said.contains("the checkpoint is not what was signed"),
        "{said}"
    );
    // Another key than the auditor's: a file re-signed by a forger with a key of their own.
    let (passed, said) = run(
        &dir,
        leasegate,
        &[
            "audit",
            "verify",
            "evidence.json",
            "--key",
            &base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        ],
    );
    assert!(!passed, "{said}");
    std::fs::remove_dir_all(&dir).ok();
}
