//! PIM for Groups and Entra roles through the simulator (matrix 6 and 7 of
//! `../shared/docs/microsoft-apis.md` §11.5): assignments that carry the lease's end, PIM's
//! non-idempotent writes reconciled, its refusals handled, and schedules that end by themselves.

use chrono::{TimeDelta, Utc};
use leasegate::domain::access::{Access, GroupRole};
use leasegate::server::connectors::{Connector, ConnectorError, Lease};
use serde_json::{Value, json};

use super::{Sim, group_and_people, writes};

const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

fn member() -> Access {
    Access::PimGroup {
        role: GroupRole::Member,
    }
}

fn role() -> Access {
    Access::EntraRole {
        directory_scope: "/".into(),
    }
}

fn lease_until(account: &str, ends_in: TimeDelta) -> Lease {
    Lease {
        account: account.to_string(),
        starts_at: Utc::now(),
        ends_at: Utc::now() + ends_in,
        reason: "PIM contract test".into(),
        source: None,
    }
}

/// The simulator's PIM schedules.
async fn schedules(sim: &Sim) -> Vec<Value> {
    sim.state().await["pim"].as_array().unwrap().clone()
}

fn ends(schedule: &Value) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(schedule["endDateTime"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn close(a: chrono::DateTime<Utc>, b: chrono::DateTime<Utc>) -> bool {
    (a - b).num_milliseconds().abs() < 1000
}

/// An assignment carries the lease's end; a second grant of the same lease changes nothing
/// (PIM's `RoleAssignmentExists` read back), an extension moves the schedule's end
/// (`adminUpdate`), removal is `adminRemove` and a second removal is done.
#[tokio::test]
async fn a_pim_group_assignment_follows_the_lease() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 2).await;
    let graph = sim.connector();
    let lease = lease_until(&people[0], TimeDelta::hours(1));

    let receipts = graph
        .grant(&member(), &group, std::slice::from_ref(&lease))
        .await
        .unwrap();
    let receipt = &receipts[0].detail;
    assert_eq!(receipt["pim_status"], "Provisioned", "{receipt}");
    assert!(receipt["pim_request_id"].is_string(), "{receipt}");
    let all = schedules(&sim).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["accessId"], "member");
    assert!(close(ends(&all[0]), lease.ends_at), "{all:?}");
    assert_eq!(sim.members(&group).await, vec![people[0].clone()]);
    assert_eq!(
        graph.holding(&member(), &group, &people).await.unwrap(),
        vec![people[0].clone()]
    );

    // The same lease again (a retry after a lost answer): read back, nothing changed.
    sim.clear_log().await;
    let again = graph
        .grant(&member(), &group, std::slice::from_ref(&lease))
        .await
        .unwrap();
    assert_eq!(again[0].detail["pim_status"], "AlreadyAssigned");
    let log = writes(&sim.log().await);
    assert_eq!(log.len(), 1, "one refused adminAssign, no update: {log:?}");
    assert_eq!(log[0].2, 400);

    // Extended: the schedule's end moves, still one schedule.
    let longer = lease_until(&people[0], TimeDelta::hours(3));
    graph
        .grant(&member(), &group, std::slice::from_ref(&longer))
        .await
        .unwrap();
    let all = schedules(&sim).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(close(ends(&all[0]), longer.ends_at), "{all:?}");

    // Past PIM's five minutes: removed by adminRemove, twice is fine.
    sim.advance(6 * 60).await;
    for _ in 0..2 {
        graph
            .revoke(&member(), &group, std::slice::from_ref(&people[0]))
            .await
            .unwrap();
    }
    assert!(sim.members(&group).await.is_empty());
    assert!(schedules(&sim).await.is_empty());
    assert!(
        graph
            .holding(&member(), &group, &people)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A removal within five minutes of the start is refused by PIM (`ActiveDurationTooShort`):
/// a group membership is then removed through `$ref` at once; a role waits until Entra allows
/// it, and the engine is told when.
#[tokio::test]
async fn a_removal_too_soon_after_the_start_is_handled() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 1).await;
    let graph = sim.connector();
    let lease = lease_until(&people[0], TimeDelta::hours(1));
    graph
        .grant(&member(), &group, std::slice::from_ref(&lease))
        .await
        .unwrap();
    sim.clear_log().await;
    graph
        .revoke(&member(), &group, std::slice::from_ref(&people[0]))
        .await
        .unwrap();
    let log = writes(&sim.log().await);
    assert_eq!(log[0].2, 400, "PIM refused: {log:?}");
    assert!(
        log.iter()
            .any(|(m, p, s)| m == "DELETE" && p.ends_with("/$ref") && *s == 204),
        "then the membership went through $ref: {log:?}"
    );
    assert!(sim.members(&group).await.is_empty());
    assert!(
        graph
            .holding(&member(), &group, &people)
            .await
            .unwrap()
            .is_empty()
    );

    graph
        .grant(&role(), HELPDESK, std::slice::from_ref(&lease))
        .await
        .unwrap();
    match graph
        .revoke(&role(), HELPDESK, std::slice::from_ref(&people[0]))
        .await
    {
        Err(ConnectorError::Throttled {
            retry_after,
            detail,
        }) => {
            assert!(
                retry_after.as_secs() > 240 && retry_after.as_secs() <= 300,
                "{retry_after:?}"
            );
            assert!(detail.contains("ActiveDurationTooShort"), "{detail}");
        }
        other => panic!("expected to be told when to come back, got {other:?}"),
    }
    assert_eq!(
        graph.holding(&role(), HELPDESK, &people).await.unwrap(),
        people
    );
    sim.advance(5 * 60 + 1).await;
    graph
        .revoke(&role(), HELPDESK, std::slice::from_ref(&people[0]))
        .await
        .unwrap();
    assert!(
        graph
            .holding(&role(), HELPDESK, &people)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Entra ends the access itself at the schedule's end, with the portal doing nothing.
#[tokio::test]
async fn schedules_end_by_themselves() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 2).await;
    let graph = sim.connector();
    let lease = lease_until(&people[0], TimeDelta::minutes(10));
    let other = lease_until(&people[1], TimeDelta::minutes(10));
    graph
        .grant(&member(), &group, std::slice::from_ref(&lease))
        .await
        .unwrap();
    let receipts = graph
        .grant(&role(), HELPDESK, std::slice::from_ref(&other))
        .await
        .unwrap();
    assert!(receipts[0].detail["pim_schedule_id"].is_string());
    assert_eq!(
        graph
            .holding(&role(), HELPDESK, &people)
            .await
            .unwrap()
            .len(),
        1
    );
    // Role instance ids are not GUIDs: the connector never parses them.
    let instances = schedules(&sim).await;
    let role_instance = instances
        .iter()
        .find(|s| s["roleDefinitionId"] == HELPDESK)
        .unwrap();
    assert!(uuid::Uuid::parse_str(role_instance["id"].as_str().unwrap()).is_err());
    assert_eq!(role_instance["directoryScopeId"], "/");

    sim.advance(11 * 60).await;
    assert!(
        sim.members(&group).await.is_empty(),
        "PIM removed the member"
    );
    assert!(
        graph
            .holding(&member(), &group, &people)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        graph
            .holding(&role(), HELPDESK, &people)
            .await
            .unwrap()
            .is_empty()
    );
}

