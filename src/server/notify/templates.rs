//! The mails' words, in English and German, as plain text and HTML. Every value that comes from
//! people (names, reasons, comments) is escaped in the HTML; the plain text carries it as it is.
//! Times are written in UTC and say so: the portal does not know a recipient's time zone.

use chrono::{DateTime, Utc};

use crate::domain::mail::{Language, MailKind};

/// What a mail is about; each kind reads the fields it needs.
#[derive(Debug, Clone)]
pub struct About {
    pub entitlement: String,
    pub requester: String,
    pub beneficiary: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub justification: String,
    pub ticket: Option<String>,
    /// For `Decided`: approved (true) or denied.
    pub approved: bool,
    /// For `Decided`: what the approver wrote; for `Delegated`: who is away.
    pub comment: String,
    /// For `LapsingSoon`: when the request lapses.
    pub deadline: Option<DateTime<Utc>>,
}

/// A mail ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Paragraphs and one action; both bodies are made from these.
struct Parts {
    subject: String,
    lines: Vec<String>,
    /// Label-value pairs shown as a small table (request details).
    facts: Vec<(&'static str, String)>,
    action: &'static str,
}

/// `about` with the names on one line: a name is written inside the portal's sentences and
/// subject, where a line break in it could start a line that looks like the portal's own.
fn named_on_one_line(about: &About) -> About {
    About {
        entitlement: crate::text::single_line(&about.entitlement),
        requester: crate::text::single_line(&about.requester),
        beneficiary: crate::text::single_line(&about.beneficiary),
        ..about.clone()
    }
}

pub fn render(kind: MailKind, language: Language, about: &About, link: &str) -> Rendered {
    let about = &named_on_one_line(about);
    let parts = match language {
        Language::English => english(kind, about),
        Language::German => german(kind, about),
    };
    let footer = match language {
        Language::English => {
            "Sent by Leasegate, your organisation's access portal. You get this mail because of your part in the request above."
        }
        Language::German => {
            "Gesendet von Leasegate, dem Zugriffsportal Ihrer Organisation. Sie erhalten diese E-Mail wegen Ihrer Rolle in der oben genannten Anfrage."
        }
    };
    let facts: Vec<Fact> = parts
        .facts
        .iter()
        .map(|(label, value)| Fact {
            label,
            value: value.as_str(),
            lines: match value.lines().count() {
                0 | 1 => vec![crate::text::single_line(value)],
                _ => value.lines().map(crate::text::single_line).collect(),
            },
        })
        .collect();
    let values = minijinja::context! {
        lines => parts.lines,
        facts => facts,
        action => parts.action,
        link => link,
        footer => footer,
    };
    let render = |name: &str| {
        layouts()
            .get_template(name)
            .and_then(|t| t.render(&values))
            .expect("the mail layouts render any values (checked by the tests)")
    };
    Rendered {
        subject: parts.subject,
        text: render("mail.txt"),
        html: render("mail.html"),
    }
}

/// A label-value pair as the layouts show it. People's own text (a reason typed over several
/// lines) never starts a line of its own in the plain text where a detail line could: its lines
/// follow the label quoted, so "Approved by: ..." typed by a requester reads as part of their
/// reason.
#[derive(serde::Serialize)]
struct Fact<'a> {
    label: &'a str,
    value: &'a str,
    lines: Vec<String>,
}

