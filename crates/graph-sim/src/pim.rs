//! Privileged Identity Management: active assignments of group membership or ownership (PIM
//! for Groups) and of Entra directory roles, as schedules that really end on the simulator's
//! clock. Written from `GDOCS:api-reference/v1.0/api/privilegedaccessgroup-post-assignmentschedulerequests.md`,
//! `privilegedaccessgroup-list-assignmentscheduleinstances.md`,
//! `rbacapplication-post-roleassignmentschedulerequests.md`,
//! `rbacapplication-list-roleassignmentscheduleinstances.md`, `resources/request.md`,
//! `resources/expirationpattern.md` and
//! `resources/privilegedidentitymanagement-for-groups-api-overview.md`; the error vocabulary
//! of section 3.4 of `../shared/docs/microsoft-apis.md`.
//!
//! The model: a group's membership is the truth, and a PIM schedule gives a membership its
//! end. A direct member without a schedule shows as a permanent active assignment (as after a
//! group's onboarding to PIM); removing the membership through `$ref` ends its schedule.
//! Directory roles have no other list: their schedules are the assignments.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Caller, GraphError, SimState, Simulator, empty, json_response};

const GROUP_READ: &[&str] = &[
    "PrivilegedAssignmentSchedule.Read.AzureADGroup",
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedAccess.Read.AzureADGroup",
    "PrivilegedAccess.ReadWrite.AzureADGroup",
];
const GROUP_WRITE: &[&str] = &[
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedAccess.ReadWrite.AzureADGroup",
];
const ROLE_READ: &[&str] = &[
    "RoleAssignmentSchedule.Read.Directory",
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
];
const ROLE_WRITE: &[&str] = &[
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleManagement.ReadWrite.Directory",
];

/// Built-in role templates the simulator knows (ids as Microsoft publishes them in
/// `GDOCS:.../permissions-reference`).
pub(crate) const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
];

/// What a schedule gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `access` is `member` or `owner`.
    Group { group: String, access: String },
    Role {
        role: String,
        directory_scope: String,
    },
}

/// An active assignment schedule and its one instance.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub id: String,
    pub instance_id: String,
    pub scope: Scope,
    pub principal: String,
    pub start: DateTime<Utc>,
    /// `None`: permanent.
    pub end: Option<DateTime<Utc>>,
    /// The membership has been written (after the start and the provisioning delay).
    pub live: bool,
}

type Handled = Result<Response, GraphError>;

fn pim_error(code: &str, message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, code, message)
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn lower_camel(action: &str) -> Option<&'static str> {
    const ACTIONS: &[&str] = &[
        "adminAssign",
        "adminUpdate",
        "adminRemove",
        "adminExtend",
        "adminRenew",
        "selfActivate",
        "selfDeactivate",
        "selfExtend",
        "selfRenew",
    ];
    ACTIONS
        .iter()
        .find(|a| a.eq_ignore_ascii_case(action))
        .copied()
}

impl SimState {
    /// Moves PIM along the clock: schedules whose start (and provisioning delay) has come
    /// write their membership, ended ones take it away, and a group membership removed by
    /// other means takes its schedule with it. Runs before every request.
    pub(crate) fn advance_pim(&mut self) {
        if self.schedules.is_empty() {
            return;
        }
        let now = self.now();
        let delay = Duration::milliseconds(self.config.pim_provisioning_delay_ms as i64);
        let mut schedules = std::mem::take(&mut self.schedules);
        schedules.retain_mut(|s| {
            if s.end.is_some_and(|end| end <= now) {
                if s.live {
                    self.take_membership(s);
                }
                return false;
            }
            if !s.live {
                if s.start + delay <= now {
                    s.live = true;
                    self.give_membership(s);
                }
                return true;
            }
            match &s.scope {
                Scope::Group { group, access } => self.groups.get(group).is_some_and(|g| {
                    let list = if access == "owner" {
                        &g.owners
                    } else {
                        &g.members
                    };
                    list.contains(&s.principal)
                }),
                Scope::Role { .. } => true,
            }
        });
        self.schedules = schedules;
    }

    /// The group list a group schedule writes (`members` or `owners`).
    fn holders_mut(&mut self, s: &Schedule) -> Option<&mut Vec<String>> {
        let Scope::Group { group, access } = &s.scope else {
            return None;
        };
        let g = self.groups.get_mut(group)?;
        Some(if access == "owner" {
            &mut g.owners
        } else {
            &mut g.members
        })
    }

