//! Why the portal refused what someone asked, and what it did when it did not refuse, as data.
//!
//! Services return these; [`crate::text::problem`] and [`crate::text::notice`] put them in the
//! person's words, in the browser or at the server-function edge. A variant names the situation,
//! not its sentence, and carries only what the sentence needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::approval::DecisionRefused;
use crate::domain::change::ChangeState;
use crate::domain::grant::GrantState;
use crate::domain::network::PrefixProblem;
use crate::domain::request::RequestState;
use crate::domain::violation::Violation;

/// What is wrong with a request to the portal. An [`crate::error::AppError::Invalid`] pairs one
/// with the form field it concerns; an [`crate::error::AppError::Conflict`] carries one alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// A rule of the entry's policy or of requests in general.
    Rule(Violation),
    /// Why this person may not decide this request now.
    Decision(DecisionRefused),
    /// The source address given for a VM port.
    SourceAddress(PrefixProblem),

    // The shape of what was sent.
    /// The call's arguments could not be read at all.
    MalformedRequest,
    /// Text with control characters (NUL among them), which cannot be stored.
    ControlCharacters,
    NotAnIdentifier,
    /// The form's one-time token is missing or unreadable: the page is stale.
    FormExpired,
    /// The same form was sent twice and the first was kept.
    AlreadySent,
    UnknownOffset,
    EnterDateTime,
    EnterDay,
    /// The last day of a range comes before its first.
    DaysReversed,
    /// The end of a period comes before its start.
    PeriodReversed,
    /// No catalog entry has this key.
    NoSuchEntry,
    /// Nobody known to the portal has this sign-in name (or id).
    NoSuchPerson,
    /// No connected system has this name.
    NoSuchSystem,
    /// A dashboard range the page does not offer.
    ChooseRange,
    /// Why live access is taken away: required, and of a readable length.
    RevocationReason {
        min_chars: u32,
        max_chars: u32,
    },
    NotATrailPosition,
    /// No reconciliation finding has this id.
    NoSuchFinding,
    /// The finding was closed meanwhile (by a pass, or by another person).
    FindingClosed,
    /// Access a lease says is there but the target lacks is not held, so it cannot be declared
    /// or removed.
    FindingNotHeld,
    /// Nobody declares their own access standing, nor removes it as shadow access.
    OwnAccess,
    /// Why an account may hold an entry without a lease: required, and of a readable length.
    DeclarationReason {
        min_chars: u32,
        max_chars: u32,
    },
    /// A declaration ends in the future, at most this many days ahead.
    DeclarationUntil {
        max_days: u32,
    },
    /// No live declaration has this id (withdrawn or ended meanwhile).
    NoSuchDeclaration,
    /// A campaign's name: required, and of a readable length.
    CampaignName {
        min_chars: u32,
        max_chars: u32,
    },
    /// A campaign reviews at least one entry.
    ChooseEntries,
    /// A campaign's deadline is at least an hour and at most this many days ahead.
    CampaignDeadline {
        max_days: u32,
    },
    /// The chosen entries have no standing holders and no open shadow access to review.
    NothingToReview,
    /// No access review campaign (or item of one) has this id, or the caller may not see it.
    NoSuchReview,
    /// The item was answered already, or its campaign closed.
    ReviewAnswered,
    /// Why an item stays or goes: required, and of a readable length.
    ReviewReason {
        min_chars: u32,
        max_chars: u32,
    },
    SearchTooLong {
        max_chars: u32,
    },
    CommentTooLong {
        max_chars: u32,
    },
    NoteTooLong {
        max_chars: u32,
    },
    DescriptionTooLong {
        max_chars: u32,
    },
    CompanyTooLong {
        max_chars: u32,
    },
    ChooseEntitlement,
    ChooseStart,
    ChooseDuration,
    ChooseMoreTime,
    ChooseOutcome,
    ChooseVerdict,
    ChooseLanguage,
    ChooseEnabled,
    ChoosePassKind,
    ChooseFormat,
    ChooseEventKind,
    ChoosePolicy,
    /// A sign-in name that cannot be one (too long).
    NotASignInName,
    /// A listed sign-in name without `@`.
    NotASignInNameListed {
        name: String,
    },

    // Requests and their grants.
    SourceAddressNeeded,
    NobodyWithSignInName,
    OnBehalfOfReportsOnly,
    /// An application asks for access for people only, never for itself.
    OnBehalfOfNeeded,
    /// An application asked for an entry granted without an approval (self-service or
    /// break-glass): only people may.
    ApplicationNeedsApprovers,
    /// A list's cursor that the portal did not give out.
    BadCursor,
    /// An API call that makes something needs an `Idempotency-Key` header (a UUID).
    IdempotencyKeyNeeded,
    /// An `Idempotency-Key` already used for another request.
    IdempotencyKeyReused,
    /// A page of a list asked larger than the API gives.
    PageSize {
        max: u32,
    },
    AccountDisabled {
        for_self: bool,
        system: String,
    },
    NoAccount {
        for_self: bool,
        system: String,
        upn: String,
    },
    /// A part of the bundle asked for was taken out of the catalog.
    BundlePartWithdrawn {
        name: String,
    },
    /// A part of an approved bundle was taken out of the catalog before it was granted.
    BundlePartGone,
    BundleEmpty,
    AlreadyPending,
    RequestAlready(RequestState),
    RequestPastDeadline,
    /// The entry was taken out of the catalog while its request waited.
    RequestEntryWithdrawn,
    RequestChanged,
    /// The window asked for ended while the request waited.
    WindowEnded,
    GrantAlready(GrantState),
    GrantChanged,
    /// Another approval granted the same access at the same moment.
    GrantedConcurrently,
    OnlyHeldExtends,
    ReviewedAlready,
    /// A break-glass review needs a few words.
    SayWhy,

    // Delegation.
    DelegationEndsFirst,
    DelegationEndPassed,
    DelegationTooLong {
        max_days: u32,
    },
    NameDeputy,
    NoSuchDeputy {
        upn: String,
    },
    DeputySelf,
    DeputyNotEmployee {
        name: String,
    },
    DeputyOverlap,
    DeputyLoop {
        name: String,
    },

    // Contractors.
    ContractorName {
        max_chars: u32,
    },
    ContractorEmail,
    ContractorsNotSetUp,
    ContractorsNoLonger,
    ChooseContractorBundle,
    BundleNotOffered,
    TheirBundleGone,
    EndNotFuture,
    EndNotLater,
    ContractorTooLong {
        max_days: u32,
    },
    EmailOfMember {
        email: String,
        upn: String,
    },
    ContractorExists {
        email: String,
    },
    ContractorPolicyMissing,
    NoAdAccounts,
    PasswordOnlyActive,
    AccountNotMade,
    DirectoryMakesNoAccounts,
    DirectoryIssuesNoPasswords,
    ExtendOnlyActive,
    ExtensionWaiting,

    // The catalog and its administration.
    EntryName {
        max_chars: u32,
    },
    Tags {
        max_tags: u32,
        max_chars: u32,
    },
    TooFewOwners {
        stage: u32,
        required: u32,
    },
    EntryShortOfOwners {
        entry: String,
    },
    RulesTooLong,
    /// The catalog's or a policy's own findings (or the TOML reader's), which name lines and keys
    /// and are written in English by the catalog's checks.
    Catalog(Vec<String>),
    ChangeWaiting {
        key: String,
    },
    ChangeStale {
        key: String,
    },
    ChangeAlready(ChangeState),
    ChangeDecided,
    NoCatalogFile,
    RemovalNotNeeded,
    ResolutionNote {
        min_chars: u32,
        max_chars: u32,
    },
    SettleNote {
        min_chars: u32,
        max_chars: u32,
    },
    /// The user an onboarding found is already this person in the portal.
    FoundUserHeld {
        holder: String,
    },
    NotStoppedOnUser,
    OnboardingNotStopped,
    NothingToConfirm {
        connector: String,
    },
    NotAPeopleSource {
        connector: String,
    },

    // Settings.
    WebhookAddress,
    /// A webhook the portal may not post to, with the check's reason (in English).
    WebhookRefused(String),
    WebhookTooLong,
}

