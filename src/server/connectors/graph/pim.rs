//! Privileged Identity Management through Graph: time-bound active assignments of group
//! membership or ownership (PIM for Groups) and of Entra directory roles. Each lease becomes an
//! `adminAssign` whose schedule ends at the lease's end, so Entra removes the access itself
//! even while the portal is down; the engine still removes it on time (`adminRemove`) and
//! reads it back from the schedule instances (and, for groups, the membership itself).
//!
//! PIM's writes are not idempotent (`RoleAssignmentExists`, `RoleAssignmentDoesNotExist`) and
//! a 201 is not proof of access (its `status` is): both are reconciled by reading the
//! instances. `ActiveDurationTooShort` (no removal within five minutes of the start) is
//! handled: a group membership is then removed through `$ref`, which PIM allows; a role waits
//! until Entra allows it, and the engine is told when.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ATTEMPTS, FILTERED_LOOKUPS, GraphTenant, PAGE, Written, backoff, refusal, relation_of, segment,
};
use crate::domain::access::GroupRole;
use crate::server::connectors::{ConnectorError, Lease, OutsideChange, Receipt};

/// Entra refuses to end an assignment sooner than this after it began.
const MINIMUM_ACTIVE: chrono::Duration = chrono::Duration::minutes(5);
/// PIM records a justification of at most this many characters (UNVERIFIED; Entra's portal
/// limits it to 500).
const JUSTIFICATION_LIMIT: usize = 500;

/// What a PIM assignment gives: a group role, or a directory role in a scope.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pim<'a> {
    Group { group: &'a str, role: GroupRole },
    Role { role: &'a str, scope: &'a str },
}

impl Pim<'_> {
    fn requests(&self) -> &'static str {
        match self {
            Pim::Group { .. } => {
                "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests"
            }
            Pim::Role { .. } => "/roleManagement/directory/roleAssignmentScheduleRequests",
        }
    }

    fn instances(&self) -> &'static str {
        match self {
            Pim::Group { .. } => {
                "/identityGovernance/privilegedAccess/group/assignmentScheduleInstances"
            }
            Pim::Role { .. } => "/roleManagement/directory/roleAssignmentScheduleInstances",
        }
    }

    /// The request body's fields that name the assignment.
    fn body(&self, action: &str, principal: &str) -> Value {
        match self {
            Pim::Group { group, role } => json!({
                "action": action, "principalId": principal, "groupId": group,
                "accessId": role.as_str(),
            }),
            Pim::Role { role, scope } => json!({
                "action": action, "principalId": principal, "roleDefinitionId": role,
                "directoryScopeId": scope,
            }),
        }
    }

    /// A `$filter` for this assignment's instances: of one principal, or of the whole group or
    /// role when many are asked about.
    fn filter(&self, principal: Option<&str>) -> String {
        match (self, principal) {
            (_, Some(p)) => format!("principalId eq '{p}'"),
            (Pim::Group { group, .. }, None) => format!("groupId eq '{group}'"),
            (Pim::Role { role, .. }, None) => format!("roleDefinitionId eq '{role}'"),
        }
    }

    fn matches(&self, instance: &Value) -> bool {
        let same = |field: &str, value: &str| {
            instance[field]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        };
        match self {
            Pim::Group { group, role } => same("groupId", group) && same("accessId", role.as_str()),
            Pim::Role { role, scope } => {
                same("roleDefinitionId", role) && same("directoryScopeId", scope)
            }
        }
    }

    fn what(&self) -> String {
        match self {
            Pim::Group { group, role } => format!("{} of group {group}", role.as_str()),
            Pim::Role { role, scope } => format!("role {role} in scope {scope}"),
        }
    }
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn end_of(instance: &Value) -> Option<DateTime<Utc>> {
    instance["endDateTime"]
        .as_str()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .map(|e| e.with_timezone(&Utc))
}

fn start_of(instance: &Value) -> Option<DateTime<Utc>> {
    instance["startDateTime"]
        .as_str()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .map(|e| e.with_timezone(&Utc))
}

/// Whether an instance ends when the lease does (Entra keeps milliseconds; allow a second).
fn ends_with(instance: &Value, lease: &Lease) -> bool {
    end_of(instance).is_some_and(|end| (end - lease.ends_at).num_milliseconds().abs() < 1000)
}

fn justification(lease: &Lease) -> String {
    let reason = lease.reason.trim();
    let reason = if reason.is_empty() {
        "Leasegate lease"
    } else {
        reason
    };
    reason.chars().take(JUSTIFICATION_LIMIT).collect()
}