    fn give_membership(&mut self, s: &Schedule) {
        if let Some(list) = self.holders_mut(s)
            && !list.contains(&s.principal)
        {
            list.push(s.principal.clone());
        }
    }

    fn take_membership(&mut self, s: &Schedule) {
        if let Some(list) = self.holders_mut(s) {
            list.retain(|m| *m != s.principal);
        }
    }

    /// The active assignments in `scope`'s kind, schedules and (for groups) the memberships
    /// without one, which are permanent.
    fn instances(&self, group_kind: bool) -> Vec<Schedule> {
        let mut all: Vec<Schedule> = self
            .schedules
            .iter()
            .filter(|s| matches!(s.scope, Scope::Group { .. }) == group_kind)
            .cloned()
            .collect();
        if group_kind {
            for g in self.groups.values() {
                for (access, list) in [("member", &g.members), ("owner", &g.owners)] {
                    for principal in list {
                        let scope = Scope::Group {
                            group: g.id.clone(),
                            access: access.into(),
                        };
                        if !all
                            .iter()
                            .any(|s| s.scope == scope && s.principal == *principal)
                        {
                            let key = format!("{}{access}{principal}", g.id);
                            // Stable per membership, so the same instance id each time.
                            let guid = super::stable_guid(&key);
                            all.push(Schedule {
                                id: format!("{}_{access}_{guid}", g.id),
                                instance_id: format!("{}_{access}_{guid}", g.id),
                                scope,
                                principal: principal.clone(),
                                start: g.created,
                                end: None,
                                live: true,
                            });
                        }
                    }
                }
            }
        }
        all
    }
}

