//! The words for [`Problem`] and [`Notice`]: what the portal refused and what it did.

use crate::domain::change::ChangeState;
use crate::domain::grant::GrantState;
use crate::domain::problem::{Grants, Notice, Problem};
use crate::domain::request::RequestState;

use super::lang::{self, Language};
use super::{at_in, pick_in, prefix_problem_in, violation_in};

/// What is wrong, in the words of the current page or server function.
pub fn problem(problem: &Problem) -> String {
    problem_in(lang::current(), problem)
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&problem(self))
    }
}

/// What was done, in the words of the current page or server function.
pub fn notice(notice: &Notice) -> String {
    notice_in(lang::current(), notice)
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&notice(self))
    }
}

/// A request's state as it completes "This request is (already) …".
fn request_state_in(language: Language, state: RequestState) -> &'static str {
    match language {
        Language::English => state.as_str(),
        Language::German => match state {
            RequestState::Pending => "offen",
            RequestState::Approved => "genehmigt",
            RequestState::Denied => "abgelehnt",
            RequestState::Cancelled => "zurückgezogen",
            RequestState::Expired => "verfallen",
        },
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn problem_in(language: Language, problem: &Problem) -> String {
    let say = |en: &str, de: &str| pick_in(language, en, de).to_string();
    let form = |en: String, de: String| pick_in(language, en, de);
    match problem {
        Problem::Rule(v) => violation_in(language, v),
        Problem::Decision(refused) => super::decision_refused_in(language, refused),
        Problem::SourceAddress(p) => capitalised(&prefix_problem_in(language, p)),
        Problem::MalformedRequest => say(
            "The request was not in the expected form.",
            "Die Anfrage hatte nicht die erwartete Form.",
        ),
        Problem::ControlCharacters => say(
            "This text contains characters that cannot be stored (such as control characters). \
             Remove them and try again.",
            "Dieser Text enthält Zeichen, die nicht gespeichert werden können (etwa \
             Steuerzeichen). Entfernen Sie diese und versuchen Sie es erneut.",
        ),
        Problem::NotAnIdentifier => say(
            "This is not a valid identifier.",
            "Dies ist keine gültige Kennung.",
        ),
        Problem::FormExpired => say(
            "This form has expired. Reload the page and try again.",
            "Dieses Formular ist abgelaufen. Laden Sie die Seite neu und versuchen Sie es erneut.",
        ),
        Problem::AlreadySent => say(
            "This form was already sent.",
            "Dieses Formular wurde bereits gesendet.",
        ),
        Problem::UnknownOffset => say("Unknown time zone offset.", "Unbekannter Zeitzonenversatz."),
        Problem::EnterDateTime => say(
            "Enter a date and time.",
            "Geben Sie ein Datum und eine Uhrzeit ein.",
        ),
        Problem::EnterDay => say(
            "Give a date as YYYY-MM-DD.",
            "Geben Sie ein Datum als JJJJ-MM-TT an.",
        ),
        Problem::DaysReversed => say(
            "The last day comes before the first.",
            "Der letzte Tag liegt vor dem ersten.",
        ),
        Problem::PeriodReversed => say(
            "The end of the period comes before its start.",
            "Das Ende des Zeitraums liegt vor seinem Beginn.",
        ),
        Problem::NoSuchSystem => say(
            "No connected system has this name.",
            "Kein angebundenes System hat diesen Namen.",
        ),
        Problem::ChooseRange => say(
            "Choose one of the ranges offered: 7, 30, 90 or 365 days.",
            "Wählen Sie einen der angebotenen Zeiträume: 7, 30, 90 oder 365 Tage.",
        ),
        Problem::NoSuchEntry => say(
            "No catalog entry has this key.",
            "Kein Katalogeintrag hat diesen Schlüssel.",
        ),
        Problem::NoSuchPerson => say(
            "Nobody the portal knows has this sign-in name.",
            "Niemand, den das Portal kennt, hat diesen Anmeldenamen.",
        ),
        Problem::RevocationReason {
            min_chars,
            max_chars,
        } => form(
            format!(
                "Say why the access is taken away, in {min_chars} to {max_chars} characters: the \
                 holder, the owner and the trail read it."
            ),
            format!(
                "Begründen Sie in {min_chars} bis {max_chars} Zeichen, warum der Zugriff entzogen \
                 wird: Inhaber, Verantwortliche und der Verlauf lesen es."
            ),
        ),
        Problem::NoSuchFinding => say(
            "No finding has this reference.",
            "Kein Befund hat diese Kennung.",
        ),
        Problem::FindingClosed => say(
            "This finding was closed meanwhile: reload the page to see why.",
            "Dieser Befund wurde inzwischen geschlossen: Laden Sie die Seite neu, um den Grund zu sehen.",
        ),
        Problem::FindingNotHeld => say(
            "The target does not list this account, so there is nothing to declare or remove.",
            "Das Zielsystem führt dieses Konto nicht; es gibt nichts zu erklären oder zu entfernen.",
        ),
        Problem::OwnAccess => say(
            "You cannot decide about your own access: another owner or an administrator must.",
            "Über Ihren eigenen Zugriff können Sie nicht entscheiden: Das muss eine andere \
             verantwortliche Person oder die Administration tun.",
        ),
        Problem::DeclarationReason {
            min_chars,
            max_chars,
        } => form(
            format!(
                "Say why this account holds the access without a lease, in {min_chars} to \
                 {max_chars} characters: reviewers and the trail read it."
            ),
            format!(
                "Begründen Sie in {min_chars} bis {max_chars} Zeichen, warum dieses Konto den \
                 Zugriff ohne befristete Freigabe hat: Prüfende und der Verlauf lesen es."
            ),
        ),
        Problem::DeclarationUntil { max_days } => form(
            format!("Choose an end in the future, at most {max_days} days from now."),
            format!("Wählen Sie ein Ende in der Zukunft, höchstens {max_days} Tage ab heute."),
        ),
        Problem::NoSuchDeclaration => say(
            "This declaration was withdrawn or has ended.",
            "Diese Erklärung wurde zurückgezogen oder ist abgelaufen.",
        ),
        Problem::CampaignName {
            min_chars,
            max_chars,
        } => form(
            format!("Name the review in {min_chars} to {max_chars} characters."),
            format!("Benennen Sie die Prüfung mit {min_chars} bis {max_chars} Zeichen."),
        ),
        Problem::ChooseEntries => say(
            "Choose at least one entry to review.",
            "Wählen Sie mindestens einen Eintrag zur Prüfung.",
        ),
        Problem::CampaignDeadline { max_days } => form(
            format!("Choose a deadline at least an hour and at most {max_days} days from now."),
            format!(
                "Wählen Sie eine Frist, die mindestens eine Stunde und höchstens {max_days} Tage \
                 in der Zukunft liegt."
            ),
        ),
        Problem::NothingToReview => say(
            "The chosen entries have no standing holders and no open shadow access: there is \
             nothing to review.",
            "Die gewählten Einträge haben keine ständigen Inhaber und keinen offenen \
             Schattenzugriff: Es gibt nichts zu prüfen.",
        ),
        Problem::NoSuchReview => say(
            "No access review you may see has this reference.",
            "Keine Zugriffsprüfung, die Sie sehen dürfen, hat diese Kennung.",
        ),
        Problem::ReviewAnswered => say(
            "This item was answered already, or its review has closed: reload the page.",
            "Dieser Punkt wurde schon beantwortet, oder die Prüfung ist abgeschlossen: Laden Sie \
             die Seite neu.",
        ),
        Problem::ReviewReason {
            min_chars,
            max_chars,
        } => form(
            format!(
                "Say why, in {min_chars} to {max_chars} characters: the holder, the owners and \
                 the trail read it."
            ),
            format!(
                "Begründen Sie in {min_chars} bis {max_chars} Zeichen: Inhaber, Verantwortliche \
                 und der Verlauf lesen es."
            ),
        ),
        Problem::NotATrailPosition => say(
            "This is not a position in the trail.",
            "Dies ist keine Position im Verlauf.",
        ),
        Problem::SearchTooLong { max_chars } => form(
            format!("Search for at most {max_chars} characters."),
            format!("Der Suchbegriff darf höchstens {max_chars} Zeichen lang sein."),
        ),
        Problem::CommentTooLong { max_chars } => form(
            format!("Keep the comment under {max_chars} characters."),
            format!("Der Kommentar darf höchstens {max_chars} Zeichen lang sein."),
        ),
        Problem::NoteTooLong { max_chars } => form(
            format!("Keep the note under {max_chars} characters."),
            format!("Die Notiz darf höchstens {max_chars} Zeichen lang sein."),
        ),
        Problem::DescriptionTooLong { max_chars } => form(
            format!("Keep the description under {max_chars} characters."),
            format!("Die Beschreibung darf höchstens {max_chars} Zeichen lang sein."),
        ),
        Problem::CompanyTooLong { max_chars } => form(
            format!("Keep the company under {max_chars} characters."),
            format!("Der Firmenname darf höchstens {max_chars} Zeichen lang sein."),
        ),
        Problem::ChooseEntitlement => say(
            "Choose something to request.",
            "Wählen Sie aus, was Sie beantragen möchten.",
        ),
        Problem::ChooseStart => say(
            "Choose to start now or later.",
            "Wählen Sie, ob der Zugriff jetzt oder später beginnen soll.",
        ),
        Problem::ChooseDuration => say(
            "Choose how long you need it.",
            "Wählen Sie, wie lange Sie den Zugriff benötigen.",
        ),
        Problem::ChooseMoreTime => say(
            "Choose how much longer you need it.",
            "Wählen Sie, wie viel länger Sie den Zugriff benötigen.",
        ),
        Problem::ChooseOutcome => say(
            "Choose approve or deny.",
            "Wählen Sie „Genehmigen“ oder „Ablehnen“.",
        ),
        Problem::ChooseVerdict => say(
            "Say whether the use was justified or not.",
            "Geben Sie an, ob die Nutzung gerechtfertigt war oder nicht.",
        ),
        Problem::ChooseLanguage => say(
            "Choose en (English) or de (Deutsch).",
            "Wählen Sie en (English) oder de (Deutsch).",
        ),
        Problem::ChooseEnabled => say(
            "Choose to enable or disable it.",
            "Wählen Sie, ob der Eintrag angeboten werden soll oder nicht.",
        ),
        Problem::ChoosePassKind => say(
            "Choose now, complete, force or accept-directory.",
            "Wählen Sie now, complete, force oder accept-directory.",
        ),
        Problem::ChooseFormat => say(
            "Choose the format csv or json.",
            "Wählen Sie das Format csv oder json.",
        ),
        Problem::ChooseEventKind => say(
            "Choose a kind of event from the list.",
            "Wählen Sie eine Art von Ereignis aus der Liste.",
        ),
        Problem::ChoosePolicy => say(
            "Choose one of the catalog's policies.",
            "Wählen Sie eine der Richtlinien des Katalogs.",
        ),
        Problem::NotASignInName => say("That is not a sign-in name.", "Das ist kein Anmeldename."),
        Problem::NotASignInNameListed { name } => form(
            format!("`{name}` is not a sign-in name (name@domain)."),
            format!("`{name}` ist kein Anmeldename (name@domain)."),
        ),
        Problem::SourceAddressNeeded => say(
            "Give the IP address you will connect from; the port opens to it only.",
            "Geben Sie die IP-Adresse an, von der aus Sie sich verbinden; der Port wird nur für \
             diese Adresse geöffnet.",
        ),
        Problem::NobodyWithSignInName => say(
            "No one with that sign-in name has used the portal yet.",
            "Niemand mit diesem Anmeldenamen hat das Portal bisher verwendet.",
        ),
        Problem::OnBehalfOfNeeded => say(
            "Name the person the access is for (their sign-in name): an application asks for \
             people, never for itself.",
            "Nennen Sie die Person, für die der Zugriff ist (ihren Anmeldenamen): Eine Anwendung \
             beantragt für Personen, nie für sich selbst.",
        ),
        Problem::ApplicationNeedsApprovers => say(
            "This entry is granted without an approval, so only people may ask for it: an \
             application's requests always wait for an approver.",
            "Dieser Eintrag wird ohne Genehmigung gewährt, daher dürfen nur Personen ihn \
             beantragen: Anträge einer Anwendung warten immer auf eine Genehmigung.",
        ),
        Problem::IdempotencyKeyNeeded => say(
            "Send an Idempotency-Key header: a UUID made once for this request, sent again \
             unchanged on a retry.",
            "Senden Sie einen Idempotency-Key-Header: eine einmal für diesen Antrag erzeugte \
             UUID, bei einer Wiederholung unverändert.",
        ),
        Problem::IdempotencyKeyReused => say(
            "This Idempotency-Key was already used for another request: make a new one for \
             each request.",
            "Dieser Idempotency-Key wurde schon für einen anderen Antrag verwendet: Erzeugen \
             Sie für jeden Antrag einen neuen.",
        ),
        Problem::BadCursor => say(
            "This cursor was not given out by the portal: start the list again without one.",
            "Diesen Cursor hat das Portal nicht ausgegeben: Beginnen Sie die Liste ohne ihn neu.",
        ),
        Problem::PageSize { max } => form(
            format!("Ask for 1 to {max} items a page."),
            format!("Fragen Sie nach 1 bis {max} Einträgen je Seite."),
        ),
        Problem::OnBehalfOfReportsOnly => say(
            "You can request access on behalf of your direct reports only.",
            "Sie können Zugriff nur für Ihre direkten Mitarbeitenden beantragen.",
        ),
        Problem::AccountDisabled { for_self, system } => form(
            format!(
                "{} account in {system} is disabled, so this access cannot be granted.",
                if *for_self { "Your" } else { "This person's" },
            ),
            format!(
                "{} in {system} ist deaktiviert; dieser Zugriff kann daher nicht erteilt werden.",
                if *for_self {
                    "Ihr Konto"
                } else {
                    "Das Konto dieser Person"
                },
            ),
        ),
        Problem::NoAccount {
            for_self,
            system,
            upn,
        } => form(
            format!(
                "{} no account in {system} that matches {upn} (yet), so this access cannot be \
                 granted now. A new account can take a few minutes to reach every part of the \
                 directory: try again in a few minutes; if it stays, ask the directory's \
                 administrators to link the account.",
                if *for_self {
                    "You have"
                } else {
                    "This person has"
                },
            ),
            format!(
                "{} (noch) kein Konto in {system}, das zu {upn} passt; dieser Zugriff kann daher \
                 jetzt nicht erteilt werden. Ein neues Konto erreicht erst nach einigen Minuten \
                 alle Teile des Verzeichnisses: Versuchen Sie es in einigen Minuten erneut; \
                 bleibt es so, bitten Sie die Administration des Verzeichnisses, das Konto zu \
                 verknüpfen.",
                if *for_self {
                    "Sie haben"
                } else {
                    "Diese Person hat"
                },
            ),
        ),
        Problem::BundlePartWithdrawn { name } => form(
            format!(
                "“{name}” was taken out of the catalog, so this bundle cannot be requested until \
                 its owners change it."
            ),
            format!(
                "„{name}“ wurde aus dem Katalog genommen; dieses Paket kann daher erst wieder \
                 beantragt werden, wenn die Verantwortlichen es ändern."
            ),
        ),
        Problem::BundlePartGone => say(
            "A part of this bundle was taken out of the catalog, so the bundle can no longer be \
             granted as it was asked for.",
            "Ein Teil dieses Pakets wurde aus dem Katalog genommen; das Paket kann daher nicht \
             mehr wie beantragt erteilt werden.",
        ),
        Problem::BundleEmpty => say(
            "This bundle gives nothing at the moment.",
            "Dieses Paket umfasst derzeit keine Zugriffe.",
        ),
        Problem::AlreadyPending => say(
            "A request for this access is already waiting for approval. Cancel it first to ask \
             for something different.",
            "Eine Anfrage für diesen Zugriff wartet bereits auf Genehmigung. Ziehen Sie sie \
             zuerst zurück, um etwas anderes zu beantragen.",
        ),
        Problem::RequestAlready(state) => form(
            format!("This request is already {state}."),
            format!(
                "Diese Anfrage ist bereits {}.",
                request_state_in(Language::German, *state)
            ),
        ),
        Problem::RequestPastDeadline => say(
            "This request waited past its deadline and can no longer be decided.",
            "Diese Anfrage hat ihre Frist überschritten und kann nicht mehr entschieden werden.",
        ),
        Problem::RequestEntryWithdrawn => say(
            "This access was taken out of the catalog; the request can no longer be decided.",
            "Dieser Zugriff wurde aus dem Katalog genommen; über die Anfrage kann nicht mehr \
             entschieden werden.",
        ),
        Problem::RequestChanged => say(
            "This request changed meanwhile. Reload the page and try again.",
            "Diese Anfrage wurde zwischenzeitlich geändert. Laden Sie die Seite neu und \
             versuchen Sie es erneut.",
        ),
        Problem::WindowEnded => say(
            "The requested window ended before the request was approved.",
            "Der beantragte Zeitraum endete, bevor die Anfrage genehmigt wurde.",
        ),
        Problem::GrantAlready(state) => match language {
            Language::English => match state {
                GrantState::Revoking => "This access is already being removed.".to_string(),
                state => format!("This access is already {state}."),
            },
            Language::German => match state {
                GrantState::Scheduled => "Dieser Zugriff ist bereits geplant.",
                GrantState::Active => "Dieser Zugriff ist bereits aktiv.",
                GrantState::Revoking => "Dieser Zugriff wird bereits entfernt.",
                GrantState::Revoked => "Dieser Zugriff ist bereits entfernt.",
                GrantState::Failed => "Die Erteilung dieses Zugriffs ist bereits fehlgeschlagen.",
            }
            .to_string(),
        },
        Problem::GrantChanged => say(
            "This access changed meanwhile. Reload the page and try again.",
            "Dieser Zugriff wurde zwischenzeitlich geändert. Laden Sie die Seite neu und \
             versuchen Sie es erneut.",
        ),
        Problem::GrantedConcurrently => say(
            "This access was granted by another approval at the same moment. Please try again.",
            "Dieser Zugriff wurde im selben Moment durch eine andere Genehmigung erteilt. Bitte \
             versuchen Sie es erneut.",
        ),
        Problem::OnlyHeldExtends => say(
            "Only access you still hold can be extended.",
            "Nur Zugriffe, die Sie noch haben, können verlängert werden.",
        ),
        Problem::ReviewedAlready => say(
            "This use has been reviewed already.",
            "Diese Nutzung wurde bereits geprüft.",
        ),
        Problem::SayWhy => say(
            "Say in a few words why.",
            "Begründen Sie dies in wenigen Worten.",
        ),
        Problem::DelegationEndsFirst => say(
            "The end must come after the start.",
            "Das Ende muss nach dem Beginn liegen.",
        ),
        Problem::DelegationEndPassed => say(
            "The end has passed already.",
            "Das Ende liegt bereits in der Vergangenheit.",
        ),
        Problem::DelegationTooLong { max_days } => form(
            format!("A delegation lasts at most {max_days} days from now."),
            format!("Eine Vertretung gilt höchstens {max_days} Tage ab jetzt."),
        ),
        Problem::NameDeputy => say(
            "Name your deputy by their sign-in name.",
            "Geben Sie den Anmeldenamen Ihrer Vertretung an.",
        ),
        Problem::NoSuchDeputy { upn } => form(
            format!("Nobody signs in as {upn}; a deputy must have used the portal once."),
            format!(
                "Niemand meldet sich als {upn} an; eine Vertretung muss das Portal mindestens \
                 einmal verwendet haben."
            ),
        ),
        Problem::DeputySelf => say(
            "Name someone else as your deputy.",
            "Benennen Sie eine andere Person als Ihre Vertretung.",
        ),
        Problem::DeputyNotEmployee { name } => form(
            format!("{name} cannot be a deputy: only employees decide on access."),
            format!(
                "{name} kann keine Vertretung sein: Nur Mitarbeitende entscheiden über Zugriffe."
            ),
        ),
        Problem::DeputyOverlap => say(
            "You already have a deputy for part of this time; end that delegation first.",
            "Sie haben für einen Teil dieses Zeitraums bereits eine Vertretung; beenden Sie diese \
             Vertretung zuerst.",
        ),
        Problem::DeputyLoop { name } => form(
            format!(
                "{name} hands their approvals on to you during this time (directly or through \
                 their deputy), so this would be a loop."
            ),
            format!(
                "{name} gibt in diesem Zeitraum die eigenen Genehmigungen an Sie weiter (direkt \
                 oder über die eigene Vertretung); das wäre ein Kreislauf."
            ),
        ),
        Problem::ContractorName { max_chars } => form(
            format!("Give the person's name (at most {max_chars} characters)."),
            format!("Geben Sie den Namen der Person an (höchstens {max_chars} Zeichen)."),
        ),
        Problem::ContractorEmail => say(
            "Give the person's own email address, such as pat@fabrikam.com.",
            "Geben Sie die eigene E-Mail-Adresse der Person an, etwa pat@fabrikam.com.",
        ),
        Problem::ContractorsNotSetUp => say(
            "This portal's catalog does not set up identities for contractors.",
            "Der Katalog dieses Portals richtet keine Identitäten für Externe ein.",
        ),
        Problem::ContractorsNoLonger => say(
            "Contractors are no longer set up here.",
            "Externe werden hier nicht mehr eingerichtet.",
        ),
        Problem::ChooseContractorBundle => say(
            "Choose one of the bundles offered for contractors.",
            "Wählen Sie eines der Pakete, die für Externe angeboten werden.",
        ),
        Problem::BundleNotOffered => say(
            "This bundle is no longer offered; choose another.",
            "Dieses Paket wird nicht mehr angeboten; wählen Sie ein anderes.",
        ),
        Problem::TheirBundleGone => say(
            "Their bundle is no longer offered.",
            "Das Paket dieser Person wird nicht mehr angeboten.",
        ),
        Problem::EndNotFuture => say(
            "The end must be later than now.",
            "Das Ende muss in der Zukunft liegen.",
        ),
        Problem::EndNotLater => say(
            "Choose an end later than the current one.",
            "Wählen Sie ein späteres Ende als das aktuelle.",
        ),
        Problem::ContractorTooLong { max_days } => form(
            format!(
                "A contractor's identity lasts at most {max_days} days from now; choose an \
                 earlier end (it can be extended later)."
            ),
            format!(
                "Die Identität einer externen Person gilt höchstens {max_days} Tage ab jetzt; \
                 wählen Sie ein früheres Ende (sie kann später verlängert werden)."
            ),
        ),
        Problem::EmailOfMember { email, upn } => form(
            format!(
                "{email} belongs to a member of this organisation ({upn}); members ask for \
                 access themselves."
            ),
            format!(
                "{email} gehört zu einem Mitglied dieser Organisation ({upn}); Mitglieder \
                 beantragen Zugriffe selbst."
            ),
        ),
        Problem::ContractorExists { email } => form(
            format!(
                "{email} already has an identity here, asked for or active; extend that one \
                 instead."
            ),
            format!(
                "{email} hat hier bereits eine Identität (beantragt oder aktiv); verlängern Sie \
                 stattdessen diese."
            ),
        ),
        Problem::ContractorPolicyMissing => say(
            "The contractors' policy is missing.",
            "Die Richtlinie für Externe fehlt.",
        ),
        Problem::NoAdAccounts => say(
            "Contractors get no Active Directory account here.",
            "Externe erhalten hier kein Konto im Active Directory.",
        ),
        Problem::PasswordOnlyActive => say(
            "Only an active contractor's account gets a password.",
            "Nur das Konto einer aktiven externen Person erhält ein Passwort.",
        ),
        Problem::AccountNotMade => say(
            "The account is not made yet.",
            "Das Konto ist noch nicht angelegt.",
        ),
        Problem::DirectoryMakesNoAccounts => say(
            "This directory makes no accounts.",
            "Dieses Verzeichnis legt keine Konten an.",
        ),
        Problem::DirectoryIssuesNoPasswords => say(
            "This directory issues no passwords.",
            "Dieses Verzeichnis vergibt keine Passwörter.",
        ),
        Problem::ExtendOnlyActive => say(
            "Only an active contractor's identity can be extended.",
            "Nur die Identität einer aktiven externen Person kann verlängert werden.",
        ),
        Problem::ExtensionWaiting => say(
            "An extension for this contractor is already waiting for approval.",
            "Eine Verlängerung für diese externe Person wartet bereits auf Genehmigung.",
        ),
        Problem::EntryName { max_chars } => form(
            format!("Give the entry a name of at most {max_chars} characters."),
            format!("Geben Sie dem Eintrag einen Namen mit höchstens {max_chars} Zeichen."),
        ),
        Problem::Tags {
            max_tags,
            max_chars,
        } => form(
            format!("At most {max_tags} tags of at most {max_chars} characters."),
            format!("Höchstens {max_tags} Schlagwörter mit je höchstens {max_chars} Zeichen."),
        ),
        Problem::TooFewOwners { stage, required } => form(
            format!(
                "Step {stage} of this policy needs {required} owners; list at least that many."
            ),
            format!(
                "Stufe {stage} dieser Richtlinie braucht {required} Verantwortliche; nennen Sie \
                 mindestens so viele."
            ),
        ),
        Problem::EntryShortOfOwners { entry } => form(
            format!("Entry `{entry}` lists fewer owners than these rules need."),
            format!(
                "Der Eintrag `{entry}` nennt weniger Verantwortliche, als diese Regeln brauchen."
            ),
        ),
        Problem::RulesTooLong => say("The rules are too long.", "Die Regeln sind zu lang."),
        Problem::Catalog(findings) => findings.join("\n"),
        Problem::ChangeWaiting { key } => form(
            format!(
                "A change to {key} already waits for a second administrator: approve or reject it \
                 first."
            ),
            format!(
                "Eine Änderung an {key} wartet bereits auf eine zweite Person aus der \
                 Administration: Genehmigen oder lehnen Sie diese zuerst ab."
            ),
        ),
        Problem::ChangeStale { key } => form(
            format!(
                "{key} changed after this change was proposed; it was closed. Propose it again if \
                 it is still wanted."
            ),
            format!(
                "{key} wurde geändert, nachdem diese Änderung vorgeschlagen wurde; sie wurde \
                 geschlossen. Schlagen Sie sie erneut vor, wenn sie noch gewünscht ist."
            ),
        ),
        Problem::ChangeAlready(state) => form(
            format!("This change is already {state}."),
            format!(
                "Diese Änderung ist bereits {}.",
                match state {
                    ChangeState::Pending => "offen",
                    ChangeState::Applied => "übernommen",
                    ChangeState::Rejected => "abgelehnt",
                    ChangeState::Stale => "veraltet",
                }
            ),
        ),
        Problem::ChangeDecided => say(
            "This change was decided meanwhile. Reload the page.",
            "Über diese Änderung wurde zwischenzeitlich entschieden. Laden Sie die Seite neu.",
        ),
        Problem::NoCatalogFile => say(
            "No catalog file is configured (LEASEGATE_CATALOG).",
            "Es ist keine Katalogdatei konfiguriert (LEASEGATE_CATALOG).",
        ),
        Problem::RemovalNotNeeded => say(
            "This removal does not need a person (any more).",
            "Für diese Entfernung ist kein Eingreifen (mehr) nötig.",
        ),
        Problem::ResolutionNote {
            min_chars,
            max_chars,
        } => form(
            format!(
                "Say in {min_chars} to {max_chars} characters what you checked in the directory."
            ),
            format!(
                "Beschreiben Sie in {min_chars} bis {max_chars} Zeichen, was Sie im Verzeichnis \
                 geprüft haben."
            ),
        ),
        Problem::SettleNote {
            min_chars,
            max_chars,
        } => form(
            format!("Say in {min_chars} to {max_chars} characters what you checked and found."),
            format!(
                "Beschreiben Sie in {min_chars} bis {max_chars} Zeichen, was Sie geprüft und \
                 festgestellt haben."
            ),
        ),
        Problem::FoundUserHeld { holder } => form(
            format!(
                "The user found is {holder} in the portal already (read by the people sync); one \
                 account belongs to one person, so it cannot become this contractor. Close this \
                 onboarding instead."
            ),
            format!(
                "Das gefundene Konto ist im Portal bereits {holder} (vom Personenabgleich \
                 gelesen); ein Konto gehört einer Person, es kann daher nicht diese externe \
                 Person werden. Schließen Sie stattdessen dieses Onboarding."
            ),
        ),
        Problem::NotStoppedOnUser => say(
            "This contractor is not stopped on a user that can be adopted (any more).",
            "Diese externe Person wartet nicht (mehr) auf ein übernehmbares Konto.",
        ),
        Problem::OnboardingNotStopped => say(
            "This contractor's onboarding is not stopped (any more).",
            "Das Onboarding dieser externen Person ist nicht (mehr) angehalten.",
        ),
        Problem::NothingToConfirm { connector } => form(
            format!("No pass of {connector} found another directory to confirm."),
            format!(
                "Kein Abgleich von {connector} hat ein anderes Verzeichnis gefunden, das zu \
                 bestätigen wäre."
            ),
        ),
        Problem::NotAPeopleSource { connector } => form(
            format!("{connector} is not a people source of the catalog."),
            format!("{connector} ist keine Personenquelle des Katalogs."),
        ),
        Problem::WebhookAddress => say(
            "Paste the address your Teams workflow shows (https://…).",
            "Fügen Sie die Adresse ein, die Ihr Teams-Workflow anzeigt (https://…).",
        ),
        Problem::WebhookRefused(why) => why.clone(),
        Problem::WebhookTooLong => say(
            "This address is too long for a webhook.",
            "Diese Adresse ist für einen Webhook zu lang.",
        ),
    }
}

pub fn notice_in(language: Language, notice: &Notice) -> String {
    let say = |en: &str, de: &str| pick_in(language, en, de).to_string();
    let form = |en: String, de: String| pick_in(language, en, de);
    match notice {
        Notice::Submitted(RequestState::Approved) => say(
            "Approved. The access is being granted now.",
            "Genehmigt. Der Zugriff wird jetzt erteilt.",
        ),
        Notice::Submitted(RequestState::Pending) => say(
            "Submitted. Your approvers have been asked.",
            "Eingereicht. Ihre genehmigenden Personen wurden angefragt.",
        ),
        Notice::Submitted(state) => form(
            format!("This request is {state}."),
            format!(
                "Diese Anfrage ist {}.",
                request_state_in(Language::German, *state)
            ),
        ),
        Notice::EmergencyGranted => say(
            "Granted now, as an emergency. Security has been told, and an owner will review this \
             use.",
            "Als Notfall sofort erteilt. Die IT-Sicherheit wurde informiert, und eine \
             verantwortliche Person prüft diese Nutzung.",
        ),
        Notice::Granted(granted) => granted_in(language, granted),
        Notice::Denied => say(
            "Denied. The requester will see your comment.",
            "Abgelehnt. Die anfragende Person sieht Ihren Kommentar.",
        ),
        Notice::Waiting {
            stage,
            stages,
            approvals,
            required,
        } => form(
            format!(
                "Recorded. The request now waits at step {stage} of {stages} ({approvals} of \
                 {required} approvals)."
            ),
            format!(
                "Erfasst. Die Anfrage wartet jetzt auf Stufe {stage} von {stages} ({approvals} von \
                 {required} Genehmigungen)."
            ),
        ),
        Notice::ContractorApproved => say(
            "Approved. The identity is being made; its access follows.",
            "Genehmigt. Die Identität wird angelegt; ihre Zugriffe folgen.",
        ),
        Notice::ContractorSubmitted => say(
            "Submitted. Once approved, the identity is made and its access granted; the \
             invitation link for the person appears here.",
            "Eingereicht. Nach der Genehmigung wird die Identität angelegt und ihr Zugriff \
             erteilt; der Einladungslink für die Person erscheint hier.",
        ),
        Notice::ContractorExtensionSubmitted => say(
            "Submitted. Once approved, their identity and access last until the new end.",
            "Eingereicht. Nach der Genehmigung gelten Identität und Zugriffe der Person bis zum \
             neuen Ende.",
        ),
        Notice::ChangeProposed { key } => form(
            format!(
                "Proposed. The change to {key} takes effect when another administrator approves \
                 it."
            ),
            format!(
                "Vorgeschlagen. Die Änderung an {key} wird wirksam, sobald eine andere Person aus \
                 der Administration sie genehmigt."
            ),
        ),
        Notice::ChangeApplied { key } => form(
            format!("Approved. The change to {key} is in effect."),
            format!("Genehmigt. Die Änderung an {key} ist wirksam."),
        ),
        Notice::ChangeNotApplied { key } => form(
            format!("The change to {key} was not applied."),
            format!("Die Änderung an {key} wurde nicht übernommen."),
        ),
        Notice::ReviewedJustified => say("Reviewed: justified.", "Geprüft: gerechtfertigt."),
        Notice::ReviewedNotJustified => say(
            "Reviewed: not justified. The verdict stays in the trail for security's follow-up.",
            "Geprüft: nicht gerechtfertigt. Die Bewertung bleibt für die Nachverfolgung durch die \
             IT-Sicherheit im Verlauf.",
        ),
        Notice::DeputySet { deputy, from, to } => {
            let (from, to) = (at_in(language, *from), at_in(language, *to));
            form(
                format!("{deputy} decides in your place from {from} to {to}."),
                format!("{deputy} entscheidet vom {from} bis {to} an Ihrer Stelle."),
            )
        }
        Notice::DelegationEnded => say(
            "Ended. New requests wait for you alone; those already handed on can be decided by \
             either of you.",
            "Beendet. Neue Anfragen warten nur auf Sie; über bereits weitergegebene können Sie \
             beide entscheiden.",
        ),
        Notice::CatalogReloaded {
            entitlements,
            policies,
            disabled,
            restart_needed,
        } => {
            let mut text = form(
                format!(
                    "Catalog reloaded: {entitlements} entitlements, {policies} policies; \
                     {disabled} disabled."
                ),
                format!(
                    "Katalog neu geladen: {entitlements} Berechtigungen, {policies} Richtlinien; \
                     {disabled} deaktiviert."
                ),
            );
            if *restart_needed {
                text.push_str(pick_in(
                    language,
                    " New or changed connectors take effect when the portal restarts.",
                    " Neue oder geänderte Konnektoren werden beim Neustart des Portals wirksam.",
                ));
            }
            text
        }
        Notice::OfferedAgain { key } => form(
            format!("{key} is offered again."),
            format!("{key} wird wieder angeboten."),
        ),
        Notice::NoLongerOffered { key } => form(
            format!("{key} is no longer offered. Leases already granted run to their end."),
            format!(
                "{key} wird nicht mehr angeboten. Bereits erteilte Zugriffe laufen bis zu ihrem \
                 Ende."
            ),
        ),
        Notice::EntrySaved { name } => form(
            format!(
                "{name} saved. Put the change in the catalog file too, or the next load undoes it."
            ),
            format!(
                "{name} gespeichert. Übernehmen Sie die Änderung auch in die Katalogdatei, sonst \
                 macht das nächste Laden sie rückgängig."
            ),
        ),
        Notice::RemovalClosed => say(
            "Closed. The trail records it as handled by you, not as verified.",
            "Abgeschlossen. Der Verlauf hält sie als von Ihnen erledigt fest, nicht als \
             verifiziert.",
        ),
        Notice::Adopted { user } => form(
            format!("Adopted {user}. The onboarding goes on within a minute."),
            format!("{user} übernommen. Das Onboarding geht innerhalb einer Minute weiter."),
        ),
        Notice::OnboardingClosed => say(
            "Closed. Nothing was made; the address is free for a new onboarding.",
            "Abgeschlossen. Es wurde nichts angelegt; die Adresse ist für ein neues Onboarding \
             frei.",
        ),
        Notice::PassNow { connector } => form(
            format!("A pass of {connector} starts within seconds."),
            format!("Ein Abgleich von {connector} beginnt in wenigen Sekunden."),
        ),
        Notice::PassComplete { connector } => form(
            format!(
                "A complete pass of {connector} starts within seconds: everyone is read, and \
                 anyone no longer there is acted on."
            ),
            format!(
                "Ein vollständiger Abgleich von {connector} beginnt in wenigen Sekunden: Alle \
                 werden gelesen, und wer nicht mehr da ist, wird behandelt."
            ),
        ),
        Notice::PassForced { connector } => form(
            format!(
                "A pass of {connector} starts within seconds and is applied whatever it finds."
            ),
            format!(
                "Ein Abgleich von {connector} beginnt in wenigen Sekunden und wird übernommen, \
                 was immer er findet."
            ),
        ),
        Notice::DirectoryAccepted { connector } => form(
            format!(
                "Confirmed: the next pass of {connector} reads the directory it found, and \
                 remembers it from then on."
            ),
            format!(
                "Bestätigt: Der nächste Abgleich von {connector} liest das gefundene Verzeichnis \
                 und merkt es sich von da an."
            ),
        ),
    }
}

fn granted_in(language: Language, granted: &Grants) -> String {
    let say = |en: &str, de: &str| pick_in(language, en, de).to_string();
    let form = |en: String, de: String| pick_in(language, en, de);
    match granted {
        Grants::Created => say(
            "Approved. The access is being granted now.",
            "Genehmigt. Der Zugriff wird jetzt erteilt.",
        ),
        Grants::Extended => say(
            "Approved. The existing access now lasts longer.",
            "Genehmigt. Der bestehende Zugriff gilt jetzt länger.",
        ),
        Grants::Nothing(reason) => {
            let reason = problem_in(language, reason);
            form(
                format!("Approved, but nothing was granted: {reason}"),
                format!("Genehmigt, aber es wurde nichts erteilt: {reason}"),
            )
        }
        Grants::AllParts { given } => form(
            format!("Approved. All {given} parts of the bundle are being granted now."),
            format!("Genehmigt. Alle {given} Teile des Pakets werden jetzt erteilt."),
        ),
        Grants::SomeParts { given, of, reason } => {
            let reason = problem_in(language, reason);
            form(
                format!(
                    "Approved. {given} of {of} parts are being granted now; the others were not: \
                     {reason}"
                ),
                format!(
                    "Genehmigt. {given} von {of} Teilen werden jetzt erteilt, die übrigen nicht: \
                     {reason}"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::violation::Violation;

    #[test]
    fn every_problem_speaks_both_languages() {
        let samples = [
            Problem::FormExpired,
            Problem::RequestAlready(RequestState::Denied),
            Problem::GrantAlready(GrantState::Revoking),
            Problem::ChangeAlready(ChangeState::Stale),
            Problem::Rule(Violation::NotEligible),
            Problem::NoAccount {
                for_self: false,
                system: "Contoso AD".into(),
                upn: "pat@contoso.test".into(),
            },
        ];
        for p in &samples {
            let (en, de) = (
                problem_in(Language::English, p),
                problem_in(Language::German, p),
            );
            assert!(!en.is_empty() && !de.is_empty(), "{p:?}");
            assert_ne!(en, de, "{p:?} has no German");
        }
        assert_eq!(
            problem_in(
                Language::German,
                &Problem::RequestAlready(RequestState::Denied)
            ),
            "Diese Anfrage ist bereits abgelehnt."
        );
        assert_eq!(
            problem_in(
                Language::English,
                &Problem::GrantAlready(GrantState::Active)
            ),
            "This access is already active."
        );
    }

    #[test]
    fn a_partial_bundle_says_why_the_rest_was_not_granted() {
        let text = notice_in(
            Language::English,
            &Notice::Granted(Grants::SomeParts {
                given: 2,
                of: 3,
                reason: Problem::WindowEnded,
            }),
        );
        assert_eq!(
            text,
            "Approved. 2 of 3 parts are being granted now; the others were not: The requested \
             window ended before the request was approved."
        );
    }
}