impl GraphTenant {
    /// One `adminAssign` per lease, its schedule ending with the lease.
    pub(super) async fn grant_pim(
        &self,
        pim: Pim<'_>,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        let mut receipts = Vec::with_capacity(leases.len());
        for lease in leases {
            receipts.push(self.assign(pim, lease).await?);
        }
        Ok(receipts)
    }

    async fn assign(&self, pim: Pim<'_>, lease: &Lease) -> Result<Receipt, ConnectorError> {
        let url = self.url(pim.requests());
        let mut body = pim.body("adminAssign", &lease.account);
        body["justification"] = json!(justification(lease));
        body["scheduleInfo"] = schedule(lease);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write(Method::POST, &url, Some(&body), 1).await? {
                Written::Done(answer) => return self.accepted(pim, lease, &answer.body).await,
                Written::Refused(answer) if answer.code() == "RoleAssignmentExists" => {
                    // Ours after a lost answer, or one made elsewhere: either way it must end
                    // with this lease.
                    return self.retell(pim, lease).await;
                }
                Written::Refused(answer) => return Err(refusal(&answer)),
                Written::Uncertain(detail) => {
                    if let Some(instance) = self.pim_instance(pim, &lease.account).await?
                        && ends_with(&instance, lease)
                    {
                        return Ok(receipt_of_instance(lease, &instance, "Provisioned"));
                    }
                    if attempt >= ATTEMPTS {
                        return Err(ConnectorError::Transient(detail));
                    }
                    tracing::debug!(connector = %self.name, %detail, "PIM assignment uncertain; again");
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    /// Makes an existing assignment end with `lease` (after an extension, or one that existed
    /// before): `adminUpdate` with the lease's end, unless it already ends then.
    pub(super) async fn retell(
        &self,
        pim: Pim<'_>,
        lease: &Lease,
    ) -> Result<Receipt, ConnectorError> {
        if let Some(instance) = self.pim_instance(pim, &lease.account).await?
            && ends_with(&instance, lease)
        {
            return Ok(receipt_of_instance(lease, &instance, "AlreadyAssigned"));
        }
        let url = self.url(pim.requests());
        let mut body = pim.body("adminUpdate", &lease.account);
        body["justification"] = json!(justification(lease));
        body["scheduleInfo"] = schedule(lease);
        match self.write(Method::POST, &url, Some(&body), 1).await? {
            Written::Done(answer) => self.accepted(pim, lease, &answer.body).await,
            // It ended meanwhile, or the answer was lost: the engine comes back and assigns.
            Written::Refused(answer) if answer.code() == "RoleAssignmentDoesNotExist" => {
                Err(ConnectorError::Transient(format!(
                    "the PIM assignment ({}) ended while its end was being moved; assigning again",
                    pim.what()
                )))
            }
            Written::Refused(answer) => Err(refusal(&answer)),
            Written::Uncertain(detail) => Err(ConnectorError::Transient(detail)),
        }
    }

    /// A 201 is not proof of access: its `status` is.
    async fn accepted(
        &self,
        pim: Pim<'_>,
        lease: &Lease,
        request: &Value,
    ) -> Result<Receipt, ConnectorError> {
        let status = request["status"].as_str().unwrap_or_default();
        match status {
            "Provisioned"
            | "Granted"
            | "ScheduleCreated"
            | "PendingProvisioning"
            | "PendingScheduleCreation" => Ok(Receipt {
                account: lease.account.clone(),
                detail: json!({
                    "pim_request_id": request["id"],
                    "pim_schedule_id": request["targetScheduleId"],
                    "pim_status": status,
                    "pim_ends_at": request["scheduleInfo"]["expiration"]["endDateTime"],
                }),
            }),
            "PendingApproval" | "PendingAdminDecision" => {
                // Leasegate's approval is the approval: withdraw the one Entra waits for.
                if let Some(id) = request["id"].as_str() {
                    let url = self.url(&format!("{}/{}/cancel", pim.requests(), segment(id)));
                    if let Err(e) = self.write(Method::POST, &url, None, 1).await {
                        tracing::warn!(connector = %self.name, error = %e, "could not cancel a PIM request waiting for approval");
                    }
                }
                Err(ConnectorError::Permanent(format!(
                    "PIM's policy for the {} requires approval in Entra (request {} was {status}); \
                     Leasegate approves leases itself, so turn approval off for assignments in \
                     that PIM policy",
                    pim.what(),
                    request["id"].as_str().unwrap_or("?")
                )))
            }
            other => Err(ConnectorError::Permanent(format!(
                "PIM answered the assignment of the {} with status {other} (request {})",
                pim.what(),
                request["id"].as_str().unwrap_or("?")
            ))),
        }
    }

    /// Ends each account's assignment: `adminRemove`; "does not exist" is done. A removal too
    /// soon after the start is handled (see the module's comment). The group's membership is
    /// then read and any that is left removed through `$ref`.
    pub(super) async fn revoke_pim(
        &self,
        pim: Pim<'_>,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        let url = self.url(pim.requests());
        let mut too_soon: Vec<String> = Vec::new();
        for account in accounts {
            let body = pim.body("adminRemove", account);
            match self.write(Method::POST, &url, Some(&body), 1).await? {
                Written::Done(answer) => {
                    let status = answer.body["status"].as_str().unwrap_or_default();
                    if status != "Revoked" {
                        tracing::warn!(connector = %self.name, %status, "PIM removal answered an unexpected status; the read-back decides");
                    }
                }
                Written::Refused(answer) if answer.code() == "RoleAssignmentDoesNotExist" => {}
                Written::Refused(answer) if answer.code() == "ActiveDurationTooShort" => {
                    too_soon.push(account.clone());
                }
                Written::Refused(answer) => return Err(refusal(&answer)),
                // The read-back below (and the engine's) decides.
                Written::Uncertain(detail) => {
                    tracing::debug!(connector = %self.name, %detail, "PIM removal uncertain");
                }
            }
        }
        match pim {
            Pim::Group { group, role } => {
                // Too soon for PIM, or a membership outside PIM: the membership itself goes.
                let Some(holders) = self.relation(group, relation_of(role)).await? else {
                    return Err(ConnectorError::Permanent(format!(
                        "Entra group {group} does not exist"
                    )));
                };
                let left: Vec<String> = accounts
                    .iter()
                    .filter(|a| holders.contains(&a.to_lowercase()))
                    .cloned()
                    .collect();
                if left.is_empty() {
                    return Ok(());
                }
                match role {
                    GroupRole::Member => self.remove_members(group, &left).await,
                    GroupRole::Owner => self.remove_owners(group, &left).await,
                }
            }
            Pim::Role { .. } if too_soon.is_empty() => Ok(()),
            Pim::Role { .. } => {
                // Entra allows the removal five minutes after the start: come back then.
                let instances = self.pim_instances(pim, &too_soon).await?;
                let allowed = instances
                    .values()
                    .filter_map(start_of)
                    .map(|start| start + MINIMUM_ACTIVE)
                    .max()
                    .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(1));
                let wait = (allowed - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                Err(ConnectorError::Throttled {
                    retry_after: wait,
                    detail: format!(
                        "Entra refuses to end the {} within 5 minutes of its start \
                         (ActiveDurationTooShort); removing it at {}",
                        pim.what(),
                        iso(allowed)
                    ),
                })
            }
        }
    }

    /// Which of `accounts` still hold the assignment: an active instance, or (for groups) the
    /// membership itself.
    pub(super) async fn holding_pim(
        &self,
        pim: Pim<'_>,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        let instances = self.pim_instances(pim, accounts).await?;
        let holders: HashSet<String> = match pim {
            Pim::Group { group, role } => self
                .relation(group, relation_of(role))
                .await?
                .ok_or_else(|| {
                    ConnectorError::Permanent(format!("Entra group {group} does not exist"))
                })?,
            Pim::Role { .. } => HashSet::new(),
        };
        Ok(accounts
            .iter()
            .filter(|a| {
                let a = a.to_lowercase();
                instances.contains_key(&a) || holders.contains(&a)
            })
            .cloned()
            .collect())
    }

    /// Everyone who holds the assignment now, whoever gave it: the principals of its active
    /// instances (one listing of the group's or role's instances) and, for a group, its
    /// members or owners as the group lists them.
    pub(super) async fn pim_holders(&self, pim: Pim<'_>) -> Result<Vec<String>, ConnectorError> {
        let url = self.url(&format!(
            "{}?$filter={}&$top={PAGE}",
            pim.instances(),
            segment(&pim.filter(None))
        ));
        let mut holders: HashSet<String> = self
            .read_all(&url)
            .await?
            .iter()
            .filter(|instance| pim.matches(instance))
            .filter_map(|instance| instance["principalId"].as_str().map(str::to_lowercase))
            .collect();
        if let Pim::Group { group, role } = pim {
            holders.extend(
                self.relation(group, relation_of(role))
                    .await?
                    .ok_or_else(|| {
                        ConnectorError::Permanent(format!("Entra group {group} does not exist"))
                    })?,
            );
        }
        Ok(holders.into_iter().collect())
    }

    /// The assignment's requests made since `since` by anyone but this portal (another
    /// application, or a person in the Entra admin center), oldest first: one listing of the
    /// group's or role's requests. Validation-only requests changed nothing and are left out.
    pub(super) async fn pim_outside_changes(
        &self,
        pim: Pim<'_>,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutsideChange>, ConnectorError> {
        let url = self.url(&format!(
            "{}?$filter={}&$top={PAGE}",
            pim.requests(),
            segment(&pim.filter(None))
        ));
        let own = self.settings.client_id.as_str();
        let mut changes: Vec<OutsideChange> = self
            .read_all(&url)
            .await?
            .iter()
            .filter(|request| pim.matches(request))
            .filter(|request| !request["isValidationOnly"].as_bool().unwrap_or(false))
            .filter_map(|request| outside_change(request, own))
            .filter(|change| change.at >= since)
            .collect();
        changes.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(changes)
    }

    /// The active instance of `principal`'s assignment, if any.
    async fn pim_instance(
        &self,
        pim: Pim<'_>,
        principal: &str,
    ) -> Result<Option<Value>, ConnectorError> {
        Ok(self
            .pim_instances(pim, &[principal.to_string()])
            .await?
            .remove(&principal.to_lowercase()))
    }

    /// The active instances of the assignment, by lower-cased principal id: a few principals
    /// by a `$filter` each, many by listing the group's or role's instances once.
    async fn pim_instances(
        &self,
        pim: Pim<'_>,
        principals: &[String],
    ) -> Result<HashMap<String, Value>, ConnectorError> {
        let filters: Vec<String> = if principals.len() > FILTERED_LOOKUPS {
            vec![pim.filter(None)]
        } else {
            principals.iter().map(|p| pim.filter(Some(p))).collect()
        };
        let wanted: HashSet<String> = principals.iter().map(|p| p.to_lowercase()).collect();
        let mut found = HashMap::new();
        for filter in filters {
            let url = self.url(&format!(
                "{}?$filter={}&$top={PAGE}",
                pim.instances(),
                segment(&filter)
            ));
            for instance in self.read_all(&url).await? {
                if !pim.matches(&instance) {
                    continue;
                }
                if let Some(p) = instance["principalId"].as_str().map(str::to_lowercase)
                    && wanted.contains(&p)
                {
                    found.insert(p, instance);
                }
            }
        }
        Ok(found)
    }

    /// Removes owners one by one (`DELETE /groups/{id}/owners/{id}/$ref`); one already gone
    /// is done.
    pub(super) async fn remove_owners(
        &self,
        group: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        for account in accounts {
            let url = self.url(&format!(
                "/groups/{}/owners/{}/$ref",
                segment(group),
                segment(account)
            ));
            match self.write(Method::DELETE, &url, None, 1).await? {
                Written::Done(_) => {}
                Written::Refused(answer) if answer.not_found() => {}
                Written::Refused(answer) => return Err(refusal(&answer)),
                Written::Uncertain(detail) => return Err(ConnectorError::Transient(detail)),
            }
        }
        Ok(())
    }
}

/// `scheduleInfo` for a lease: from now until its end.
/// A request as a change made outside the portal; `None` for the portal's own (made by its
/// application, `own`) and for a record missing what a change needs.
fn outside_change(request: &Value, own: &str) -> Option<OutsideChange> {
    let by = &request["createdBy"];
    let made_by = match (by["user"]["id"].as_str(), by["application"]["id"].as_str()) {
        (Some(user), _) => format!("user {user}"),
        (None, Some(app)) if app.eq_ignore_ascii_case(own) => return None,
        (None, Some(app)) => format!("application {app}"),
        (None, None) => "unknown".to_string(),
    };
    let at = |field: &Value| {
        field
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let info = &request["scheduleInfo"];
    let starts_at = at(&info["startDateTime"]);
    let ends_at = at(&info["expiration"]["endDateTime"]).or_else(|| {
        let duration = info["expiration"]["duration"].as_str()?;
        Some(starts_at? + duration_of(duration)?)
    });
    Some(OutsideChange {
        id: request["id"].as_str()?.to_lowercase(),
        at: at(&request["createdDateTime"])?,
        account: request["principalId"].as_str()?.to_lowercase(),
        action: request["action"].as_str().unwrap_or_default().to_string(),
        status: request["status"].as_str().unwrap_or_default().to_string(),
        made_by,
        justification: request["justification"]
            .as_str()
            .filter(|j| !j.trim().is_empty())
            .map(str::to_string),
        starts_at,
        ends_at,
    })
}

/// An ISO 8601 duration as PIM writes one (`PT8H`, `P1DT2H30M`, `PT90.5S`); weeks, months and
/// years, which PIM does not use, are refused.
fn duration_of(text: &str) -> Option<chrono::Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut total = chrono::Duration::zero();
    if !days.is_empty() {
        total += chrono::Duration::days(days.strip_suffix('D')?.parse().ok()?);
    }
    let mut number = String::new();
    for c in time.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = std::mem::take(&mut number).parse().ok()?;
        let unit = match c {
            'H' => 3600.0,
            'M' => 60.0,
            'S' => 1.0,
            _ => return None,
        };
        total += chrono::Duration::milliseconds((value * unit * 1000.0).round() as i64);
    }
    (number.is_empty() && (rest != "T") && !rest.is_empty()).then_some(total)
}

fn schedule(lease: &Lease) -> Value {
    json!({
        "startDateTime": iso(Utc::now().max(lease.starts_at)),
        "expiration": {"type": "afterDateTime", "endDateTime": iso(lease.ends_at)},
    })
}

fn receipt_of_instance(lease: &Lease, instance: &Value, status: &str) -> Receipt {
    Receipt {
        account: lease.account.clone(),
        detail: json!({
            "pim_schedule_id": instance
                .get("assignmentScheduleId")
                .or_else(|| instance.get("roleAssignmentScheduleId"))
                .cloned()
                .unwrap_or(Value::Null),
            "pim_instance_id": instance["id"],
            "pim_status": status,
            "pim_ends_at": instance["endDateTime"],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(end: &str) -> Lease {
        Lease {
            account: "a".into(),
            starts_at: Utc::now(),
            ends_at: DateTime::parse_from_rfc3339(end)
                .unwrap()
                .with_timezone(&Utc),
            reason: "  ".into(),
            source: None,
        }
    }

    #[test]
    fn an_instance_ends_with_a_lease_to_the_second() {
        let l = lease("2026-11-28T12:00:00Z");
        assert!(ends_with(
            &json!({"endDateTime": "2026-11-28T12:00:00.400Z"}),
            &l
        ));
        assert!(!ends_with(
            &json!({"endDateTime": "2026-11-28T12:00:05Z"}),
            &l
        ));
        assert!(
            !ends_with(&json!({"endDateTime": null}), &l),
            "permanent is not ours"
        );
        assert_eq!(justification(&l), "Leasegate lease");
    }

    #[test]
    fn durations_read_as_pim_writes_them() {
        let d = |t| duration_of(t).map(|d| d.num_milliseconds());
        assert_eq!(d("PT8H"), Some(8 * 3_600_000));
        assert_eq!(d("P1DT2H30M"), Some(26 * 3_600_000 + 30 * 60_000));
        assert_eq!(d("PT90.5S"), Some(90_500));
        assert_eq!(d("P2D"), Some(2 * 86_400_000));
        for bad in ["", "P", "PT", "8H", "PT8X", "P1W", "PT8"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn requests_made_by_others_are_outside_changes() {
        let request = |by: Value| {
            json!({
                "id": "ABC", "createdDateTime": "2026-12-05T10:00:00.000Z",
                "principalId": "P1", "action": "adminAssign", "status": "Provisioned",
                "justification": " ", "createdBy": by,
                "scheduleInfo": {"startDateTime": "2026-12-05T10:00:00.000Z",
                                 "expiration": {"type": "afterDuration", "duration": "PT2H"}},
            })
        };
        assert_eq!(
            outside_change(&request(json!({"application": {"id": "Portal"}})), "portal"),
            None,
            "the portal's own request"
        );
        let change = outside_change(
            &request(json!({"application": null, "user": {"id": "u-9"}})),
            "portal",
        )
        .unwrap();
        assert_eq!((change.id.as_str(), change.account.as_str()), ("abc", "p1"));
        assert_eq!(change.made_by, "user u-9");
        assert_eq!(change.justification, None);
        assert_eq!(
            change.ends_at.unwrap() - change.starts_at.unwrap(),
            chrono::Duration::hours(2)
        );
        let other = outside_change(&request(json!({"application": {"id": "script"}})), "portal");
        assert_eq!(other.unwrap().made_by, "application script");
    }

    #[test]
    fn filters_name_one_principal_or_the_whole_target() {
        let pim = Pim::Role {
            role: "r",
            scope: "/",
        };
        assert_eq!(pim.filter(Some("p")), "principalId eq 'p'");
        assert_eq!(pim.filter(None), "roleDefinitionId eq 'r'");
        assert!(pim.matches(&json!({"roleDefinitionId": "R", "directoryScopeId": "/"})));
        assert!(!pim.matches(
            &json!({"roleDefinitionId": "r", "directoryScopeId": "/administrativeUnits/x"})
        ));
    }
}