/// `{"type":"afterDateTime","endDateTime":…}`, `afterDuration`, `noExpiration`,
/// `notSpecified`, any case: the end, `Ok(None)` for none.
fn expiration(info: &Value, start: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, GraphError> {
    let expiration = &info["expiration"];
    let kind = expiration["type"].as_str().unwrap_or("notSpecified");
    if kind.eq_ignore_ascii_case("afterDateTime") {
        let end = expiration["endDateTime"]
            .as_str()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .ok_or_else(|| {
                pim_error(
                    "InvalidRoleAssignmentRequest",
                    "The role assignment request is invalid.",
                )
            })?;
        Ok(Some(end.with_timezone(&Utc)))
    } else if kind.eq_ignore_ascii_case("afterDuration") {
        let duration = expiration["duration"]
            .as_str()
            .and_then(crate::duration::parse)
            .ok_or_else(|| {
                pim_error(
                    "InvalidRoleAssignmentRequest",
                    "The role assignment request is invalid.",
                )
            })?;
        Ok(Some(start + duration))
    } else if kind.eq_ignore_ascii_case("noExpiration") || kind.eq_ignore_ascii_case("notSpecified")
    {
        Ok(None)
    } else {
        Err(pim_error(
            "InvalidRoleAssignmentRequest",
            "The role assignment request is invalid.",
        ))
    }
}

fn policy_failed(rules: &[&str]) -> GraphError {
    let list: Vec<String> = rules.iter().map(|r| format!("\"{r}\"")).collect();
    pim_error(
        "RoleAssignmentRequestPolicyValidationFailed",
        &format!("The following policy rules failed: [{}]", list.join(",")),
    )
}

/// `POST /identityGovernance/privilegedAccess/group/assignmentScheduleRequests`.
pub(super) async fn group_request(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Handled {
    caller.require(GROUP_WRITE)?;
    let body = parse(&body)?;
    let access = body["accessId"].as_str().unwrap_or_default().to_lowercase();
    if access != "member" && access != "owner" {
        return Err(GraphError::bad_request(
            "accessId must be 'member' or 'owner'.",
        ));
    }
    let group = body["groupId"].as_str().unwrap_or_default().to_lowercase();
    sim.with(|s| {
        match s.groups.get(&group) {
            Some(g) if s.visible(g.created) => {
                if g.dynamic() {
                    return Err(GraphError::bad_request(
                        "PIM for Groups does not support dynamic membership groups.",
                    ));
                }
            }
            _ => return Err(GraphError::not_found(&group)),
        }
        let scope = Scope::Group {
            group: group.clone(),
            access,
        };
        let answer = request(s, &caller, &body, scope)?;
        Ok(json_response(StatusCode::CREATED, answer))
    })
}

/// `POST /roleManagement/directory/roleAssignmentScheduleRequests`.
pub(super) async fn role_request(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Handled {
    caller.require(ROLE_WRITE)?;
    let body = parse(&body)?;
    let role = body["roleDefinitionId"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    if !BUILT_IN_ROLES.iter().any(|(id, _)| *id == role) {
        return Err(pim_error(
            "RoleNotFound",
            &format!("The role definition '{role}' was not found."),
        ));
    }
    let directory_scope = match (
        body["directoryScopeId"].as_str(),
        body["appScopeId"].as_str(),
    ) {
        (Some(scope), _) => scope.to_string(),
        (None, Some(_)) => {
            return Err(GraphError::bad_request(
                "App scopes are not supported by this simulator.",
            ));
        }
        (None, None) => {
            return Err(GraphError::bad_request(
                "Either directoryScopeId or appScopeId is required.",
            ));
        }
    };
    let scope_ok = directory_scope == "/"
        || directory_scope
            .strip_prefix("/administrativeUnits/")
            .is_some_and(crate::ids::is_object_id);
    if !scope_ok {
        return Err(GraphError::bad_request(
            "The given built-in role is not supported to be assigned to a single resource scope.",
        ));
    }
    sim.with(|s| {
        let scope = Scope::Role {
            role,
            directory_scope,
        };
        let answer = request(s, &caller, &body, scope)?;
        Ok(json_response(StatusCode::CREATED, answer))
    })
}

fn parse(body: &Bytes) -> Result<Value, GraphError> {
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))
}

/// The shared engine of both request kinds: validates, applies the policy, changes the
/// schedules, and answers with the request as Graph records it.
fn request(
    s: &mut SimState,
    caller: &Caller,
    body: &Value,
    scope: Scope,
) -> Result<Value, GraphError> {
    let group_kind = matches!(scope, Scope::Group { .. });
    let action = body["action"]
        .as_str()
        .and_then(lower_camel)
        .ok_or_else(|| {
            pim_error(
                "InvalidRoleAssignmentRequest",
                "The role assignment request is invalid.",
            )
        })?;
    if action.starts_with("self") {
        return Err(pim_error(
            "InvalidRoleAssignmentRequest",
            "Self-service actions need a signed-in user; an application cannot take them.",
        ));
    }
    let principal = body["principalId"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    match s.users.get(&principal) {
        Some(u) if s.visible(u.created) => {}
        _ => {
            return Err(pim_error(
                "SubjectNotFound",
                &format!("The subject '{principal}' was not found."),
            ));
        }
    }
    let now = s.now();
    let validation_only = body["isValidationOnly"].as_bool().unwrap_or(false);
    let justification = body["justification"].as_str().map(str::to_string);
    let existing = s
        .instances(group_kind)
        .into_iter()
        .find(|i| i.scope == scope && i.principal == principal);

    let mut status = "Provisioned";
    let mut completed = Some(now);
    let mut schedule_info = Value::Null;
    let mut target_schedule: Option<String> = None;
    let request_id = uuid::Uuid::new_v4().to_string();

    match action {
        "adminAssign" | "adminUpdate" | "adminExtend" | "adminRenew" => {
            let info = &body["scheduleInfo"];
            let start = info["startDateTime"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t > now)
                .unwrap_or(now);
            let end = expiration(info, start)?;
            let mut failed = Vec::new();
            match end {
                None if !s.config.pim_allow_permanent_active => failed.push("ExpirationRule"),
                Some(end) if end - start > Duration::days(s.config.pim_max_active_days) => {
                    failed.push("ExpirationRule")
                }
                Some(end) if end <= start => failed.push("ExpirationRule"),
                _ => {}
            }
            if s.config.pim_require_justification
                && justification.as_deref().is_none_or(|j| j.trim().is_empty())
            {
                failed.push("JustificationRule");
            }
            if !failed.is_empty() {
                return Err(policy_failed(&failed));
            }
            match (action, &existing) {
                ("adminAssign", Some(_)) => {
                    return Err(pim_error(
                        "RoleAssignmentExists",
                        "The Role assignment already exists.",
                    ));
                }
                ("adminAssign", None) => {}
                (_, None) => {
                    return Err(pim_error(
                        "RoleAssignmentDoesNotExist",
                        "The Role assignment does not exist.",
                    ));
                }
                (_, Some(_)) => {}
            }
            schedule_info = json!({
                "startDateTime": iso(start),
                "recurrence": null,
                "expiration": match end {
                    Some(end) => json!({"type": "afterDateTime", "endDateTime": iso(end), "duration": null}),
                    None => json!({"type": "noExpiration", "endDateTime": null, "duration": null}),
                },
            });
            if start > now {
                status = "Granted";
                completed = Some(start);
            }
            if action == "adminAssign" && s.config.pim_approval_required {
                status = "PendingApproval";
                completed = None;
            }
            let id = match (&existing, &scope) {
                (Some(e), _) => e.id.clone(),
                (None, Scope::Group { group, access }) => {
                    format!("{group}_{access}_{}", uuid::Uuid::new_v4())
                }
                (None, Scope::Role { .. }) => request_id.clone(),
            };
            target_schedule = Some(id.clone());
            if !validation_only && status != "PendingApproval" {
                match existing {
                    Some(e) => {
                        // An update keeps the membership and moves the end.
                        s.schedules
                            .retain(|x| !(x.scope == scope && x.principal == principal));
                        s.schedules.push(Schedule { end, ..e });
                    }
                    None => s.schedules.push(Schedule {
                        id: id.clone(),
                        instance_id: instance_id(&scope, &id),
                        scope: scope.clone(),
                        principal: principal.clone(),
                        start,
                        end,
                        live: false,
                    }),
                }
                s.advance_pim();
            }
        }
        "adminRemove" => {
            let Some(existing) = existing else {
                return Err(pim_error(
                    "RoleAssignmentDoesNotExist",
                    "The Role assignment does not exist.",
                ));
            };
            let minimum = Duration::minutes(s.config.pim_minimum_active_minutes);
            if existing.live && now - existing.start < minimum {
                return Err(pim_error(
                    "ActiveDurationTooShort",
                    &format!(
                        "The Active duration is too short. Miniumum Required is {} minutes.",
                        s.config.pim_minimum_active_minutes
                    ),
                ));
            }
            status = "Revoked";
            completed = None;
            if !validation_only {
                s.schedules
                    .retain(|x| !(x.scope == scope && x.principal == principal));
                if existing.live {
                    s.take_membership(&existing);
                }
            }
        }
        _ => unreachable!("self actions are refused above"),
    }

    let mut answer = json!({
        "@odata.context": match scope {
            Scope::Group { .. } => "https://graph.microsoft.com/v1.0/$metadata#identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity",
            Scope::Role { .. } => "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignmentScheduleRequests/$entity",
        },
        "id": request_id,
        "status": status,
        "completedDateTime": completed.map(iso),
        "createdDateTime": iso(now),
        "approvalId": null,
        "customData": null,
        "createdBy": {"application": {"id": caller.app, "displayName": null}, "device": null, "user": null},
        "action": action,
        "isValidationOnly": validation_only,
        "justification": justification,
        "scheduleInfo": schedule_info,
        "ticketInfo": {
            "ticketNumber": body["ticketInfo"]["ticketNumber"],
            "ticketSystem": body["ticketInfo"]["ticketSystem"],
        },
        "principalId": principal,
        "targetScheduleId": target_schedule,
    });
    match &scope {
        Scope::Group { group, access } => {
            answer["accessId"] = json!(access);
            answer["groupId"] = json!(group);
        }
        Scope::Role {
            role,
            directory_scope,
        } => {
            answer["roleDefinitionId"] = json!(role);
            answer["directoryScopeId"] = json!(directory_scope);
            answer["appScopeId"] = Value::Null;
        }
    }
    if !validation_only {
        s.pim_requests.insert(request_id, answer.clone());
    }
    Ok(answer)
}

/// Group instance ids are `{groupId}_{accessId}_{guid}`; role instance ids are not GUIDs.
fn instance_id(scope: &Scope, schedule: &str) -> String {
    match scope {
        Scope::Group { .. } => schedule.to_string(),
        Scope::Role { .. } => {
            use base64::Engine as _;
            let raw = uuid::Uuid::new_v4();
            format!(
                "{}-1",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                    [raw.as_bytes().as_slice(), schedule.as_bytes()]
                        .concat()
                        .get(..32)
                        .unwrap_or_default()
                )
            )
        }
    }
}

/// The `eq` clauses of a `$filter` joined by `and`: `groupId eq '…' and principalId eq '…'`.
fn filter_clauses(filter: &str) -> Result<Vec<(String, String)>, GraphError> {
    filter
        .split(" and ")
        .map(|clause| {
            let (field, value) = clause.trim().split_once(" eq ").ok_or_else(|| {
                GraphError::bad_request(format!("Invalid filter clause: {clause}"))
            })?;
            let value = value
                .trim()
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| {
                    GraphError::bad_request(format!("Invalid filter clause: {clause}"))
                })?;
            Ok((field.trim().to_string(), value.to_lowercase()))
        })
        .collect()
}

fn instance_json(i: &Schedule) -> Value {
    let mut value = json!({
        "id": i.instance_id,
        "principalId": i.principal,
        "startDateTime": i.end.map(|_| iso(i.start)),
        "endDateTime": i.end.map(iso),
        "assignmentType": "Assigned",
        "memberType": "Direct",
    });
    match &i.scope {
        Scope::Group { group, access } => {
            value["accessId"] = json!(access);
            value["groupId"] = json!(group);
            value["assignmentScheduleId"] = json!(i.id);
        }
        Scope::Role {
            role,
            directory_scope,
        } => {
            value["roleDefinitionId"] = json!(role);
            value["directoryScopeId"] = json!(directory_scope);
            value["appScopeId"] = Value::Null;
            value["roleAssignmentOriginId"] = json!(i.id);
            value["roleAssignmentScheduleId"] = json!(i.id);
        }
    }
    value
}

/// A list's `$filter` clauses, checked as Graph checks them: group lists require one on
/// `groupId` or `principalId`; only the fields `known` may be filtered on.
fn list_filter(
    params: &std::collections::HashMap<String, String>,
    group_kind: bool,
    known: &[&str],
) -> Result<Vec<(String, String)>, GraphError> {
    let required = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "A filter on groupId or principalId is required.",
        )
    };
    let clauses = match params.get("$filter") {
        Some(f) => filter_clauses(f)?,
        None if group_kind => return Err(required()),
        None => Vec::new(),
    };
    if let Some((field, _)) = clauses.iter().find(|(f, _)| !known.contains(&f.as_str())) {
        return Err(GraphError::bad_request(format!(
            "Filtering on '{field}' is not supported."
        )));
    }
    if group_kind
        && !clauses
            .iter()
            .any(|(f, _)| f == "groupId" || f == "principalId")
    {
        return Err(required());
    }
    Ok(clauses)
}