/// The engine's formatter with HTML escaping of `& < > " '` only: minijinja also escapes `/`,
/// which keeps the link's address intact for a browser but unreadable in the mail's source
/// (and to link checkers that read it). The five are all a value in quoted attributes and text
/// needs; a value marked safe, or any value in `mail.txt`, goes to the engine's own formatter.
fn html_escapes_five(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if state.auto_escape() != minijinja::AutoEscape::Html || value.is_safe() || value.is_undefined()
    {
        return minijinja::escape_formatter(out, state, value);
    }
    use std::fmt::Write as _;
    for c in value.to_string().chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' => out.write_str("&quot;")?,
            '\'' => out.write_str("&#39;")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// The two layouts, parsed once. The engine escapes every value in `mail.html` (by its name);
/// `mail.txt` carries values as they are.
fn layouts() -> &'static minijinja::Environment<'static> {
    static LAYOUTS: std::sync::OnceLock<minijinja::Environment<'static>> =
        std::sync::OnceLock::new();
    LAYOUTS.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_formatter(html_escapes_five);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template("mail.html", include_str!("templates/mail.html"))
            .expect("mail.html parses");
        env.add_template("mail.txt", include_str!("templates/mail.txt"))
            .expect("mail.txt parses");
        env
    })
}

fn english(kind: MailKind, a: &About) -> Parts {
    let for_whom = if a.beneficiary == a.requester {
        String::new()
    } else {
        format!(" for {}", a.beneficiary)
    };
    let window = format!(
        "{} to {}",
        when(a.starts_at, Language::English),
        when(a.ends_at, Language::English)
    );
    let request_facts = || {
        let mut facts = vec![
            ("Access", a.entitlement.clone()),
            ("For", a.beneficiary.clone()),
            ("Asked by", a.requester.clone()),
            ("When", window.clone()),
            ("Reason", a.justification.clone()),
        ];
        if let Some(ticket) = &a.ticket {
            facts.push(("Ticket", ticket.clone()));
        }
        facts
    };
    match kind {
        MailKind::NewRequest => Parts {
            subject: format!("Approval needed: {} for {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "{} asks for {}{}. The request waits for your decision.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Open the request to approve or deny it",
        },
        MailKind::Reminder => Parts {
            subject: format!(
                "Reminder: {} for {} waits for you",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "{} still waits for your decision on {}{}.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Open the request to approve or deny it",
        },
        MailKind::Escalated => Parts {
            subject: format!("Escalated to you: {} for {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "Nobody decided on {}'s request for {}{} in time, so it now waits for you as well. Your decision counts like any other approver's.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Open the request to approve or deny it",
        },
        MailKind::Delegated => Parts {
            subject: format!("As deputy: {} for {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "{} is away and named you their deputy. {}'s request for {}{} now waits for you as well.",
                a.comment, a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Open the request to approve or deny it",
        },
        MailKind::BreakGlass => Parts {
            subject: format!(
                "Emergency access taken: {} by {}",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "{} took {} as an emergency, without approval, until {}. An owner of the entry reviews this use afterwards.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: request_facts(),
            action: "See the request's trail",
        },
        MailKind::Decided if a.approved => Parts {
            subject: format!("Approved: {}{}", a.entitlement, for_whom),
            lines: approved_lines(a, Language::English),
            facts: vec![("When", window)],
            action: "See your access",
        },
        MailKind::Decided => Parts {
            subject: format!("Denied: {}{}", a.entitlement, for_whom),
            lines: denied_lines(a, Language::English),
            facts: vec![("When", window)],
            action: "See your requests",
        },
        MailKind::Granted => Parts {
            subject: format!("Access granted: {}", a.entitlement),
            lines: vec![format!(
                "{} now has {}. It ends on its own at {}.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "See your access",
        },
        MailKind::ExpiringSoon => Parts {
            subject: format!("Ending soon: {}", a.entitlement),
            lines: vec![format!(
                "{}'s access to {} ends at {}. If it is still needed, ask to extend it before then.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "Extend or give it back",
        },
        MailKind::Removed => Parts {
            subject: format!("Access removed: {}", a.entitlement),
            lines: vec![format!(
                "{}'s access to {} was removed, and the system was read back to prove it is gone.",
                a.beneficiary, a.entitlement
            )],
            facts: vec![],
            action: "See your access",
        },
        MailKind::ReconciledAway => Parts {
            subject: format!("Access without a lease removed: {}", a.entitlement),
            lines: vec![
                format!(
                    "{} held {} in its system without a lease. It was removed {}, and the system was read back to prove it is gone.",
                    a.beneficiary,
                    a.entitlement,
                    if a.requester.is_empty() {
                        "as the entry's policy says".to_string()
                    } else {
                        format!("by {}", a.requester)
                    }
                ),
                "If the access is needed, ask for it in the portal. An owner can declare a service account a standing holder, with a reason.".to_string(),
            ],
            facts: vec![],
            action: "Open the portal",
        },
        MailKind::TakenAway => Parts {
            subject: format!("Access taken away: {}", a.entitlement),
            lines: vec![format!(
                "{} took {}'s access to {} away before its end. It is being removed now, and the system will be read back to prove it is gone.",
                a.requester, a.beneficiary, a.entitlement
            )],
            facts: vec![("Reason", crate::text::single_line(&a.comment))],
            action: "Open the portal",
        },
        MailKind::LapsingSoon => Parts {
            subject: format!("Still undecided: {}", a.entitlement),
            lines: vec![format!(
                "Nobody has decided on the request for {}{} yet. It lapses at {} unless it is decided before.",
                a.entitlement,
                for_whom,
                a.deadline
                    .map(|d| when(d, Language::English))
                    .unwrap_or_default()
            )],
            facts: request_facts(),
            action: "See the request",
        },
        MailKind::Lapsed => Parts {
            subject: format!("Lapsed undecided: {}", a.entitlement),
            lines: vec![format!(
                "The request for {}{} was not decided in time and has lapsed. Nothing was granted; ask again if it is still needed.",
                a.entitlement, for_whom
            )],
            facts: vec![],
            action: "Ask again",
        },
        MailKind::Overdue => Parts {
            subject: format!("Overdue removal: {} of {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "{}'s access to {} should have ended at {} but could not be removed yet. The portal keeps trying; someone should look at the system.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "See what happened",
        },
        MailKind::ContractorEnding => Parts {
            subject: format!("Contractor access ends soon: {}", a.beneficiary),
            lines: vec![format!(
                "The identity you sponsor for {} ends at {}, with all its access. If the work goes on, ask to extend it before then.",
                a.beneficiary,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "Open your contractors",
        },
        MailKind::ContractorStopped => Parts {
            subject: format!("Contractor onboarding stopped: {}", a.beneficiary),
            lines: vec![
                format!(
                    "The identity for {}, sponsored by {}, was not made: an account it would use already exists and was not made by the portal for this person. Nothing was made or changed.",
                    a.beneficiary, a.requester
                ),
                "An administrator must find out whose account it is before the onboarding can go on.".into(),
            ],
            facts: vec![("What was found", a.comment.clone())],
            action: "See the contractor",
        },
        MailKind::ReviewOpened => Parts {
            subject: format!("Access review: {}", a.entitlement),
            lines: vec![
                format!(
                    "{} asks you to review who holds access without a lease: {}. For each account, keep it (with a reason and until when) or remove it.",
                    a.requester, a.entitlement
                ),
                format!(
                    "Answer by {}. What is left unanswered then follows the review's default.",
                    when(a.ends_at, Language::English)
                ),
            ],
            facts: vec![("Accounts in the review", a.comment.clone())],
            action: "Open the review",
        },
        MailKind::ReviewReminder => Parts {
            subject: format!("Reminder: access review {}", a.entitlement),
            lines: vec![format!(
                "Some accounts in the access review {} still wait for your answer. Answer by {}; what is left unanswered then follows the review's default.",
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "Open the review",
        },
        MailKind::ReviewEscalated => Parts {
            subject: format!("Access review waiting for {}: {}", a.beneficiary, a.entitlement),
            lines: vec![format!(
                "{} has not finished the access review {}, which closes at {}. You may now answer their accounts for them.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::English)
            )],
            facts: vec![],
            action: "Open the review",
        },
    }
}

fn german(kind: MailKind, a: &About) -> Parts {
    let for_whom = if a.beneficiary == a.requester {
        String::new()
    } else {
        format!(" für {}", a.beneficiary)
    };
    let window = format!(
        "{} bis {}",
        when(a.starts_at, Language::German),
        when(a.ends_at, Language::German)
    );
    let request_facts = || {
        let mut facts = vec![
            ("Zugriff", a.entitlement.clone()),
            ("Für", a.beneficiary.clone()),
            ("Beantragt von", a.requester.clone()),
            ("Zeitraum", window.clone()),
            ("Begründung", a.justification.clone()),
        ];
        if let Some(ticket) = &a.ticket {
            facts.push(("Ticket", ticket.clone()));
        }
        facts
    };
    match kind {
        MailKind::NewRequest => Parts {
            subject: format!(
                "Genehmigung erforderlich: {} für {}",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "{} beantragt {}{}. Die Anfrage wartet auf Ihre Entscheidung.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Anfrage öffnen, um sie zu genehmigen oder abzulehnen",
        },
        MailKind::Reminder => Parts {
            subject: format!(
                "Erinnerung: {} für {} wartet auf Sie",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "{} wartet noch auf Ihre Entscheidung über {}{}.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Anfrage öffnen, um sie zu genehmigen oder abzulehnen",
        },
        MailKind::Escalated => Parts {
            subject: format!("An Sie eskaliert: {} für {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "Über die Anfrage von {} für {}{} wurde nicht rechtzeitig entschieden; sie wartet jetzt auch auf Sie. Ihre Entscheidung zählt wie die jeder anderen genehmigenden Person.",
                a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Anfrage öffnen, um sie zu genehmigen oder abzulehnen",
        },
        MailKind::Delegated => Parts {
            subject: format!("Als Vertretung: {} für {}", a.entitlement, a.beneficiary),
            lines: vec![format!(
                "{} ist abwesend und hat Sie als Vertretung benannt. Die Anfrage von {} für {}{} wartet jetzt auch auf Sie.",
                a.comment, a.requester, a.entitlement, for_whom
            )],
            facts: request_facts(),
            action: "Anfrage öffnen, um sie zu genehmigen oder abzulehnen",
        },
        MailKind::BreakGlass => Parts {
            subject: format!(
                "Notfallzugriff genommen: {} durch {}",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "{} hat {} als Notfall ohne Genehmigung genommen, bis {}. Eine verantwortliche Person des Eintrags prüft diese Nutzung nachträglich.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: request_facts(),
            action: "Verlauf der Anfrage ansehen",
        },
        MailKind::Decided if a.approved => Parts {
            subject: format!("Genehmigt: {}{}", a.entitlement, for_whom),
            lines: approved_lines(a, Language::German),
            facts: vec![("Zeitraum", window)],
            action: "Ihre Zugriffe ansehen",
        },
        MailKind::Decided => Parts {
            subject: format!("Abgelehnt: {}{}", a.entitlement, for_whom),
            lines: denied_lines(a, Language::German),
            facts: vec![("Zeitraum", window)],
            action: "Ihre Anfragen ansehen",
        },
        MailKind::Granted => Parts {
            subject: format!("Zugriff erteilt: {}", a.entitlement),
            lines: vec![format!(
                "{} hat jetzt {}. Der Zugriff endet von selbst am {}.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Ihre Zugriffe ansehen",
        },
        MailKind::ExpiringSoon => Parts {
            subject: format!("Endet bald: {}", a.entitlement),
            lines: vec![format!(
                "Der Zugriff von {} auf {} endet am {}. Wird er noch gebraucht, beantragen Sie vorher eine Verlängerung.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Verlängern oder zurückgeben",
        },
        MailKind::Removed => Parts {
            subject: format!("Zugriff entfernt: {}", a.entitlement),
            lines: vec![format!(
                "Der Zugriff von {} auf {} wurde entfernt; das Zielsystem wurde erneut gelesen, um zu belegen, dass er weg ist.",
                a.beneficiary, a.entitlement
            )],
            facts: vec![],
            action: "Ihre Zugriffe ansehen",
        },
        MailKind::ReconciledAway => Parts {
            subject: format!("Zugriff ohne Freigabe entfernt: {}", a.entitlement),
            lines: vec![
                format!(
                    "{} hatte {} im Zielsystem ohne befristete Freigabe. Der Zugriff wurde {} entfernt; das Zielsystem wurde erneut gelesen, um zu belegen, dass er weg ist.",
                    a.beneficiary,
                    a.entitlement,
                    if a.requester.is_empty() {
                        "gemäß der Richtlinie des Eintrags".to_string()
                    } else {
                        format!("von {}", a.requester)
                    }
                ),
                "Wird der Zugriff gebraucht, beantragen Sie ihn im Portal. Verantwortliche können ein Dienstkonto mit Begründung als ständigen Inhaber erklären.".to_string(),
            ],
            facts: vec![],
            action: "Portal öffnen",
        },
        MailKind::TakenAway => Parts {
            subject: format!("Zugriff entzogen: {}", a.entitlement),
            lines: vec![format!(
                "{} hat den Zugriff von {} auf {} vor seinem Ende entzogen. Er wird jetzt entfernt; das Zielsystem wird danach erneut gelesen, um zu belegen, dass er weg ist.",
                a.requester, a.beneficiary, a.entitlement
            )],
            facts: vec![("Grund", crate::text::single_line(&a.comment))],
            action: "Portal öffnen",
        },
        MailKind::LapsingSoon => Parts {
            subject: format!("Noch nicht entschieden: {}", a.entitlement),
            lines: vec![format!(
                "Über die Anfrage für {}{} hat noch niemand entschieden. Sie verfällt am {}, wenn bis dahin nicht entschieden wird.",
                a.entitlement,
                for_whom,
                a.deadline
                    .map(|d| when(d, Language::German))
                    .unwrap_or_default()
            )],
            facts: request_facts(),
            action: "Anfrage ansehen",
        },
        MailKind::Lapsed => Parts {
            subject: format!("Unentschieden verfallen: {}", a.entitlement),
            lines: vec![format!(
                "Über die Anfrage für {}{} wurde nicht rechtzeitig entschieden; sie ist verfallen. Es wurde nichts erteilt; beantragen Sie den Zugriff erneut, wenn er noch gebraucht wird.",
                a.entitlement, for_whom
            )],
            facts: vec![],
            action: "Erneut beantragen",
        },
        MailKind::Overdue => Parts {
            subject: format!(
                "Überfällige Entfernung: {} von {}",
                a.entitlement, a.beneficiary
            ),
            lines: vec![format!(
                "Der Zugriff von {} auf {} hätte am {} enden sollen, konnte aber noch nicht entfernt werden. Das Portal versucht es weiter; bitte sehen Sie sich das Zielsystem an.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Verlauf ansehen",
        },
        MailKind::ContractorEnding => Parts {
            subject: format!("Zugang eines Externen endet bald: {}", a.beneficiary),
            lines: vec![format!(
                "Die Identität, die Sie für {} verantworten, endet am {} mit allen Zugriffen. Geht die Arbeit weiter, beantragen Sie vorher eine Verlängerung.",
                a.beneficiary,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Ihre Externen öffnen",
        },
        MailKind::ContractorStopped => Parts {
            subject: format!("Onboarding eines Externen angehalten: {}", a.beneficiary),
            lines: vec![
                format!(
                    "Die Identität für {}, verantwortet von {}, wurde nicht angelegt: ein Konto, das sie nutzen würde, besteht bereits und wurde nicht vom Portal für diese Person angelegt. Es wurde nichts angelegt oder geändert.",
                    a.beneficiary, a.requester
                ),
                "Die Administration muss klären, wem das Konto gehört, bevor das Onboarding weitergehen kann.".into(),
            ],
            facts: vec![("Gefunden", a.comment.clone())],
            action: "Externe Person ansehen",
        },
        MailKind::ReviewOpened => Parts {
            subject: format!("Zugriffsprüfung: {}", a.entitlement),
            lines: vec![
                format!(
                    "{} bittet Sie zu prüfen, wer Zugriff ohne befristete Freigabe hat: {}. Behalten Sie jedes Konto (mit Begründung und Ende) oder entfernen Sie es.",
                    a.requester, a.entitlement
                ),
                format!(
                    "Antworten Sie bis {}. Was dann unbeantwortet ist, folgt der Vorgabe der Prüfung.",
                    when(a.ends_at, Language::German)
                ),
            ],
            facts: vec![("Konten in der Prüfung", a.comment.clone())],
            action: "Prüfung öffnen",
        },
        MailKind::ReviewReminder => Parts {
            subject: format!("Erinnerung: Zugriffsprüfung {}", a.entitlement),
            lines: vec![format!(
                "In der Zugriffsprüfung {} warten noch Konten auf Ihre Antwort. Antworten Sie bis {}; was dann unbeantwortet ist, folgt der Vorgabe der Prüfung.",
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Prüfung öffnen",
        },
        MailKind::ReviewEscalated => Parts {
            subject: format!("Zugriffsprüfung wartet auf {}: {}", a.beneficiary, a.entitlement),
            lines: vec![format!(
                "{} hat die Zugriffsprüfung {} nicht abgeschlossen; sie endet am {}. Sie können die Konten jetzt an ihrer Stelle beantworten.",
                a.beneficiary,
                a.entitlement,
                when(a.ends_at, Language::German)
            )],
            facts: vec![],
            action: "Prüfung öffnen",
        },
    }
}

fn approved_lines(a: &About, language: Language) -> Vec<String> {
    let mut lines = vec![match language {
        Language::English => format!(
            "The request for {} was approved. The portal grants it for the time asked and removes it at the end.",
            a.entitlement
        ),
        Language::German => format!(
            "Die Anfrage für {} wurde genehmigt. Das Portal erteilt den Zugriff für den beantragten Zeitraum und entfernt ihn am Ende.",
            a.entitlement
        ),
    }];
    lines.extend(comment_line(a, language));
    lines
}

fn denied_lines(a: &About, language: Language) -> Vec<String> {
    let mut lines = vec![match language {
        Language::English => format!(
            "The request for {} was denied. Nothing was granted.",
            a.entitlement
        ),
        Language::German => format!(
            "Die Anfrage für {} wurde abgelehnt. Es wurde nichts erteilt.",
            a.entitlement
        ),
    }];
    lines.extend(comment_line(a, language));
    lines
}

fn comment_line(a: &About, language: Language) -> Option<String> {
    // Quoted on one line: a comment's line breaks cannot start a paragraph of the portal's.
    let comment = crate::text::single_line(&a.comment);
    (!comment.is_empty()).then(|| match language {
        Language::English => format!("The approver wrote: “{comment}”"),
        Language::German => format!("Die genehmigende Person schrieb: „{comment}“"),
    })
}

/// The Adaptive Card (version 1.4, which Teams renders) for a mail's content, wrapped in the
/// message a Teams Workflows webhook takes. A request that waits for a decision gets Approve
/// and Deny buttons; both only open the portal's decision page (`?intent=`), where the
/// approver signs in and decides: the card carries no token and nothing that grants.
pub fn card(kind: MailKind, language: Language, about: &About, link: &str) -> serde_json::Value {
    use serde_json::json;
    let about = &named_on_one_line(about);
    let parts = match language {
        Language::English => english(kind, about),
        Language::German => german(kind, about),
    };
    let mut body = vec![json!({
        "type": "TextBlock", "text": markdown_escape(&parts.subject), "weight": "Bolder",
        "size": "Medium", "wrap": true,
    })];
    for line in &parts.lines {
        body.push(json!({ "type": "TextBlock", "text": markdown_escape(line), "wrap": true }));
    }
    if !parts.facts.is_empty() {
        let facts: Vec<serde_json::Value> = parts
            .facts
            .iter()
            .map(|(title, value)| json!({ "title": title, "value": markdown_escape(value) }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    let decides = matches!(
        kind,
        MailKind::NewRequest | MailKind::Reminder | MailKind::Escalated | MailKind::Delegated
    );
    let actions = if decides {
        let (approve, deny) = match language {
            Language::English => ("Approve", "Deny"),
            Language::German => ("Genehmigen", "Ablehnen"),
        };
        let with = |intent: &str| {
            let separator = if link.contains('?') { '&' } else { '?' };
            format!("{link}{separator}intent={intent}")
        };
        vec![
            json!({ "type": "Action.OpenUrl", "title": approve, "url": with("approve"), "style": "positive" }),
            json!({ "type": "Action.OpenUrl", "title": deny, "url": with("deny"), "style": "destructive" }),
        ]
    } else {
        vec![json!({ "type": "Action.OpenUrl", "title": parts.action, "url": link })]
    };
    let card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "fallbackText": format!("{}: {link}", parts.subject),
        "body": body,
        "actions": actions,
    });
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Teams renders a subset of Markdown in card text; what people typed is shown as typed, never
/// as a link or emphasis.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '+'
                | '-'
                | '!'
                | '`'
                | '>'
                | '~'
                | '|'
                | '<'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `29 Nov 2026, 14:05 UTC` or `29.11.2026, 14:05 UTC`.
pub fn when(at: DateTime<Utc>, language: Language) -> String {
    match language {
        Language::English => at.format("%-d %b %Y, %H:%M UTC").to_string(),
        Language::German => at.format("%d.%m.%Y, %H:%M UTC").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About {
        let at = DateTime::parse_from_rfc3339("2026-11-29T14:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        About {
            entitlement: "Finance <reports>".into(),
            requester: "Adele Vance".into(),
            beneficiary: "Adele Vance".into(),
            starts_at: at,
            ends_at: at + chrono::TimeDelta::hours(2),
            justification: "Quarter close & audit".into(),
            ticket: Some("CHG-1".into()),
            approved: true,
            comment: String::new(),
            deadline: None,
        }
    }

    /// The layouts as a whole: paragraphs, the details, the action and the signature, in both
    /// bodies; a reason over two lines is quoted line by line in the plain text.
    #[test]
    fn the_layouts_put_the_parts_in_place() {
        let mut a = about();
        a.justification = "Quarter close\nand audit".into();
        let mail = render(
            MailKind::NewRequest,
            Language::English,
            &a,
            "https://p/a?x=1&y=2",
        );
        assert_eq!(
            mail.text,
            "Adele Vance asks for Finance <reports>. The request waits for your decision.\n\n\
             Access: Finance <reports>\nFor: Adele Vance\nAsked by: Adele Vance\n\
             When: 29 Nov 2026, 14:05 UTC to 29 Nov 2026, 16:05 UTC\nReason:\n  > Quarter close\n  \
             > and audit\nTicket: CHG-1\n\n\
             Open the request to approve or deny it: https://p/a?x=1&y=2\n\n-- \n\
             Sent by Leasegate, your organisation's access portal. You get this mail because of \
             your part in the request above.\n"
        );
        assert!(mail.html.starts_with("<!doctype html><html><body style="));
        assert!(mail.html.contains(
            "<p>Adele Vance asks for Finance &lt;reports&gt;. The request waits for your \
             decision.</p><table style="
        ));
        assert!(
            mail.html
                .contains(">Reason</th><td style=\"padding:2px 0\">Quarter close\nand audit</td>")
        );
        assert!(
            mail.html
                .contains(">CHG-1</td></tr></table><p><a href=\"https://p/a?x=1&amp;y=2\"")
        );
        assert!(
            mail.html
                .ends_with("your part in the request above.</p></body></html>")
        );
    }

    #[test]
    fn every_kind_has_both_languages_with_the_link() {
        for kind in MailKind::ALL {
            for language in Language::ALL {
                let mail = render(
                    *kind,
                    *language,
                    &about(),
                    "https://portal.test/approvals/1?a=1&b=2",
                );
                assert!(!mail.subject.is_empty());
                assert!(
                    mail.text
                        .contains("https://portal.test/approvals/1?a=1&b=2"),
                    "{kind}"
                );
                assert!(
                    mail.html
                        .contains("https://portal.test/approvals/1?a=1&amp;b=2"),
                    "{kind}"
                );
                assert!(!mail.html.contains("<reports>"), "{kind} escapes names");
            }
        }
    }

    #[test]
    fn cards_open_the_decision_page_and_show_text_as_typed() {
        let mut a = about();
        a.justification = "[click](http://evil.test) **now**".into();
        let card = card(
            MailKind::NewRequest,
            Language::English,
            &a,
            "https://p/approvals/7",
        );
        let content = &card["attachments"][0]["content"];
        assert_eq!(content["version"], "1.4");
        assert_eq!(
            content["actions"][0]["url"],
            "https://p/approvals/7?intent=approve"
        );
        assert_eq!(
            content["actions"][1]["url"],
            "https://p/approvals/7?intent=deny"
        );
        let text = content.to_string();
        assert!(
            text.contains(r"\\[click\\]\\(http://evil.test\\) \\*\\*now\\*\\*"),
            "{text}"
        );
        let granted = super::card(
            MailKind::Granted,
            Language::German,
            &a,
            "https://p/my-access",
        );
        let actions = &granted["attachments"][0]["content"]["actions"];
        assert_eq!(actions.as_array().unwrap().len(), 1);
        assert_eq!(actions[0]["title"], "Ihre Zugriffe ansehen");
    }

    #[test]
    fn german_mail_is_german() {
        let mail = render(
            MailKind::NewRequest,
            Language::German,
            &about(),
            "https://p/",
        );
        assert_eq!(
            mail.subject,
            "Genehmigung erforderlich: Finance <reports> für Adele Vance"
        );
        assert!(
            mail.text
                .contains("29.11.2026, 14:05 UTC bis 29.11.2026, 16:05 UTC")
        );
        assert!(mail.html.contains("Quarter close &amp; audit"));
        let english = render(
            MailKind::NewRequest,
            Language::English,
            &about(),
            "https://p/",
        );
        assert!(
            english
                .text
                .contains("29 Nov 2026, 14:05 UTC to 29 Nov 2026, 16:05 UTC")
        );
    }

    #[test]
    fn typed_line_breaks_cannot_forge_a_detail_line() {
        let mut a = about();
        a.justification = "Quarter close\r\nApproved by: Megan Bowen\nBcc: all@contoso.test".into();
        a.requester = "Adele\nWhen: forever".into();
        a.comment = "fine\n\nAccess: Domain Admins".into();
        for kind in [MailKind::NewRequest, MailKind::Decided] {
            for language in Language::ALL {
                let mail = render(kind, *language, &a, "https://p/");
                for line in mail.text.lines() {
                    for forged in ["Approved by:", "Bcc:", "When: forever", "Access: Domain"] {
                        assert!(!line.starts_with(forged), "{kind} {language:?}: {line:?}");
                    }
                }
                assert!(!mail.html.contains("<tr><th scope=\"row\" style=\"text-align:left;padding:2px 12px 2px 0;vertical-align:top\">Bcc"));
            }
        }
        let mail = render(MailKind::NewRequest, Language::English, &a, "https://p/");
        assert!(
            mail.text.contains("Reason:\n  > Quarter close\n  > Approved by: Megan Bowen\n  > Bcc: all@contoso.test\n"),
            "{}",
            mail.text
        );
    }

    #[test]
    fn a_denial_says_so_and_quotes_the_approver() {
        let mut a = about();
        a.approved = false;
        a.comment = "Use the <read-only> group".into();
        let mail = render(MailKind::Decided, Language::English, &a, "https://p/");
        assert!(mail.subject.starts_with("Denied"));
        assert!(mail.text.contains("“Use the <read-only> group”"));
        assert!(mail.html.contains("Use the &lt;read-only&gt; group"));
    }
}