/// What the portal did, as a service reports it to the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Submitted; the request is now in this state.
    Submitted(RequestState),
    EmergencyGranted,
    /// An approval's grants: one entry or a bundle's parts.
    Granted(Grants),
    Denied,
    /// An approval recorded, the request waits at a later stage (numbered from 1).
    Waiting {
        stage: u32,
        stages: u32,
        approvals: u32,
        required: u32,
    },
    ContractorApproved,
    ContractorSubmitted,
    ContractorExtensionSubmitted,
    ChangeProposed {
        key: String,
    },
    ChangeApplied {
        key: String,
    },
    ChangeNotApplied {
        key: String,
    },
    ReviewedJustified,
    ReviewedNotJustified,
    DeputySet {
        deputy: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    DelegationEnded,
    CatalogReloaded {
        entitlements: u32,
        policies: u32,
        disabled: u32,
        restart_needed: bool,
    },
    OfferedAgain {
        key: String,
    },
    NoLongerOffered {
        key: String,
    },
    EntrySaved {
        name: String,
    },
    RemovalClosed,
    Adopted {
        user: String,
    },
    OnboardingClosed,
    PassNow {
        connector: String,
    },
    PassComplete {
        connector: String,
    },
    PassForced {
        connector: String,
    },
    DirectoryAccepted {
        connector: String,
    },
}

/// What an approval granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grants {
    Created,
    Extended,
    /// Nothing, for this reason.
    Nothing(Problem),
    /// Every one of a bundle's `given` parts.
    AllParts {
        given: u32,
    },
    /// `given` of `of` parts; the others not, for this reason.
    SomeParts {
        given: u32,
        of: u32,
        reason: Problem,
    },
}
