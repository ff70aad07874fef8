//! Onboarding external people: a sponsor asks for a temporary identity with an end date and a
//! bundle. The request is decided like any other (the inbox, the policy of `[contractors]`,
//! where `manager` is the sponsor's manager and `owners` the bundle's); once approved the
//! worker in `server::jobs::contractors` makes the identity and grants the bundle.

use crate::domain::contractor::ContractorState;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::api::types::contractors::{BundleChoice, ContractorView, ContractorsPage, Onboarded};
use crate::domain::approval::ResolvedStage;
use crate::domain::audit::AuditAction;
use crate::domain::policy::{ApproverSource, Policy, RequesterFacts, eligible_approvers};
use crate::domain::problem::{Notice, Problem};
use crate::domain::violation::Violation;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::catalog::ContractorSpec;
use crate::server::connectors::Connector;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::requests::{NewRequest, Snapshot};
use crate::server::db::{catalog, contractors, requests};

pub async fn page(state: &AppState, caller: &SessionUser) -> Result<ContractorsPage, AppError> {
    let mut conn = state.pool.acquire().await?;
    let spec = catalog::contractor_settings(&mut conn).await?;
    let mut bundles = Vec::new();
    if let Some(spec) = &spec {
        for key in &spec.bundles {
            if let Some(entry) = catalog::by_key(&mut conn, key).await? {
                bundles.push(BundleChoice {
                    key: entry.key,
                    name: entry.name,
                });
            }
        }
    }
    drop(conn);
    let remind = TimeDelta::days(i64::from(spec.as_ref().map_or(14, |s| s.remind_days)));
    let now = Utc::now();
    let listed = contractors::of_sponsor(&state.pool, caller.principal_id).await?;
    Ok(ContractorsPage {
        offered: spec.is_some(),
        max_days: spec.as_ref().map_or(0, |s| s.max_days),
        ad_accounts: spec.as_ref().is_some_and(|s| s.ad.is_some()),
        bundles,
        client_token: Uuid::new_v4().to_string(),
        contractors: listed
            .into_iter()
            .map(|c| ContractorView {
                id: c.id,
                person_id: c.principal_id,
                standing: crate::text::contractor_standing(c.state).to_string(),
                active: c.state == ContractorState::Active,
                ending_soon: c.state == ContractorState::Active && c.ends_at - now <= remind,
                display_name: c.display_name,
                email: c.email,
                company: c.company,
                bundle: c.bundle,
                request_id: c.request_id,
                ends_at: c.ends_at,
                redeem_url: c.redeem_url,
                // Whose account blocks a stopped onboarding is for administrators to see,
                // not for the sponsor.
                problem: if c.state == ContractorState::Stopped {
                    Some(crate::text::contractor_stopped().to_string())
                } else {
                    c.last_error
                },
                delete_after: c.delete_after,
                extension_token: Uuid::new_v4().to_string(),
            })
            .collect(),
    })
}

/// An onboarding as the service takes it, checked for shape at the edge (`api::forms`).
#[derive(Debug, Clone)]
pub struct NewContractor {
    pub display_name: String,
    /// Lower-cased.
    pub email: String,
    pub company: String,
    pub ends_at: chrono::DateTime<Utc>,
    pub bundle: String,
    pub justification: String,
    pub client_token: Uuid,
}

/// More time for a contractor, as the service takes it.
#[derive(Debug, Clone)]
pub struct ContractorExtension {
    pub contractor: Uuid,
    pub ends_at: chrono::DateTime<Utc>,
    pub justification: String,
    pub client_token: Uuid,
}

