//! The lifecycle's invariants, tested on the running code: random sequences of submit, decide,
//! cancel, give back, extend, lapse and expire go through the real services and the real
//! engine on a real database (with the in-memory directory and its scripted faults), and after
//! every step the database and the directory must agree with the promises:
//! - at most one live grant per person and entitlement;
//! - a request or grant in a final state never moves again;
//! - once everything has ended and the engine is done, every grant that ended was removed and
//!   verified, or was never added, or is flagged for a person; and nobody is left in a group
//!   without a live grant.
//!
//! Cases are drawn with proptest's generator (seed printed on failure) and run one after the
//! other on one database, each with its own people and entries.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use leasegate::api::requests::RequestForm;
use leasegate::domain::approval::Outcome;
use leasegate::server::app::auth::session::SessionUser;
use leasegate::server::app::state::AppState;
use leasegate::server::connectors::memory::{Calls, MemoryDirectory};
use leasegate::server::connectors::{ConnectorError, Connectors};
use leasegate::server::db::grants;
use leasegate::server::jobs::grants::Engine;
use leasegate::server::services::lifecycle::{self, Extension};
use leasegate::server::services::{decide, submit};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::unique;
use crate::seed;

const CONNECTOR: &str = "memory";
const CASES: u32 = 16;

#[derive(Debug, Clone)]
enum Op {
    /// Person 0 or 1 asks for entry 0 (manager approval) or 1 (none needed).
    Submit {
        person: usize,
        entry: usize,
        minutes: u32,
    },
    /// The manager decides the n-th pending request.
    Decide {
        pick: usize,
        approve: bool,
    },
    Cancel {
        pick: usize,
    },
    GiveBack {
        pick: usize,
    },
    Extend {
        pick: usize,
        minutes: u32,
    },
    /// The n-th live grant's end arrives.
    EndArrives {
        pick: usize,
    },
    /// The n-th pending request passes its deadline.
    Lapse {
        pick: usize,
    },
    /// The directory fails its next calls.
    Fault {
        calls: u32,
    },
    Engine,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize, 0..2usize, 1..200u32).prop_map(|(person, entry, minutes)| Op::Submit { person, entry, minutes }),
        3 => (0..4usize, any::<bool>()).prop_map(|(pick, approve)| Op::Decide { pick, approve }),
        1 => (0..4usize).prop_map(|pick| Op::Cancel { pick }),
        1 => (0..4usize).prop_map(|pick| Op::GiveBack { pick }),
        1 => (0..4usize, 1..100u32).prop_map(|(pick, minutes)| Op::Extend { pick, minutes }),
        2 => (0..4usize).prop_map(|pick| Op::EndArrives { pick }),
        1 => (0..4usize).prop_map(|pick| Op::Lapse { pick }),
        1 => (1..4u32).prop_map(|calls| Op::Fault { calls }),
        3 => Just(Op::Engine),
    ]
}

struct Case {
    state: AppState,
    dir: Arc<MemoryDirectory>,
    engine: Engine,
    people: Vec<SessionUser>,
    manager: SessionUser,
    entries: Vec<(Uuid, String, String)>,
}

fn user(principal: Uuid, upn: &str) -> SessionUser {
    SessionUser {
        principal_id: principal,
        display_name: upn.to_string(),
        upn: leasegate::domain::input::Upn::parse(upn).unwrap(),
        roles: Vec::new(),
        signed_in_at: Utc::now(),
        checked_at: Utc::now(),
        language: None,
    }
}

async fn case(pool: &PgPool) -> Case {
    let id = unique();
    let dir = Arc::new(MemoryDirectory::new());
    let manager_upn = format!("boss.{id}@contoso.test");
    let boss = dir.add_person(&manager_upn, "Boss", None);
    let manager = user(
        seed::principal(pool, &manager_upn, "Boss").await,
        &manager_upn,
    );
    let mut people = Vec::new();
    for n in 0..2 {
        let upn = format!("p{n}.{id}@contoso.test");
        dir.add_person(&upn, "Person", Some(&boss.reference));
        people.push(user(seed::principal(pool, &upn, "Person").await, &upn));
    }
    let rules = [
        json!({
            "name": "Manager", "durations": { "default_minutes": 60, "max_minutes": 600 },
            "justification": { "required": false }, "stages": [{ "approvers": "manager" }]
        }),
        json!({
            "name": "Auto", "durations": { "default_minutes": 60, "max_minutes": 600 },
            "justification": { "required": false }
        }),
    ];
    let mut entries = Vec::new();
    for (n, rules) in rules.into_iter().enumerate() {
        let group = format!("cn=g{n}-{id},ou=groups");
        dir.add_group(&group);
        let entitlement = seed::entitlement_with(pool, CONNECTOR, &group, rules, &[]).await;
        let key: String = sqlx::query_scalar("select key from entitlements where id = $1")
            .bind(entitlement)
            .fetch_one(pool)
            .await
            .unwrap();
        entries.push((entitlement, key, group));
    }
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, dir.clone());
    let settings = crate::seed::portal_settings();
    let leptos = leptos::config::get_configuration(None)
        .unwrap()
        .leptos_options;
    let state = leasegate::server::app::router::app_state(
        Arc::new(settings),
        pool.clone(),
        leptos,
        connectors.clone(),
    );
    let engine = Engine::new(
        pool.clone(),
        connectors,
        crate::seed::engine_settings(std::time::Duration::from_secs(30)),
    );
    Case {
        state,
        dir,
        engine,
        people,
        manager,
        entries,
    }
}