/// Whether `item` has every clause's value (case-insensitive).
fn matches(item: &Value, clauses: &[(String, String)]) -> bool {
    clauses.iter().all(|(field, value)| {
        item[field.as_str()]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(value))
    })
}

/// `GET …/group/assignmentScheduleInstances` (a `$filter` on `groupId` or `principalId` is
/// required) and `GET /roleManagement/directory/roleAssignmentScheduleInstances`.
pub(super) async fn instances(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Handled {
    let group_kind = uri.path().contains("/privilegedAccess/group/");
    caller.require(if group_kind { GROUP_READ } else { ROLE_READ })?;
    let params = super::directory::params(&query);
    let known = if group_kind {
        ["groupId", "principalId", "accessId"].as_slice()
    } else {
        ["principalId", "roleDefinitionId", "directoryScopeId"].as_slice()
    };
    let clauses = list_filter(&params, group_kind, known)?;
    let items: Vec<Value> = sim.with(|s| {
        s.instances(group_kind)
            .iter()
            .filter(|i| i.live)
            .map(instance_json)
            .filter(|v| matches(v, &clauses))
            .collect()
    });
    super::directory::page(
        &sim,
        items,
        &params,
        &headers,
        uri.path().trim_start_matches("/v1.0"),
    )
}

/// `GET …/group/assignmentScheduleRequests` (a `$filter` on `groupId` or `principalId` is
/// required) and `GET /roleManagement/directory/roleAssignmentScheduleRequests`: every request
/// made, by anyone, oldest first, as `POST` answered it (`status` and `createdBy` included).
pub(super) async fn list_requests(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Handled {
    let group_kind = uri.path().contains("/privilegedAccess/group/");
    caller.require(if group_kind { GROUP_READ } else { ROLE_READ })?;
    let params = super::directory::params(&query);
    let known = if group_kind {
        ["groupId", "principalId", "accessId", "action", "status"].as_slice()
    } else {
        [
            "principalId",
            "roleDefinitionId",
            "directoryScopeId",
            "action",
            "status",
        ]
        .as_slice()
    };
    let clauses = list_filter(&params, group_kind, known)?;
    let mut items: Vec<Value> = sim.with(|s| {
        s.pim_requests
            .values()
            .filter(|r| r.get("groupId").is_some() == group_kind)
            .filter(|r| matches(r, &clauses))
            .map(|r| {
                let mut r = r.clone();
                if let Some(o) = r.as_object_mut() {
                    o.remove("@odata.context");
                }
                r
            })
            .collect()
    });
    items.sort_by(|a, b| {
        (a["createdDateTime"].as_str(), a["id"].as_str())
            .cmp(&(b["createdDateTime"].as_str(), b["id"].as_str()))
    });
    super::directory::page(
        &sim,
        items,
        &params,
        &headers,
        uri.path().trim_start_matches("/v1.0"),
    )
}

/// `GET …/assignmentScheduleRequests/{id}` and `…/roleAssignmentScheduleRequests/{id}`.
pub(super) async fn get_request(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Handled {
    let group_kind = uri.path().contains("/privilegedAccess/group/");
    caller.require(if group_kind { GROUP_READ } else { ROLE_READ })?;
    sim.with(|s| match s.pim_requests.get(&id.to_lowercase()) {
        Some(r) => Ok(json_response(StatusCode::OK, r.clone())),
        None => Err(GraphError::not_found(&id)),
    })
}

/// `POST …/{id}/cancel`: 204 for a request still `Granted` or `PendingApproval`; others 400
/// (UNVERIFIED code).
pub(super) async fn cancel(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((id, action)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Handled {
    if action != "cancel" {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{action}'."
        )));
    }
    let group_kind = uri.path().contains("/privilegedAccess/group/");
    caller.require(if group_kind { GROUP_WRITE } else { ROLE_WRITE })?;
    sim.with(|s| {
        let request = s
            .pim_requests
            .get_mut(&id.to_lowercase())
            .ok_or_else(|| GraphError::not_found(&id))?;
        let status = request["status"].as_str().unwrap_or_default().to_string();
        if status != "Granted" && status != "PendingApproval" {
            return Err(pim_error(
                "InvalidRoleAssignmentRequest",
                &format!("A request in status {status} cannot be canceled."),
            ));
        }
        request["status"] = json!("Canceled");
        let schedule = request["targetScheduleId"].as_str().map(str::to_string);
        if let Some(schedule) = schedule {
            s.schedules.retain(|x| x.live || x.id != schedule);
        }
        Ok(empty(StatusCode::NO_CONTENT))
    })
}

/// `GET /roleManagement/directory/roleDefinitions/{id}`.
pub(super) async fn role_definition(
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Handled {
    caller.require(ROLE_READ)?;
    let id = id.to_lowercase();
    match BUILT_IN_ROLES.iter().find(|(r, _)| *r == id) {
        Some((id, name)) => Ok(json_response(
            StatusCode::OK,
            json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleDefinitions/$entity",
                "id": id, "templateId": id, "displayName": name, "isBuiltIn": true, "isEnabled": true,
            }),
        )),
        None => Err(GraphError::not_found(&id)),
    }
}

/// The schedules for `/__sim__/state`.
pub(crate) fn state_json(s: &SimState) -> Value {
    json!(
        s.schedules
            .iter()
            .map(|i| {
                let mut v = instance_json(i);
                v["scheduleId"] = json!(i.id);
                v["live"] = json!(i.live);
                v["startDateTime"] = json!(iso(i.start));
                v
            })
            .collect::<Vec<_>>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expirations_in_any_case() {
        let start = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let after = json!({"expiration": {"type": "AfterDuration", "duration": "PT2H"}});
        assert_eq!(
            expiration(&after, start).unwrap(),
            Some(start + Duration::hours(2))
        );
        let at =
            json!({"expiration": {"type": "afterDateTime", "endDateTime": "2026-11-28T11:00:00Z"}});
        assert_eq!(
            expiration(&at, start).unwrap(),
            Some(start + Duration::hours(1))
        );
        let never = json!({"expiration": {"type": "NoExpiration"}});
        assert_eq!(expiration(&never, start).unwrap(), None);
        assert!(expiration(&json!({"expiration": {"type": "weekly"}}), start).is_err());
        assert_eq!(lower_camel("AdminAssign"), Some("adminAssign"));
        assert_eq!(lower_camel("adminremove"), Some("adminRemove"));
        assert_eq!(lower_camel("delete"), None);
    }

    #[test]
    fn filters_are_eq_clauses() {
        assert_eq!(
            filter_clauses("groupId eq 'G' and principalId eq 'p'").unwrap(),
            vec![
                ("groupId".to_string(), "g".to_string()),
                ("principalId".to_string(), "p".to_string())
            ]
        );
        assert!(filter_clauses("startswith(groupId,'a')").is_err());
    }
}
