//! What can happen, as the audit trail names it. One enum, so a new kind of event cannot be
//! written without its words in the trail: [`crate::text::event_summary_in`] matches on every
//! variant, and the compiler refuses a missing one.

use super::named::named;

named! {
    /// An audit event's action, stored as its dotted name (`grant.revoked`).
    pub enum AuditAction {
        RequestSubmitted = "request.submitted",
        RequestApproved = "request.approved",
        RequestDenied = "request.denied",
        RequestCancelled = "request.cancelled",
        RequestExpired = "request.expired",
        RequestWindowPassed = "request.window_passed",
        RequestNothingToGrant = "request.nothing_to_grant",
        DecisionApproved = "decision.approved",
        DecisionDenied = "decision.denied",
        GrantCreated = "grant.created",
        GrantExtended = "grant.extended",
        GrantProvisioned = "grant.provisioned",
        GrantEndTold = "grant.end_told",
        GrantRetrying = "grant.retrying",
        GrantFailed = "grant.failed",
        GrantReturned = "grant.returned",
        GrantRevoked = "grant.revoked",
        GrantOverdue = "grant.overdue",
        GrantEndedUnprovisioned = "grant.ended_unprovisioned",
        GrantAccountMissing = "grant.account_missing",
        GrantTargetMissing = "grant.target_missing",
        GrantRemovalResolved = "grant.removal_resolved",
        CatalogLoaded = "catalog.loaded",
        CatalogEntitlementEnabled = "catalog.entitlement_enabled",
        CatalogEntitlementDisabled = "catalog.entitlement_disabled",
        CatalogEntitlementChanged = "catalog.entitlement_changed",
        CatalogPolicyChanged = "catalog.policy_changed",
        CatalogChangeProposed = "catalog.change_proposed",
        CatalogChangeApproved = "catalog.change_approved",
        CatalogChangeRejected = "catalog.change_rejected",
        PrincipalDisabled = "principal.disabled",
        PrincipalEnabled = "principal.enabled",
        PrincipalRolesChanged = "principal.roles_changed",
        PersonChanged = "person.changed",
        PersonLeft = "person.left",
        GrantOffboarded = "grant.offboarded",
        RequestWithdrawn = "request.withdrawn",
        ApprovalRerouted = "request.approval_rerouted",
        PeopleSyncRefused = "people_sync.refused",
        PeopleSyncDirectoryConfirmed = "people_sync.directory_confirmed",
        GrantShortened = "grant.shortened",
        RequestAutomaticRefused = "request.automatic_refused",
        ContractorRequested = "contractor.requested",
        ContractorMade = "contractor.made",
        ContractorStopped = "contractor.stopped",
        ContractorAdopted = "contractor.adopted",
        ContractorClosed = "contractor.closed",
        ContractorEndingSoon = "contractor.ending_soon",
        ContractorEnded = "contractor.ended",
        ContractorDeleted = "contractor.deleted",
        ContractorSponsorChanged = "contractor.sponsor_changed",
        ContractorPasswordIssued = "contractor.password_issued",
        ContractorExtended = "contractor.extended",
        RequestEscalated = "request.escalated",
        RequestDelegated = "request.delegated",
        DelegationCreated = "delegation.created",
        DelegationEnded = "delegation.ended",
        BreakGlassUsed = "break_glass.used",
        BreakGlassReviewed = "break_glass.reviewed",
        EvidenceExported = "evidence.exported",
        LabClockMoved = "lab.clock_moved",
        /// An administrator (or security operations) took a live lease away, with a reason;
        /// the engine's `grant.revoked` follows when the removal is read back.
        GrantRevokedNow = "grant.revoked_now",
        /// Every live lease of one account was taken away at once (an incident).
        PrincipalContained = "principal.contained",
        /// Reconciliation found access in a target that no lease covers (shadow), or that
        /// disagrees with a lease (drift).
        ReconcileFound = "reconcile.found",
        /// A finding was closed: gone by itself, removed, declared or covered by a lease.
        ReconcileClosed = "reconcile.closed",
        /// Access a finding named was removed through the connector and read back absent.
        ReconcileRemoved = "reconcile.removed",
        /// Removing a finding's access failed, or the target still listed it afterwards.
        ReconcileRemoveFailed = "reconcile.remove_failed",
        /// An owner or an administrator declared an account a standing holder of an entry.
        ReconcileDeclared = "reconcile.declared",
        /// A standing holder's declaration was withdrawn before its end.
        ReconcileDeclarationWithdrawn = "reconcile.declaration_withdrawn",
        /// A change made to a managed target outside the portal (a PIM assignment or
        /// activation made in Entra directly), as the target's own records tell it.
        ReconcileOutsideChange = "reconcile.outside_change",
        /// An administrator opened an access review campaign; its reviewers are told.
        ReviewOpened = "review.opened",
        /// Reviewers who had not finished half-way through a campaign were reminded.
        ReviewReminded = "review.reminded",
        /// Reviewers who had not finished three quarters of the way were given backups
        /// (their managers, else the administrators), who may answer for them.
        ReviewEscalated = "review.escalated",
        /// A reviewer (or, at the deadline, the campaign's default) answered an item.
        ReviewDecided = "review.decided",
        /// A campaign closed: every item answered, or the deadline came.
        ReviewClosed = "review.closed",
        /// A campaign's report was downloaded.
        ReviewReportExported = "review.report_exported",
    }
}

impl AuditAction {
    /// The family an action belongs to: the part of its name before the dot (`grant` for
    /// `grant.revoked`). The governance search offers these.
    pub fn group(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }

    /// Every family, in the order the actions are declared.
    pub fn groups() -> Vec<&'static str> {
        let mut groups: Vec<&'static str> = Vec::new();
        for action in Self::ALL {
            if !groups.contains(&action.group()) {
                groups.push(action.group());
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
            assert!(seen.insert(action.as_str()), "{action} twice");
            let json = serde_json::to_string(action).unwrap();
            assert_eq!(json, format!("\"{action}\""));
        }
        assert_eq!(AuditAction::parse("grant.Revoked"), None);
    }

    #[test]
    fn every_action_is_in_one_group() {
        let groups = AuditAction::groups();
        assert_eq!(AuditAction::GrantRevoked.group(), "grant");
        assert_eq!(AuditAction::PeopleSyncRefused.group(), "people_sync");
        for action in AuditAction::ALL {
            assert_eq!(groups.iter().filter(|g| **g == action.group()).count(), 1);
        }
        assert!(groups.len() < AuditAction::ALL.len());
    }
}