impl Case {
    fn entitlement_ids(&self) -> Vec<Uuid> {
        self.entries.iter().map(|(id, _, _)| *id).collect()
    }

    async fn ids(&self, sql: &str) -> Vec<Uuid> {
        sqlx::query_scalar(sql)
            .bind(self.entitlement_ids())
            .fetch_all(&self.state.pool)
            .await
            .unwrap()
    }

    fn pick(ids: &[Uuid], n: usize) -> Option<Uuid> {
        (!ids.is_empty()).then(|| ids[n % ids.len()])
    }

    async fn pending(&self) -> Vec<Uuid> {
        self.ids("select id from access_requests where entitlement_id = any($1) and state = 'pending' order by submitted_at")
            .await
    }

    async fn live(&self) -> Vec<Uuid> {
        self.ids("select id from grants where entitlement_id = any($1) and state in ('scheduled', 'active') order by created_at")
            .await
    }

    async fn holder(&self, grant: Uuid) -> &SessionUser {
        let principal: Uuid = sqlx::query_scalar("select principal_id from grants where id = $1")
            .bind(grant)
            .fetch_one(&self.state.pool)
            .await
            .unwrap();
        self.people
            .iter()
            .find(|p| p.principal_id == principal)
            .unwrap()
    }

    /// Runs one step. Refusals (409, 422...) are fine: the invariants are what must hold.
    async fn apply(&self, op: &Op) {
        match *op {
            Op::Submit {
                person,
                entry,
                minutes,
            } => {
                let form = RequestForm {
                    entitlement: self.entries[entry].1.clone(),
                    duration: minutes.to_string(),
                    client_token: Uuid::new_v4().to_string(),
                    ..RequestForm::default()
                };
                let submission = leasegate::api::forms::submission(&form).unwrap();
                let _ = submit::submit(&self.state, &self.people[person], submission).await;
            }
            Op::Decide { pick, approve } => {
                if let Some(id) = Self::pick(&self.pending().await, pick) {
                    let outcome = if approve {
                        Outcome::Approve
                    } else {
                        Outcome::Deny
                    };
                    let _ = decide::decide(&self.state, &self.manager, id, outcome, "").await;
                }
            }
            Op::Cancel { pick } => {
                if let Some(id) = Self::pick(&self.pending().await, pick) {
                    let requester: Uuid = sqlx::query_scalar(
                        "select requester_id from access_requests where id = $1",
                    )
                    .bind(id)
                    .fetch_one(&self.state.pool)
                    .await
                    .unwrap();
                    let who = self
                        .people
                        .iter()
                        .find(|p| p.principal_id == requester)
                        .unwrap();
                    let _ = lifecycle::cancel(&self.state, who, id).await;
                }
            }
            Op::GiveBack { pick } => {
                if let Some(id) = Self::pick(&self.live().await, pick) {
                    let _ = lifecycle::give_back(&self.state, self.holder(id).await, id).await;
                }
            }
            Op::Extend { pick, minutes } => {
                if let Some(id) = Self::pick(&self.live().await, pick) {
                    let extension = Extension {
                        grant: id,
                        minutes,
                        justification: Default::default(),
                        client_token: Uuid::new_v4(),
                    };
                    let _ = lifecycle::extend(&self.state, self.holder(id).await, extension).await;
                }
            }
            Op::EndArrives { pick } => {
                if let Some(id) = Self::pick(&self.live().await, pick) {
                    end_now(&self.state.pool, &[id]).await;
                }
            }
            Op::Lapse { pick } => {
                if let Some(id) = Self::pick(&self.pending().await, pick) {
                    sqlx::query("update access_requests set expires_at = now() - interval '1 second' where id = $1")
                        .bind(id)
                        .execute(&self.state.pool)
                        .await
                        .unwrap();
                    grants::expire_pending_requests(&self.state.pool)
                        .await
                        .unwrap();
                }
            }
            Op::Fault { calls } => {
                self.dir.fail_next(
                    Calls::Any,
                    calls,
                    ConnectorError::Transient("injected outage".into()),
                );
            }
            Op::Engine => {
                self.engine.run_once().await.unwrap();
            }
        }
    }