pub async fn onboard(
    state: &AppState,
    caller: &SessionUser,
    form: NewContractor,
) -> Result<Onboarded, AppError> {
    let mut conn = state.pool.acquire().await?;
    // A replayed form finds its first request.
    if let Some((request, _)) =
        requests::by_client_token(&mut conn, caller.principal_id, form.client_token).await?
        && let Some(found) = contractors::of_request(&mut conn, request).await?
    {
        return Ok(Onboarded {
            contractor_id: found.id,
            request_id: request,
            done: Notice::ContractorSubmitted,
        });
    }
    let spec = catalog::contractor_settings(&mut conn)
        .await?
        .ok_or(AppError::Conflict(Problem::ContractorsNotSetUp))?;
    if !contractors::is_employee(&mut conn, caller.principal_id).await? {
        return Err(AppError::Forbidden);
    }
    if !spec.bundles.contains(&form.bundle) {
        return Err(AppError::invalid("bundle", Problem::ChooseContractorBundle));
    }
    let bundle = catalog::by_key(&mut conn, &form.bundle)
        .await?
        .filter(|b| b.is_bundle())
        .ok_or_else(|| AppError::invalid("bundle", Problem::BundleNotOffered))?;
    let policy = policy_of(&mut conn, &spec).await?;
    drop(conn);
    let now = Utc::now();
    let ends_at = form.ends_at;
    if ends_at <= now + TimeDelta::minutes(2) {
        return Err(AppError::invalid("ends_at", Problem::EndNotFuture));
    }
    within_max(&spec, ends_at, now)?;
    if let Some(v) = policy
        .check_texts(&form.justification, "")
        .into_iter()
        .next()
    {
        return Err(v.into());
    }
    // The directory: the address must not be someone's of this organisation already.
    let entra = entra(state, &spec)?;
    let identities = entra.identities().expect("checked by `entra`");
    if let Some(known) = identities
        .user_by_mail(&form.email)
        .await
        .map_err(|e| AppError::from_system(&spec.entra, e))?
        && known.user_type.eq_ignore_ascii_case("member")
    {
        return Err(AppError::invalid(
            "email",
            Problem::EmailOfMember {
                email: form.email.clone(),
                upn: known.upn,
            },
        ));
    }
    let stages = stages(state, &spec, &policy, &bundle.owners, caller, &form.email).await?;
    let snapshot = Snapshot {
        policy: policy.clone(),
        stages,
    };
    let named = if form.company.is_empty() {
        form.display_name.clone()
    } else {
        format!("{} ({})", form.display_name, form.company)
    };

    let mut tx = state.pool.begin().await?;
    requests::lock_form(&mut tx, caller.principal_id, form.client_token).await?;
    if let Some((request, _)) =
        requests::by_client_token(&mut tx, caller.principal_id, form.client_token).await?
        && let Some(found) = contractors::of_request(&mut tx, request).await?
    {
        return Ok(Onboarded {
            contractor_id: found.id,
            request_id: request,
            done: Notice::ContractorSubmitted,
        });
    }
    let principal =
        contractors::insert_principal(&mut tx, &form.email, &named, caller.principal_id).await?;
    let asked = Asked {
        beneficiary: principal,
        bundle: bundle.id,
        bundle_key: &bundle.key,
        email: &form.email,
        now,
        ends_at,
        justification: &form.justification,
        snapshot: &snapshot,
        client_token: form.client_token,
    };
    let request = requests::insert(&mut tx, &asked.request(caller))
        .await?
        .ok_or(AppError::Conflict(Problem::AlreadySent))?;
    let id = contractors::insert(
        &mut tx,
        &contractors::NewContractor {
            principal,
            sponsor: caller.principal_id,
            display_name: &named,
            email: &form.email,
            company: &form.company,
            bundle: bundle.id,
            request,
            ends_at,
            decide_by: policy.pending_deadline(now),
        },
    )
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("contractors_one_live") => {
            AppError::invalid(
                "email",
                Problem::ContractorExists {
                    email: form.email.clone(),
                },
            )
        }
        _ => e.into(),
    })?;
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    let subject = Subject {
        request: Some(request),
        entitlement: Some(bundle.id),
        principal: Some(principal),
        grant: None,
    };
    asked.record(&mut tx, caller, request, id).await?;
    audit::record(
        &mut tx,
        &actor,
        AuditAction::ContractorRequested,
        &subject,
        json!({
            "name": named, "email": form.email, "ends_at": ends_at, "bundle": bundle.name,
            "sponsor": caller.upn, "contractor": id,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Onboarded {
        contractor_id: id,
        request_id: request,
        done: Notice::ContractorSubmitted,
    })
}

/// An end no later than `max_days` from now (extensions included).
fn within_max(
    spec: &ContractorSpec,
    ends_at: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
) -> Result<(), AppError> {
    if ends_at > now + TimeDelta::days(i64::from(spec.max_days)) {
        return Err(AppError::invalid(
            "ends_at",
            Problem::ContractorTooLong {
                max_days: spec.max_days,
            },
        ));
    }
    Ok(())
}

/// The policy contractors are approved under.
async fn policy_of(
    conn: &mut sqlx::PgConnection,
    spec: &ContractorSpec,
) -> Result<Policy, AppError> {
    let rules = catalog::policy_rules(conn, &spec.policy)
        .await?
        .ok_or(AppError::Conflict(Problem::ContractorPolicyMissing))?;
    serde_json::from_value(rules).map_err(|e| AppError::Internal {
        reference: crate::error::reference_for(&format!("contractor policy: {e}")),
    })
}

fn entra(
    state: &AppState,
    spec: &ContractorSpec,
) -> Result<std::sync::Arc<dyn Connector>, AppError> {
    state
        .connectors
        .get(&spec.entra)
        .filter(|c| c.identities().is_some())
        .ok_or_else(|| AppError::Unavailable {
            reference: crate::error::reference_for(&format!(
                "the contractors' connector `{}` is not a configured graph connector",
                spec.entra
            )),
        })
}

/// Who decides each stage: `manager` is the sponsor's manager (the people sync's), `owners`
/// the bundle's owners, `users` the people named; never the sponsor.
async fn stages(
    state: &AppState,
    spec: &ContractorSpec,
    policy: &Policy,
    owners: &[String],
    caller: &SessionUser,
    email: &str,
) -> Result<Vec<ResolvedStage>, AppError> {
    let synced = crate::server::db::people::synced(&state.pool, caller.principal_id).await?;
    let facts = RequesterFacts {
        department: synced.as_ref().and_then(|s| s.department.clone()),
        groups: match &policy.eligible {
            crate::domain::policy::Eligibility::Group(_) => {
                let graph = entra(state, spec)?;
                let connector = graph.as_ref();
                match connector
                    .find_account(caller.upn.as_str())
                    .await
                    .map_err(|e| AppError::from_system(&spec.entra, e))?
                {
                    Some(account) => connector
                        .groups_of(&account.reference)
                        .await
                        .map_err(|e| AppError::from_system(&spec.entra, e))?,
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        },
    };
    if !policy.eligible.admits(&facts) {
        return Err(Violation::NotEligible.into());
    }
    let mut stages = Vec::new();
    for (index, stage) in policy.stages.iter().enumerate() {
        let candidates: Vec<String> = match &stage.approvers {
            ApproverSource::Manager => synced
                .as_ref()
                .and_then(|s| s.manager_upn())
                .into_iter()
                .collect(),
            ApproverSource::Owners => owners.to_vec(),
            ApproverSource::Users(users) => users.clone(),
            ApproverSource::Group(_) => Vec::new(),
        };
        let approvers =
            eligible_approvers(index as u32, stage, &candidates, caller.upn.as_str(), email)?;
        stages.push(ResolvedStage::new(approvers, stage.required));
    }
    Ok(stages)
}

/// A new first password for the AD account of a contractor the caller sponsors.
pub async fn issue_password(
    state: &AppState,
    caller: &SessionUser,
    contractor: Uuid,
) -> Result<String, AppError> {
    let mut conn = state.pool.acquire().await?;
    let spec = catalog::contractor_settings(&mut conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(ad) = spec.ad.clone() else {
        return Err(AppError::Conflict(Problem::NoAdAccounts));
    };
    let found = contractors::sponsored(&mut conn, contractor)
        .await?
        .ok_or(AppError::NotFound)?;
    if found.sponsor_id != caller.principal_id {
        return Err(AppError::Forbidden);
    }
    if found.state != ContractorState::Active {
        return Err(AppError::Conflict(Problem::PasswordOnlyActive));
    }
    let account = contractors::accounts(&mut conn, found.principal_id)
        .await?
        .into_iter()
        .find(|(name, _)| *name == ad)
        .map(|(_, id)| id)
        .ok_or(AppError::Conflict(Problem::AccountNotMade))?;
    drop(conn);
    let connector = state
        .connectors
        .get(&ad)
        .ok_or_else(|| AppError::Unavailable {
            reference: crate::error::reference_for(&format!("connector `{ad}` is not configured")),
        })?;
    let identities = connector
        .identities()
        .ok_or(AppError::Conflict(Problem::DirectoryMakesNoAccounts))?;
    let password = identities
        .issue_password(&account)
        .await
        .map_err(|e| AppError::from_system(&ad, e))?
        .ok_or(AppError::Conflict(Problem::DirectoryIssuesNoPasswords))?;
    let mut conn = state.pool.acquire().await?;
    audit::record(
        &mut conn,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::ContractorPasswordIssued,
        &Subject {
            principal: Some(found.principal_id),
            ..Subject::default()
        },
        json!({ "connector": ad, "contractor": contractor }),
    )
    .await?;
    Ok(password)
}

/// Asks for more time for a contractor the caller sponsors: a request for their bundle until
/// the new end, decided like the first; once approved their leases and their identity last
/// until then (`decide`, then the worker tells AD the new `accountExpires`).
pub async fn extend(
    state: &AppState,
    caller: &SessionUser,
    asked: ContractorExtension,
) -> Result<Onboarded, AppError> {
    let ContractorExtension {
        contractor: id,
        ends_at,
        justification,
        client_token,
    } = asked;
    let mut conn = state.pool.acquire().await?;
    let found = contractors::for_extension(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if found.sponsor_id != caller.principal_id {
        return Err(AppError::Forbidden);
    }
    if let Some((request, _)) =
        requests::by_client_token(&mut conn, caller.principal_id, client_token).await?
    {
        return Ok(Onboarded {
            contractor_id: id,
            request_id: request,
            done: Notice::ContractorExtensionSubmitted,
        });
    }
    if found.state != ContractorState::Active {
        return Err(AppError::Conflict(Problem::ExtendOnlyActive));
    }
    let spec = catalog::contractor_settings(&mut conn)
        .await?
        .ok_or(AppError::Conflict(Problem::ContractorsNoLonger))?;
    let bundle = catalog::by_key(&mut conn, &found.bundle_key)
        .await?
        .ok_or(AppError::Conflict(Problem::TheirBundleGone))?;
    let policy = policy_of(&mut conn, &spec).await?;
    drop(conn);
    let now = Utc::now();
    if ends_at <= found.ends_at {
        return Err(AppError::invalid("ends_at", Problem::EndNotLater));
    }
    within_max(&spec, ends_at, now)?;
    if let Some(v) = policy.check_texts(&justification, "").into_iter().next() {
        return Err(v.into());
    }
    let stages = stages(state, &spec, &policy, &bundle.owners, caller, &found.email).await?;
    let snapshot = Snapshot {
        policy: policy.clone(),
        stages,
    };
    let mut tx = state.pool.begin().await?;
    requests::lock_form(&mut tx, caller.principal_id, client_token).await?;
    let asked = Asked {
        beneficiary: found.principal_id,
        bundle: found.bundle_id,
        bundle_key: &found.bundle_key,
        email: &found.email,
        now,
        ends_at,
        justification: &justification,
        snapshot: &snapshot,
        client_token,
    };
    let request = requests::insert(&mut tx, &asked.request(caller))
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some("access_requests_one_pending") => {
                AppError::Conflict(Problem::ExtensionWaiting)
            }
            _ => e.into(),
        })?
        .ok_or(AppError::Conflict(Problem::AlreadySent))?;
    asked.record(&mut tx, caller, request, id).await?;
    tx.commit().await?;
    Ok(Onboarded {
        contractor_id: id,
        request_id: request,
        done: Notice::ContractorExtensionSubmitted,
    })
}

/// A request for a contractor's identity with its bundle, or for more time: its request row
/// and its `request.submitted` event, the same for both.
struct Asked<'a> {
    beneficiary: Uuid,
    bundle: Uuid,
    bundle_key: &'a str,
    email: &'a str,
    now: chrono::DateTime<Utc>,
    ends_at: chrono::DateTime<Utc>,
    justification: &'a str,
    snapshot: &'a Snapshot,
    client_token: Uuid,
}

impl Asked<'_> {
    fn request(&self, caller: &SessionUser) -> NewRequest<'_> {
        NewRequest {
            requester: caller.principal_id,
            beneficiary: self.beneficiary,
            entitlement: self.bundle,
            starts_at: self.now,
            ends_at: self.ends_at,
            start_on_approval: false,
            requested_minutes: None,
            justification: self.justification,
            ticket: None,
            snapshot: self.snapshot,
            expires_at: self.snapshot.policy.pending_deadline(self.now),
            extends_grant: None,
            client_token: self.client_token,
            hints: &[],
            source_address: None,
        }
    }

    async fn record(
        &self,
        conn: &mut sqlx::PgConnection,
        caller: &SessionUser,
        request: Uuid,
        contractor: Uuid,
    ) -> Result<(), sqlx::Error> {
        audit::record(
            conn,
            &Actor::person(caller.principal_id, &caller.display_name),
            AuditAction::RequestSubmitted,
            &Subject {
                request: Some(request),
                entitlement: Some(self.bundle),
                principal: Some(self.beneficiary),
                grant: None,
            },
            json!({
                "entitlement": self.bundle_key, "for": self.email,
                "starts_at": self.now, "ends_at": self.ends_at,
                "justification": self.justification, "ticket": "",
                "approvers": self.snapshot.stages, "contractor": contractor,
            }),
        )
        .await
    }
}