/// PIM's policy: an assignment longer than it allows is refused for good with the rule named;
/// one that waits for approval in Entra is withdrawn and refused, since Leasegate approves.
#[tokio::test]
async fn pim_policy_refusals_are_reported() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 1).await;
    let graph = sim.connector();
    sim.config(json!({ "pim_max_active_days": 1 })).await;
    match graph
        .grant(
            &member(),
            &group,
            &[lease_until(&people[0], TimeDelta::days(2))],
        )
        .await
    {
        Err(ConnectorError::Permanent(detail)) => {
            assert!(detail.contains("ExpirationRule"), "{detail}")
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    sim.config(json!({ "pim_approval_required": true })).await;
    sim.clear_log().await;
    match graph
        .grant(
            &member(),
            &group,
            &[lease_until(&people[0], TimeDelta::hours(1))],
        )
        .await
    {
        Err(ConnectorError::Permanent(detail)) => {
            assert!(detail.contains("requires approval"), "{detail}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let log = writes(&sim.log().await);
    assert!(
        log.iter()
            .any(|(m, p, s)| m == "POST" && p.ends_with("/cancel") && *s == 204),
        "the waiting request was cancelled: {log:?}"
    );
    assert!(sim.members(&group).await.is_empty());
    assert!(schedules(&sim).await.is_empty());
    // A role that does not exist is not a target.
    assert!(
        graph
            .target(&role(), "00000000-0000-4000-8000-000000000001")
            .await
            .unwrap()
            .is_none()
    );
    assert!(graph.target(&role(), HELPDESK).await.unwrap().is_some());
}

/// "Write succeeded then 503": the assignment is read back and counts once; no second
/// adminAssign is sent.
#[tokio::test]
async fn a_lost_pim_answer_counts_once() {
    let sim = Sim::start().await;
    let (_, people) = group_and_people(&sim, 1).await;
    let graph = sim.connector();
    sim.fault(json!({
        "match": { "method": "POST", "path": "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests" },
        "respond": { "status": 503 },
        "after_write": true,
    }))
    .await;
    let lease = lease_until(&people[0], TimeDelta::hours(1));
    let receipts = graph
        .grant(&role(), HELPDESK, std::slice::from_ref(&lease))
        .await
        .unwrap();
    assert!(
        receipts[0].detail["pim_instance_id"].is_string(),
        "{receipts:?}"
    );
    let log = writes(&sim.log().await);
    assert_eq!(log.len(), 1, "one write, answered 503: {log:?}");
    assert_eq!(log[0].2, 503);
    let all = schedules(&sim).await;
    assert_eq!(all.len(), 1);
    assert!(close(ends(&all[0]), lease.ends_at));
}