    /// (id, state) of everything in a final state now.
    async fn finals(&self) -> BTreeMap<Uuid, String> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "select id, state from access_requests where entitlement_id = any($1) and state <> 'pending'
             union all
             select id, state from grants where entitlement_id = any($1) and state in ('revoked', 'failed')",
        )
        .bind(self.entitlement_ids())
        .fetch_all(&self.state.pool)
        .await
        .unwrap();
        rows.into_iter().collect()
    }

    async fn check_step(&self, finals_before: &BTreeMap<Uuid, String>) -> Result<(), String> {
        let doubled: i64 = sqlx::query_scalar(
            "select count(*) from (select 1 from grants where entitlement_id = any($1)
               and state in ('scheduled', 'active') group by principal_id, entitlement_id
               having count(*) > 1) d",
        )
        .bind(self.entitlement_ids())
        .fetch_one(&self.state.pool)
        .await
        .unwrap();
        if doubled > 0 {
            return Err("two live grants for one person and entitlement".into());
        }
        let now = self.finals().await;
        for (id, state) in finals_before {
            if now.get(id) != Some(state) {
                return Err(format!(
                    "{id} left its final state {state}: now {:?}",
                    now.get(id)
                ));
            }
        }
        Ok(())
    }

    /// Ends everything, lets the engine finish, then checks every ended grant's outcome and
    /// the directory itself.
    async fn check_end(&self) -> Result<(), String> {
        let live = self.live().await;
        end_now(&self.state.pool, &live).await;
        let pending = self.pending().await;
        for id in pending {
            let _ = lifecycle::cancel(&self.state, &self.people[0], id).await;
            let _ = lifecycle::cancel(&self.state, &self.people[1], id).await;
        }
        for _ in 0..20 {
            sqlx::query("update grants set next_due_at = now() where entitlement_id = any($1) and next_due_at is not null")
                .bind(self.entitlement_ids())
                .execute(&self.state.pool)
                .await
                .unwrap();
            self.engine.run_once().await.unwrap();
        }
        let unfinished: Vec<Unfinished> = sqlx::query_as(
            "select id, state, removal, attention, verified_at is not null from grants
              where entitlement_id = any($1)
                and not (state = 'revoked' and (removal = 'verified' and verified_at is not null
                                                or removal = 'never_provisioned'))
                and not (state = 'failed')
                and not (state = 'revoking' and attention is not null and overdue_since is not null)",
        )
        .bind(self.entitlement_ids())
        .fetch_all(&self.state.pool)
        .await
        .unwrap();
        if !unfinished.is_empty() {
            return Err(format!(
                "grants that ended without a proven removal or a flag: {unfinished:?}"
            ));
        }
        for (_, _, group) in &self.entries {
            let members = self.dir.members(group);
            if !members.is_empty() {
                return Err(format!("{group} still has {members:?} with no live grant"));
            }
        }
        Ok(())
    }
}

/// A grant that ended without a proven removal: id, state, removal, attention, verified.
type Unfinished = (Uuid, String, Option<String>, Option<String>, bool);

async fn end_now(pool: &PgPool, grants: &[Uuid]) {
    sqlx::query(
        "update grants set starts_at = least(starts_at, now() - interval '2 seconds'),
                ends_at = now() - interval '1 second', next_due_at = now()
          where id = any($1) and state in ('scheduled', 'active')",
    )
    .bind(grants)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test]
async fn random_lifecycles_through_the_real_services_keep_the_promises(pool: PgPool) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(), 1..40);
    for n in 0..CASES {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let case = case(&pool).await;
        let mut result = Ok(());
        for (i, op) in ops.iter().enumerate() {
            let before = case.finals().await;
            case.apply(op).await;
            if let Err(e) = case.check_step(&before).await {
                result = Err(format!("after step {i} ({op:?}): {e}"));
                break;
            }
        }
        if result.is_ok() {
            result = case.check_end().await;
        }
        if let Err(e) = result {
            panic!("case {n} broke a promise: {e}\nsteps: {ops:#?}");
        }
    }
}

/// The database's sets of grant states (`grant_is_live`, `grant_is_held`, which the queries use)
/// are the domain's (`GrantState::LIVE`, `GrantState::HELD`), state by state.
#[sqlx::test]
async fn the_databases_sets_of_grant_states_are_the_domains(pool: PgPool) {
    use leasegate::domain::grant::GrantState;
    for state in GrantState::ALL {
        let (live, held): (bool, bool) =
            sqlx::query_as("select grant_is_live($1), grant_is_held($1)")
                .bind(state.as_str())
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(live, GrantState::LIVE.contains(state), "{state}");
        assert_eq!(held, GrantState::HELD.contains(state), "{state}");
    }
}
