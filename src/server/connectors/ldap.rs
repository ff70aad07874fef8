//! `LdapDirectory`: Active Directory, and any LDAP v3 directory with `groupOfNames` groups.
//!
//! Access is membership: the target is a group DN, the account a user DN, and granting adds the
//! user to the group's `member` values. Simple bind with a service account, always over TLS
//! (LDAPS or StartTLS): AD refuses simple binds in clear, and so should everyone.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry, ldap_escape,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use base64::Engine as _;

use super::{
    Account, Connector, ConnectorError, DirectoryPerson, Health, Lease, PeoplePass, Receipt, Target,
};
use crate::domain::access::Access;
use crate::domain::policy::normalise_dn;

/// AD's "permissive modify": adding a value that is there, or deleting one that is not,
/// succeeds instead of failing. Samba and OpenLDAP honour it too; where a server does not, the
/// batch falls back to one value at a time.
const PERMISSIVE_MODIFY: &str = "1.2.840.113556.1.4.1413";
/// AD's transitive ("in chain") matching rule for nested group membership.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// rootDSE capability that marks an Active Directory (or Samba AD) domain controller.
const AD_CAPABILITY: &str = "1.2.840.113556.1.4.800";
/// Deepest group nesting followed on directories without the in-chain rule.
const MAX_NESTING: usize = 16;
/// Reads in flight at once when many accounts are read (ldap3 multiplexes one connection).
const PARALLEL_READS: usize = 8;
/// Stable ids looked up by one search (an OR filter).
const IDS_PER_SEARCH: usize = 100;
/// AD's `userAccountControl` flag for a disabled account.
const ACCOUNT_DISABLE: u32 = 0x2;
/// People only. AD computer accounts are `user` objects too, and must never match; OpenLDAP
/// does not know AD's classes (a filter naming them is undefined there, not false), so each
/// flavour gets its own.
fn person_filter(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::ActiveDirectory => "(objectClass=user)(!(objectClass=computer))",
        Flavour::Generic => "(objectClass=person)",
    }
}

/// Which attribute of the directory's user holds the person's Entra sign-in name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AccountAttribute {
    #[serde(rename = "userPrincipalName")]
    UserPrincipalName,
    /// The part of the UPN before `@`.
    #[serde(rename = "sAMAccountName")]
    SamAccountName,
    #[serde(rename = "mail")]
    Mail,
    #[serde(rename = "uid")]
    Uid,
}

impl AccountAttribute {
    fn name(self) -> &'static str {
        match self {
            Self::UserPrincipalName => "userPrincipalName",
            Self::SamAccountName => "sAMAccountName",
            Self::Mail => "mail",
            Self::Uid => "uid",
        }
    }

    fn value_for(self, upn: &str) -> String {
        match self {
            Self::SamAccountName | Self::Uid => upn.split('@').next().unwrap_or(upn).to_string(),
            Self::UserPrincipalName | Self::Mail => upn.to_string(),
        }
    }

    /// Keeps only part of the UPN, so the UPN's domain must be checked separately.
    pub fn drops_domain(self) -> bool {
        matches!(self, Self::SamAccountName | Self::Uid)
    }
}

/// An LDAP directory as the catalog declares it (`kind = "ldap"`). The password itself is
/// never in the file: it comes from the environment variable or file named here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with `starttls = true`.
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// A PEM file with the CA certificate(s) the server's certificate chains to; the system's
    /// trust store when absent.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Skip certificate verification: for labs only, and logged as a warning at every connect.
    #[serde(default)]
    pub tls_skip_verify: bool,
    pub bind_dn: String,
    /// Where user accounts are searched for.
    pub user_base: String,
    /// Where groups live (nested-group searches start here).
    pub group_base: String,
    #[serde(default = "LdapSettings::default_account_attribute")]
    pub account_attribute: AccountAttribute,
    /// Seconds before a call counts as failed.
    #[serde(default = "LdapSettings::default_timeout")]
    pub timeout_seconds: u64,
    /// The UPN domains this directory's people sign in with. Required with `sAMAccountName` or
    /// `uid`, which keep only the part before `@`: `adele@fabrikam.test` must not become
    /// contoso's `adele`.
    #[serde(default)]
    pub upn_domains: Vec<String>,
}

impl LdapSettings {
    fn default_account_attribute() -> AccountAttribute {
        AccountAttribute::UserPrincipalName
    }

    fn default_timeout() -> u64 {
        10
    }
}

/// What the directory turned out to be, learnt from its rootDSE at first connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    ActiveDirectory,
    Generic,
}

pub struct LdapDirectory {
    name: String,
    settings: LdapSettings,
    password: crate::server::app::config::Secret,
    tls: Option<Arc<rustls::ClientConfig>>,
    session: Mutex<Option<(Ldap, Flavour)>>,
    /// Where lookups by stable id search (see `id_search_base`), once read.
    id_base: std::sync::OnceLock<String>,
}

impl LdapDirectory {
    pub fn new(
        name: impl Into<String>,
        settings: LdapSettings,
        password: crate::server::app::config::Secret,
    ) -> Result<Self, ConnectorError> {
        let scheme_is_tls = settings.url.starts_with("ldaps://");
        if !scheme_is_tls && !settings.starttls {
            return Err(ConnectorError::Permanent(
                "LDAP connections must be encrypted: use an ldaps:// URL or starttls = true".into(),
            ));
        }
        let tls = match (&settings.ca_file, settings.tls_skip_verify) {
            (_, true) => None,
            (Some(path), false) => Some(Arc::new(client_config_with_ca(path)?)),
            (None, false) => None,
        };
        Ok(Self {
            name: name.into(),
            settings,
            password,
            tls,
            session: Mutex::new(None),
            id_base: std::sync::OnceLock::new(),
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.max(1))
    }

    /// A directory gives group membership, nothing else.
    fn groups_only(&self, access: &Access) -> Result<(), ConnectorError> {
        match access {
            Access::AdGroup => Ok(()),
            other => Err(ConnectorError::unsupported(&self.name, other)),
        }
    }

    /// The shared, bound connection; opened (again) when there is none or it has closed.
    async fn connection(&self) -> Result<(Ldap, Flavour), ConnectorError> {
        let mut guard = self.session.lock().await;
        if let Some((ldap, flavour)) = guard.as_mut()
            && !ldap.is_closed()
        {
            return Ok((ldap.clone(), *flavour));
        }
        let mut conn_settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.settings.starttls);
        if self.settings.tls_skip_verify {
            tracing::warn!(
                connector = %self.name,
                "TLS certificate verification is OFF for this directory (tls_skip_verify); use only in a lab"
            );
            conn_settings = conn_settings.set_no_tls_verify(true);
        } else if let Some(config) = &self.tls {
            conn_settings = conn_settings.set_config(config.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &self.settings.url)
            .await
            .map_err(map_error)?;
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(connector = %name, error = %e, "LDAP connection closed");
            }
        });
        ldap.with_timeout(self.timeout())
            .simple_bind(&self.settings.bind_dn, self.password.expose())
            .await
            .map_err(map_error)?
            .success()
            .map_err(map_error)?;
        let flavour = detect_flavour(&mut ldap, self.timeout()).await?;
        *guard = Some((ldap.clone(), flavour));
        Ok((ldap, flavour))
    }

    /// Passes an outcome through; a connection-level failure drops the cached connection so
    /// the next call reconnects.
    async fn forget_if_broken<T>(
        &self,
        result: Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        if let Err(ConnectorError::Transient(_)) = &result {
            *self.session.lock().await = None;
        }
        result
    }

    async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, ConnectorError> {
        self.forget_if_broken(self.search_paged(base, scope, filter, attrs).await)
            .await
    }

    async fn search_paged(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, ConnectorError> {
        let (mut ldap, _) = self.connection().await?;
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(500)),
        ];
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let mut stream = ldap
            .with_timeout(self.timeout())
            .streaming_search_with(adapters, base, scope, filter, attrs)
            .await
            .map_err(map_error)?;
        let mut entries = Vec::new();
        while let Some(entry) = stream.next().await.map_err(map_error)? {
            entries.push(SearchEntry::construct(entry));
        }
        let result = stream.finish().await;
        match result.rc {
            0 => Ok(entries),
            // The base itself is missing: no entries, not a failure of the directory.
            32 => Ok(Vec::new()),
            _ => Err(map_error(LdapError::LdapResult { result })),
        }
    }

    async fn entry(&self, dn: &str, attrs: &[&str]) -> Result<Option<SearchEntry>, ConnectorError> {
        Ok(self
            .search(dn, Scope::Base, "(objectClass=*)", attrs)
            .await?
            .into_iter()
            .next())
    }

    async fn modify_members(
        &self,
        target: &str,
        accounts: &[String],
        add: bool,
    ) -> Result<(), ConnectorError> {
        if accounts.is_empty() {
            return Ok(());
        }
        self.forget_if_broken(self.modify_members_once(target, accounts, add).await)
            .await
    }

    async fn modify_members_once(
        &self,
        target: &str,
        accounts: &[String],
        add: bool,
    ) -> Result<(), ConnectorError> {
        let (mut ldap, _) = self.connection().await?;
        let values: HashSet<&str> = accounts.iter().map(String::as_str).collect();
        let modification = member_change(add, values);
        let result = ldap
            .with_controls(RawControl {
                ctype: PERMISSIVE_MODIFY.to_string(),
                crit: false,
                val: None,
            })
            .with_timeout(self.timeout())
            .modify(target, vec![modification])
            .await
            .map_err(map_error)?;
        match result.rc {
            0 => Ok(()),
            rc if is_already_done(rc, add) => {
                // The server ignored permissive modify: one value at a time, where "already
                // a member" and "already gone" count as done.
                for account in accounts {
                    let modification = member_change(add, HashSet::from([account.as_str()]));
                    let single = ldap
                        .with_timeout(self.timeout())
                        .modify(target, vec![modification])
                        .await
                        .map_err(map_error)?;
                    if single.rc != 0 && !is_already_done(single.rc, add) {
                        return Err(map_error(LdapError::LdapResult { result: single }));
                    }
                }
                Ok(())
            }
            _ => Err(map_error(LdapError::LdapResult { result })),
        }
    }

    /// All values of the group's `member`, following AD's ranged retrieval
    /// (`member;range=0-1499`, then `member;range=1500-*`...) when the server uses it.
    async fn members(&self, group: &str) -> Result<Vec<String>, ConnectorError> {
        let Some(entry) = self.entry(group, &["member"]).await? else {
            return Err(ConnectorError::Permanent(format!("no such group: {group}")));
        };
        let mut members = Vec::new();
        let mut next = collect_range(&entry, &mut members);
        while let Some(low) = next {
            let attr = format!("member;range={low}-*");
            let Some(entry) = self.entry(group, &[attr.as_str()]).await? else {
                break;
            };
            next = collect_range(&entry, &mut members);
        }
        Ok(members)
    }

    async fn is_group(&self, dn: &str) -> Result<bool, ConnectorError> {
        let entry = self.entry(dn, &["objectClass"]).await?;
        Ok(entry.is_some_and(|e| {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("objectClass"))
                .is_some_and(|(_, classes)| {
                    classes.iter().any(|c| {
                        ["group", "groupOfNames", "groupOfUniqueNames"]
                            .iter()
                            .any(|g| c.eq_ignore_ascii_case(g))
                    })
                })
        }))
    }

    fn to_account(&self, entry: SearchEntry) -> Account {
        let first = |name: &str| first_value(&entry, name);
        let upn = match self.settings.account_attribute {
            AccountAttribute::UserPrincipalName => first("userPrincipalName"),
            AccountAttribute::Mail => first("mail"),
            AccountAttribute::SamAccountName | AccountAttribute::Uid => {
                first("userPrincipalName").or_else(|| first("mail"))
            }
        };
        let disabled_in_ad = first("userAccountControl")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|flags| flags & ACCOUNT_DISABLE != 0);
        let locked_in_openldap = first("pwdAccountLockedTime").is_some();
        // AD stops an account at its `accountExpires` without touching its flags (and Entra
        // does not enforce it at sign-in in a hybrid estate): past it, the account is disabled.
        let expired = first("accountExpires")
            .and_then(|v| account_expires(&v))
            .is_some_and(|at| at <= Utc::now());
        Account {
            upn,
            stable_id: stable_id(&entry),
            enabled: !disabled_in_ad && !locked_in_openldap && !expired,
            display_name: first("displayName").or_else(|| first("cn")),
            department: first("department").or_else(|| first("departmentNumber")),
            manager: first("manager"),
            in_scope: within(&entry.dn, &self.settings.user_base),
            reference: entry.dn,
        }
    }

    /// Where objects are looked up by stable id: the whole naming context that holds
    /// `user_base` (AD's `defaultNamingContext`; else the rootDSE's `namingContexts` entry that
    /// `user_base` lies in), so an account renamed and moved out of `user_base` is still found.
    /// Read once; `user_base` when the rootDSE names none.
    async fn id_search_base(&self) -> Result<String, ConnectorError> {
        if let Some(base) = self.id_base.get() {
            return Ok(base.clone());
        }
        let root = self
            .entry("", &["defaultNamingContext", "namingContexts"])
            .await?
            .ok_or_else(|| ConnectorError::Transient("the rootDSE did not answer".into()))?;
        let user_base = &self.settings.user_base;
        let base = first_value(&root, "defaultNamingContext")
            .filter(|context| within(user_base, context))
            .or_else(|| {
                root.attrs
                    .get("namingContexts")
                    .into_iter()
                    .flatten()
                    .find(|context| within(user_base, context))
                    .cloned()
            })
            .unwrap_or_else(|| user_base.clone());
        let _ = self.id_base.set(base.clone());
        Ok(base)
    }

    /// Does this UPN belong to the people of this directory? Always, when the account
    /// attribute holds the whole UPN; else only for the declared domains.
    fn owns_upn(&self, upn: &str) -> bool {
        if !self.settings.account_attribute.drops_domain() {
            return true;
        }
        let Some((_, domain)) = upn.rsplit_once('@') else {
            return false;
        };
        self.settings
            .upn_domains
            .iter()
            .any(|d| d.trim().eq_ignore_ascii_case(domain.trim()))
    }

    /// The filter term that finds an object by its stable id: AD's binary `objectGUID` (in
    /// AD's byte order), else `entryUUID`.
    fn by_id_term(flavour: Flavour, stable_id: &str) -> Result<String, ConnectorError> {
        let id = uuid::Uuid::parse_str(stable_id.trim())
            .map_err(|_| ConnectorError::Permanent(format!("`{stable_id}` is not a stable id")))?;
        Ok(match flavour {
            Flavour::ActiveDirectory => {
                let escaped: String = id
                    .to_bytes_le()
                    .iter()
                    .map(|b| format!("\\{b:02x}"))
                    .collect();
                format!("(objectGUID={escaped})")
            }
            Flavour::Generic => format!("(entryUUID={})", id.hyphenated()),
        })
    }

    /// `(|(id=a)(id=b)...)` for up to [`IDS_PER_SEARCH`] ids.
    async fn by_ids_filter(&self, stable_ids: &[String]) -> Result<String, ConnectorError> {
        let (_, flavour) = self.connection().await?;
        let terms: Vec<String> = stable_ids
            .iter()
            .map(|id| Self::by_id_term(flavour, id))
            .collect::<Result<_, _>>()?;
        Ok(format!("(|{})", terms.concat()))
    }

    async fn one(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        what: &str,
    ) -> Result<Option<SearchEntry>, ConnectorError> {
        let mut found = self.search(base, Scope::Subtree, filter, attrs).await?;
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(ConnectorError::Permanent(format!(
                "{n} entries match {what}; the match must be unique"
            ))),
        }
    }
}

fn first_value(entry: &SearchEntry, name: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
}

/// AD's `objectGUID` (16 bytes, mixed-endian) as a GUID string, else OpenLDAP's `entryUUID`.
fn stable_id(entry: &SearchEntry) -> Option<String> {
    guid_attr(entry, "objectGUID")
        .or_else(|| first_value(entry, "entryUUID").map(|v| v.to_ascii_lowercase()))
}

fn to_target(entry: SearchEntry) -> Target {
    Target {
        stable_id: stable_id(&entry),
        reference: entry.dn,
    }
}

/// What the people sync reads of a person besides the account's attributes.
/// (`accountExpires` is among the account's own attributes.)
const PERSON_EXTRA_ATTRS: [&str; 3] = ["title", "uSNChanged", "mS-DS-ConsistencyGuid"];

/// Where an Active Directory people pass left off: the domain controller's database
/// (`invocationId`, which changes when it is restored from a backup) and its
/// `highestCommittedUSN` when the pass began.
fn parse_usn_cursor(cursor: &str) -> Option<(&str, u64)> {
    let rest = cursor.strip_prefix("ad-usn:")?;
    let (invocation, usn) = rest.rsplit_once(':')?;
    Some((invocation, usn.parse().ok()?))
}

const ACCOUNT_ATTRS: [&str; 14] = [
    "userPrincipalName",
    "mail",
    "displayName",
    "cn",
    "department",
    "departmentNumber",
    "manager",
    "sAMAccountName",
    "uid",
    "objectGUID",
    "entryUUID",
    "userAccountControl",
    "pwdAccountLockedTime",
    "accountExpires",
];

const TARGET_ATTRS: [&str; 2] = ["objectGUID", "entryUUID"];

/// Groups the portal can manage membership of.
const GROUP_FILTER: &str =
    "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))";

impl LdapDirectory {
    /// The people sync's pass (`docs/people-sync.md`). Active Directory: Microsoft's
    /// "polling for changes using uSNChanged": everyone the first time (or when the domain
    /// controller is another database than last time), then those whose `uSNChanged` is above
    /// the `highestCommittedUSN` read before the last pass began. Deletions are seen only by
    /// complete passes (incremental ones would need the Deleted Objects container, which only
    /// administrators may read). Other LDAP directories have no change numbers: every pass is
    /// complete.
    async fn people_pass(&self, cursor: Option<&str>) -> Result<PeoplePass, ConnectorError> {
        let (_, flavour) = self.connection().await?;
        let people = person_filter(flavour);
        let directory = Some(self.directory_identity().await?);
        if flavour == Flavour::Generic {
            let entries = self
                .search(
                    &self.settings.user_base,
                    Scope::Subtree,
                    &format!("(&{people})"),
                    &person_attrs(),
                )
                .await?;
            return Ok(PeoplePass {
                changed: entries.into_iter().map(|e| self.to_person(e)).collect(),
                removed: Vec::new(),
                cursor: "full".into(),
                complete: true,
                tenant: None,
                directory,
            });
        }
        let root = self
            .entry("", &["highestCommittedUSN", "dsServiceName"])
            .await?
            .ok_or_else(|| ConnectorError::Transient("the rootDSE did not answer".into()))?;
        let usn: u64 = first_value(&root, "highestCommittedUSN")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ConnectorError::Permanent("the directory gives no highestCommittedUSN".into())
            })?;
        let service = first_value(&root, "dsServiceName").unwrap_or_default();
        let invocation = self
            .entry(&service, &["invocationId"])
            .await?
            .and_then(|e| guid_attr(&e, "invocationId"))
            .unwrap_or_default();
        let since = cursor
            .and_then(parse_usn_cursor)
            .filter(|(was, _)| *was == invocation && !invocation.is_empty())
            .map(|(_, usn)| usn);
        let filter = match since {
            Some(last) => format!("(&{people}(uSNChanged>={}))", last + 1),
            None => format!("(&{people})"),
        };
        let entries = self
            .search(
                &self.settings.user_base,
                Scope::Subtree,
                &filter,
                &person_attrs(),
            )
            .await?;
        Ok(PeoplePass {
            changed: entries.into_iter().map(|e| self.to_person(e)).collect(),
            removed: Vec::new(),
            cursor: format!("ad-usn:{invocation}:{usn}"),
            complete: since.is_none(),
            tenant: None,
            directory,
        })
    }

    /// Which directory this is: the naming context that holds `user_base`, by its stable id
    /// (a re-provisioned or migrated domain of the same name has another).
    async fn directory_identity(&self) -> Result<String, ConnectorError> {
        let base = self.id_search_base().await?;
        let entry = self
            .entry(&base, &["objectGUID", "entryUUID"])
            .await?
            .ok_or_else(|| ConnectorError::Transient(format!("{base} did not answer")))?;
        let id = stable_id(&entry).ok_or_else(|| {
            ConnectorError::Permanent(format!("{base} has no objectGUID or entryUUID"))
        })?;
        Ok(format!("{base} ({id})"))
    }

    fn to_person(&self, entry: SearchEntry) -> DirectoryPerson {
        let mail = first_value(&entry, "mail");
        let job_title = first_value(&entry, "title");
        // Entra Connect's source anchor: `mS-DS-ConsistencyGuid` where it is set (newer
        // Connect versions fill it by copying `objectGUID`), else `objectGUID` itself.
        let anchor = guid_bytes(&entry, "mS-DS-ConsistencyGuid")
            .or_else(|| guid_bytes(&entry, "objectGUID"))
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes));
        let leaves_at = first_value(&entry, "accountExpires").and_then(|v| account_expires(&v));
        DirectoryPerson {
            account: self.to_account(entry),
            mail,
            job_title,
            guest: false,
            anchor,
            leaves_at,
        }
    }
}

/// AD's `accountExpires`: 100-nanosecond intervals since 1601-01-01 UTC; 0 and the largest
/// value mean never (MS-ADA1 2.12; the Users and Computers console writes both).
fn account_expires(value: &str) -> Option<DateTime<Utc>> {
    const SECONDS_1601_TO_1970: i64 = 11_644_473_600;
    let ticks: i64 = value.trim().parse().ok()?;
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    DateTime::from_timestamp(ticks / 10_000_000 - SECONDS_1601_TO_1970, 0)
}

fn person_attrs() -> Vec<&'static str> {
    ACCOUNT_ATTRS
        .iter()
        .chain(PERSON_EXTRA_ATTRS.iter())
        .copied()
        .collect()
}

/// A binary GUID attribute's 16 bytes, as stored.
fn guid_bytes(entry: &SearchEntry, name: &str) -> Option<[u8; 16]> {
    let bytes = entry
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
        // Sixteen random bytes are now and then valid UTF-8, and then arrive as text.
        .or_else(|| first_value(entry, name).map(String::into_bytes))?;
    <[u8; 16]>::try_from(bytes.as_slice()).ok()
}

fn guid_attr(entry: &SearchEntry, name: &str) -> Option<String> {
    guid_bytes(entry, name).map(|b| uuid::Uuid::from_bytes_le(b).hyphenated().to_string())
}

#[async_trait]
impl Connector for LdapDirectory {
    fn identities(&self) -> Option<&dyn super::ExternalIdentities> {
        Some(self)
    }

    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        let upn = upn.trim();
        if !self.owns_upn(upn) {
            return Ok(None);
        }
        let attribute = self.settings.account_attribute;
        let filter = format!(
            "(&{}({}={}))",
            person_filter(self.connection().await?.1),
            attribute.name(),
            ldap_escape(attribute.value_for(upn))
        );
        let what = format!("{}={upn}", attribute.name());
        Ok(self
            .one(&self.settings.user_base, &filter, &ACCOUNT_ATTRS, &what)
            .await?
            .map(|e| self.to_account(e)))
    }

    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        Ok(self
            .entry(reference, &ACCOUNT_ATTRS)
            .await?
            .map(|e| self.to_account(e)))
    }

    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        let found: Vec<Result<Option<Account>, ConnectorError>> = futures::stream::iter(
            references
                .iter()
                .cloned()
                .map(|r| async move { self.account(&r).await }),
        )
        .buffered(PARALLEL_READS)
        .collect()
        .await;
        found.into_iter().filter_map(Result::transpose).collect()
    }

    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        let chunks: Vec<Vec<String>> = stable_ids
            .chunks(IDS_PER_SEARCH)
            .map(<[String]>::to_vec)
            .collect();
        let base = self.id_search_base().await?;
        let searches = chunks.into_iter().map(|ids| {
            let base = base.clone();
            async move {
                let filter = format!(
                    "(&{}{})",
                    person_filter(self.connection().await?.1),
                    self.by_ids_filter(&ids).await?
                );
                self.search(&base, Scope::Subtree, &filter, &ACCOUNT_ATTRS)
                    .await
            }
        });
        let found: Vec<Result<Vec<SearchEntry>, ConnectorError>> = futures::stream::iter(searches)
            .buffered(PARALLEL_READS)
            .collect()
            .await;
        let mut accounts = Vec::new();
        for entries in found {
            accounts.extend(entries?.into_iter().map(|e| self.to_account(e)));
        }
        Ok(accounts)
    }

    async fn target(
        &self,
        _access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        let found = self
            .search(reference, Scope::Base, GROUP_FILTER, &TARGET_ATTRS)
            .await?;
        Ok(found.into_iter().next().map(to_target))
    }

    async fn target_by_id(
        &self,
        _access: &Access,
        stable_id: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        let filter = format!(
            "(&{GROUP_FILTER}{})",
            self.by_ids_filter(std::slice::from_ref(&stable_id.to_string()))
                .await?
        );
        Ok(self
            .one(&self.settings.group_base, &filter, &TARGET_ATTRS, stable_id)
            .await?
            .map(to_target))
    }

    async fn grant(
        &self,
        access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        self.groups_only(access)?;
        let accounts: Vec<String> = leases.iter().map(|l| l.account.clone()).collect();
        self.modify_members(target, &accounts, true).await?;
        Ok(Vec::new())
    }

    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        self.groups_only(access)?;
        self.modify_members(target, accounts, false).await
    }

    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        self.groups_only(access)?;
        // A few accounts: ask about each; many: read the member list once.
        if accounts.len() > 16 {
            let members: HashSet<String> = self
                .members(target)
                .await?
                .iter()
                .map(|m| normalise_dn(m))
                .collect();
            return Ok(accounts
                .iter()
                .filter(|a| members.contains(&normalise_dn(a)))
                .cloned()
                .collect());
        }
        let mut holding = Vec::new();
        for account in accounts {
            let filter = format!("(member={})", ldap_escape(account.as_str()));
            if !self
                .search(target, Scope::Base, &filter, &["1.1"])
                .await?
                .is_empty()
            {
                holding.push(account.clone());
            }
        }
        Ok(holding)
    }

    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        self.members(target).await
    }

    fn lists_holders_of(&self, access: &Access) -> bool {
        *access == Access::AdGroup
    }

    async fn holders_of(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        self.groups_only(access)?;
        self.members(target).await
    }

    async fn holders_version(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.groups_only(access)?;
        // AD raises a group's uSNChanged with every change to it, its member links included;
        // OpenLDAP stamps each change with a new entryCSN. Both only grow.
        let Some(entry) = self.entry(target, &["uSNChanged", "entryCSN"]).await? else {
            return Err(ConnectorError::Permanent(format!(
                "no such group: {target}"
            )));
        };
        Ok(["uSNChanged", "entryCSN"].iter().find_map(|name| {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, values)| values.first())
                .map(|value| format!("{name}={value}"))
        }))
    }

    fn account_key(&self, reference: &str) -> String {
        crate::domain::policy::normalise_dn(reference)
    }

    async fn indirect_paths(
        &self,
        target: &str,
        account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let (_, flavour) = self.connection().await?;
        if flavour == Flavour::ActiveDirectory {
            let filter = format!(
                "(&(objectClass=group)(member={})(memberOf:{IN_CHAIN}:={}))",
                ldap_escape(account),
                ldap_escape(target)
            );
            let found = self
                .search(&self.settings.group_base, Scope::Subtree, &filter, &["1.1"])
                .await?;
            return Ok(found.into_iter().map(|e| e.dn).collect());
        }
        // Walk down from the target through member groups, breadth first.
        let mut paths = Vec::new();
        let mut seen = BTreeSet::from([normalise_dn(target)]);
        let mut queue = VecDeque::from([(target.to_string(), 0usize)]);
        let account = normalise_dn(account);
        while let Some((group, depth)) = queue.pop_front() {
            let members = self.members(&group).await?;
            if depth > 0 && members.iter().any(|m| normalise_dn(m) == account) {
                paths.push(group.clone());
            }
            if depth >= MAX_NESTING {
                continue;
            }
            for member in members {
                let key = normalise_dn(&member);
                if key != account && !seen.contains(&key) && self.is_group(&member).await? {
                    seen.insert(key);
                    queue.push_back((member, depth + 1));
                }
            }
        }
        Ok(paths)
    }

    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        let (_, flavour) = self.connection().await?;
        if flavour == Flavour::ActiveDirectory {
            let filter = format!("(member:{IN_CHAIN}:={})", ldap_escape(account));
            let found = self
                .search(&self.settings.group_base, Scope::Subtree, &filter, &["1.1"])
                .await?;
            return Ok(found.into_iter().map(|e| e.dn).collect());
        }
        // Walk up: the groups that list the account, then the groups that list those.
        let mut groups: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut frontier = vec![account.to_string()];
        for _ in 0..MAX_NESTING {
            let mut next = Vec::new();
            for member in &frontier {
                let filter = format!("(member={})", ldap_escape(member.as_str()));
                for entry in self
                    .search(&self.settings.group_base, Scope::Subtree, &filter, &["1.1"])
                    .await?
                {
                    if seen.insert(normalise_dn(&entry.dn)) {
                        groups.push(entry.dn.clone());
                        next.push(entry.dn);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(groups)
    }

    async fn people(&self, cursor: Option<&str>) -> Result<PeoplePass, ConnectorError> {
        self.people_pass(cursor).await
    }

    async fn health(&self) -> Health {
        let probe = async {
            let (mut ldap, _) = self.connection().await?;
            ldap.with_timeout(self.timeout())
                .search("", Scope::Base, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(map_error)?
                .success()
                .map_err(map_error)?;
            Ok::<_, ConnectorError>(())
        };
        match self.forget_if_broken(probe.await).await {
            Ok(()) => Health::Healthy,
            Err(e) => Health::Down(e.to_string()),
        }
    }
}

async fn detect_flavour(ldap: &mut Ldap, timeout: Duration) -> Result<Flavour, ConnectorError> {
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["supportedCapabilities"],
        )
        .await
        .map_err(map_error)?
        .success()
        .map_err(map_error)?;
    let is_ad = entries.into_iter().any(|e| {
        SearchEntry::construct(e)
            .attrs
            .values()
            .flatten()
            .any(|v| v == AD_CAPABILITY)
    });
    Ok(if is_ad {
        Flavour::ActiveDirectory
    } else {
        Flavour::Generic
    })
}

/// Adds the values of `member` (or of its ranged form) to `into`; returns where the next range
/// starts when the server sent only part of them.
fn collect_range(entry: &SearchEntry, into: &mut Vec<String>) -> Option<usize> {
    for (name, values) in &entry.attrs {
        let lower = name.to_ascii_lowercase();
        if lower == "member" {
            into.extend(values.iter().cloned());
            return None;
        }
        if let Some(range) = lower.strip_prefix("member;range=") {
            into.extend(values.iter().cloned());
            let (_, high) = range.split_once('-')?;
            if high == "*" {
                return None;
            }
            return high.parse::<usize>().ok().map(|h| h + 1);
        }
    }
    None
}

fn member_change(add: bool, values: HashSet<&str>) -> Mod<&str> {
    if add {
        Mod::Add("member", values)
    } else {
        Mod::Delete("member", values)
    }
}

/// Result codes that mean the membership is already as asked: "already there" when adding
/// (attributeOrValueExists 20, AD's entryAlreadyExists 68), "already gone" when removing
/// (noSuchAttribute 16, AD's unwillingToPerform 53 for "not a member").
fn is_already_done(rc: u32, add: bool) -> bool {
    if add {
        matches!(rc, 20 | 68)
    } else {
        matches!(rc, 16 | 53)
    }
}

/// Sorts an LDAP failure into what the engine should do about it.
fn map_error(error: LdapError) -> ConnectorError {
    match error {
        LdapError::LdapResult { result } => {
            let detail = format!("LDAP result {}: {}", result.rc, result.text.trim());
            match result.rc {
                // busy
                51 => ConnectorError::Throttled {
                    retry_after: Duration::from_secs(5),
                    detail,
                },
                // timeLimitExceeded, adminLimitExceeded, unavailable, other (AD's transient
                // catch-all), loopDetect aside
                3 | 11 | 52 | 80 => ConnectorError::Transient(detail),
                _ => ConnectorError::Permanent(detail),
            }
        }
        LdapError::UrlParsing { .. }
        | LdapError::UnknownScheme(_)
        | LdapError::FilterParsing
        | LdapError::EmptyUnixPath
        | LdapError::PortInUnixPath => ConnectorError::Permanent(error.to_string()),
        LdapError::Io { source } if is_certificate_problem(&source) => ConnectorError::Permanent(
            format!("the directory's TLS certificate was not accepted: {source}"),
        ),
        other => ConnectorError::Transient(other.to_string()),
    }
}

/// A TLS certificate the portal does not trust will not become trusted by retrying: an unknown
/// issuer, or one signed by another key under a trusted CA's name (`BadSignature`).
fn is_certificate_problem(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
}

fn client_config_with_ca(path: &str) -> Result<rustls::ClientConfig, ConnectorError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ConnectorError::Permanent(format!("cannot read CA file {path}: {e}")))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| ConnectorError::Permanent(format!("bad certificate in {path}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| ConnectorError::Permanent(format!("unusable CA in {path}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ConnectorError::Permanent(format!(
            "no certificate found in CA file {path}"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::Permanent(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// `userAccountControl` of a normal account.
const NORMAL_ACCOUNT: u32 = 0x200;

/// Windows file time (100 ns since 1601) of an instant, as `accountExpires` holds it.
fn windows_ticks(at: DateTime<Utc>) -> i64 {
    const SECONDS_1601_TO_1970: i64 = 11_644_473_600;
    (at.timestamp() + SECONDS_1601_TO_1970) * 10_000_000
}

/// A password AD's complexity rules accept: 24 characters from four classes.
fn first_password() -> String {
    use rand::Rng as _;
    use rand::seq::SliceRandom as _;
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!#%+-.:=?@_",
    ];
    let mut rng = rand::thread_rng();
    let mut chars: Vec<u8> = CLASSES
        .iter()
        .map(|class| class[rng.gen_range(0..class.len())])
        .collect();
    let all: Vec<u8> = CLASSES.concat();
    while chars.len() < 24 {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    String::from_utf8(chars).expect("ascii")
}

/// `unicodePwd`: the password in quotes, UTF-16LE.
fn unicode_password(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A contractor's `sAMAccountName`: `x-`, as much of the address's local part as fits, and the
/// contractor's number, which no other contractor ever has: two addresses never share a name
/// (AD allows 20 characters).
pub fn contractor_sam(email: &str, number: i64) -> String {
    const MAX: usize = 20;
    let tail = format!("-{number}");
    let room = MAX.saturating_sub(2 + tail.len());
    let local: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .take(room)
        .collect();
    match local.trim_end_matches(['.', '-']) {
        "" => format!("x{tail}"),
        local => format!("x-{local}{tail}").to_lowercase(),
    }
}

/// Whether the entry `dn` lies at or under `base` (DNs compare without case).
fn within(dn: &str, base: &str) -> bool {
    let plain = |name: &str| {
        name.split(',')
            .map(|part| part.trim().to_lowercase())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (dn, base) = (plain(dn), plain(base));
    !base.is_empty() && (dn == base || dn.ends_with(&format!(",{base}")))
}

/// The attribute the portal marks the accounts it makes with. No property set that lets people
/// edit their own entry includes it, so only an account with write rights on the user (the
/// portal's service account, a domain administrator) can set it.
const MARK_ATTRIBUTE: &str = "adminDescription";

/// The mark written on a contractor's account at creation and read back before the account is
/// ever used: the contractor's id, which nobody outside the portal learns.
pub fn contractor_mark(contractor: uuid::Uuid) -> String {
    format!("leasegate-contractor:{contractor}")
}

impl LdapDirectory {
    /// The account named `sam` anywhere in the domain (the name is unique domain-wide), with
    /// the portal's mark.
    async fn by_sam(&self, sam: &str) -> Result<Option<SearchEntry>, ConnectorError> {
        let base = self.id_search_base().await?;
        let mut attrs = ACCOUNT_ATTRS.to_vec();
        attrs.push(MARK_ATTRIBUTE);
        self.one(
            &base,
            &format!("(sAMAccountName={})", ldap3::ldap_escape(sam)),
            &attrs,
            "the account name",
        )
        .await
    }

    /// The account by stable id, with what the lifecycle needs.
    async fn account_entry(&self, id: &str) -> Result<Option<SearchEntry>, ConnectorError> {
        let (_, flavour) = self.connection().await?;
        let filter = Self::by_id_term(flavour, id)?;
        self.one(
            &self.id_search_base().await?,
            &filter,
            &["userAccountControl", "userPrincipalName", "objectGUID"],
            "the account",
        )
        .await
    }

    async fn modify(&self, dn: &str, mods: Vec<Mod<Vec<u8>>>) -> Result<(), ConnectorError> {
        let (mut ldap, _) = self.connection().await?;
        let result = ldap
            .with_timeout(self.timeout())
            .modify(dn, mods)
            .await
            .map_err(map_error);
        let result = self.forget_if_broken(result).await?;
        result.success().map_err(map_error)?;
        Ok(())
    }

    fn active_directory_only(flavour: Flavour) -> Result<(), ConnectorError> {
        match flavour {
            Flavour::ActiveDirectory => Ok(()),
            Flavour::Generic => Err(ConnectorError::Permanent(
                "making accounts for contractors is built for Active Directory only".into(),
            )),
        }
    }
}

#[async_trait]
impl super::ExternalIdentities for LdapDirectory {
    async fn user_by_mail(&self, email: &str) -> Result<Option<super::Known>, ConnectorError> {
        let filter = format!(
            "(&{}(mail={}))",
            person_filter(self.connection().await?.1),
            ldap3::ldap_escape(email.trim())
        );
        let entry = self
            .one(
                &self.settings.user_base,
                &filter,
                &[
                    "userPrincipalName",
                    "objectGUID",
                    "entryUUID",
                    "userAccountControl",
                ],
                "the address",
            )
            .await?;
        Ok(entry.map(|entry| {
            let account = self.to_account(entry);
            super::Known {
                id: account.stable_id.clone().unwrap_or_default(),
                upn: account.upn.clone().unwrap_or_default(),
                user_type: "Member".into(),
                enabled: account.enabled,
                created: None,
            }
        }))
    }

    async fn make_identity(
        &self,
        new: &super::NewIdentity<'_>,
    ) -> Result<super::Identity, ConnectorError> {
        let (mut ldap, flavour) = self.connection().await?;
        Self::active_directory_only(flavour)?;
        let (Some(base), Some(suffix)) = (new.base, new.upn_suffix) else {
            return Err(ConnectorError::Permanent(
                "the contractors' AD container and UPN suffix are not set".into(),
            ));
        };
        let sam = contractor_sam(new.email, new.number);
        let mark = contractor_mark(new.contractor);
        let upn = format!("{sam}@{suffix}");
        let dn = format!(
            "CN={},{base}",
            ldap3::dn_escape(format!("{} ({sam})", new.display_name))
        );
        let password = unicode_password(&first_password());
        let control = NORMAL_ACCOUNT.to_string();
        let expires = windows_ticks(new.ends_at).to_string();
        let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = [
            ("objectClass", vec![b"user".to_vec()]),
            ("sAMAccountName", vec![sam.clone().into_bytes()]),
            ("userPrincipalName", vec![upn.clone().into_bytes()]),
            ("displayName", vec![new.display_name.as_bytes().to_vec()]),
            ("mail", vec![new.email.as_bytes().to_vec()]),
            (
                "description",
                vec![b"Contractor identity made by Leasegate".to_vec()],
            ),
            (MARK_ATTRIBUTE, vec![mark.clone().into_bytes()]),
            ("unicodePwd", vec![password]),
            ("userAccountControl", vec![control.into_bytes()]),
            ("accountExpires", vec![expires.into_bytes()]),
            // The first password must be changed at the first sign-in.
            ("pwdLastSet", vec![b"0".to_vec()]),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_iter().collect()))
        .collect();
        let added = ldap
            .with_timeout(self.timeout())
            .add(&dn, attrs)
            .await
            .map_err(map_error);
        let added = self.forget_if_broken(added).await?;
        // 68: the name is in use, by the account an earlier attempt made (its answer lost on
        // the way) or by someone else's: the mark read back below tells which.
        if added.rc != 0 && added.rc != 68 {
            return Err(map_error(LdapError::LdapResult { result: added }));
        }
        let entry = self.by_sam(&sam).await?;
        let Some(entry) = entry else {
            if added.rc == 68 {
                // In use somewhere this account cannot read: not ours to take.
                return Ok(super::Identity::Taken {
                    name: sam,
                    existing: "an entry the service account cannot read".into(),
                    adoptable: None,
                });
            }
            return Err(ConnectorError::Transient(format!(
                "the account {sam} is not readable yet"
            )));
        };
        if first_value(&entry, MARK_ATTRIBUTE).as_deref() != Some(mark.as_str()) {
            return Ok(super::Identity::Taken {
                name: sam,
                existing: entry.dn,
                adoptable: None,
            });
        }
        let account = self.to_account(entry);
        Ok(super::Identity::Made(super::MadeIdentity {
            id: account.stable_id.clone().ok_or_else(|| {
                ConnectorError::Permanent(format!("the account {upn} has no objectGUID"))
            })?,
            reference: account.reference,
            upn,
            redeem_url: None,
        }))
    }

    async fn issue_password(&self, id: &str) -> Result<Option<String>, ConnectorError> {
        let entry = self
            .account_entry(id)
            .await?
            .ok_or_else(|| ConnectorError::Permanent(format!("no account {id}")))?;
        let password = first_password();
        self.modify(
            &entry.dn,
            vec![
                Mod::Replace(
                    b"unicodePwd".to_vec(),
                    HashSet::from([unicode_password(&password)]),
                ),
                Mod::Replace(b"pwdLastSet".to_vec(), HashSet::from([b"0".to_vec()])),
            ],
        )
        .await?;
        Ok(Some(password))
    }

    async fn set_expiry(&self, id: &str, ends_at: DateTime<Utc>) -> Result<(), ConnectorError> {
        let entry = self
            .account_entry(id)
            .await?
            .ok_or_else(|| ConnectorError::Permanent(format!("no account {id}")))?;
        self.modify(
            &entry.dn,
            vec![Mod::Replace(
                b"accountExpires".to_vec(),
                HashSet::from([windows_ticks(ends_at).to_string().into_bytes()]),
            )],
        )
        .await
    }

    async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        let entry = self
            .account_entry(id)
            .await?
            .ok_or_else(|| ConnectorError::Permanent(format!("no account {id}")))?;
        let flags: u32 = first_value(&entry, "userAccountControl")
            .and_then(|v| v.parse().ok())
            .unwrap_or(NORMAL_ACCOUNT);
        let flags = if enabled {
            flags & !ACCOUNT_DISABLE
        } else {
            flags | ACCOUNT_DISABLE
        };
        self.modify(
            &entry.dn,
            vec![Mod::Replace(
                b"userAccountControl".to_vec(),
                HashSet::from([flags.to_string().into_bytes()]),
            )],
        )
        .await
    }

    async fn delete_user(&self, id: &str) -> Result<(), ConnectorError> {
        let Some(entry) = self.account_entry(id).await? else {
            return Ok(());
        };
        let (mut ldap, _) = self.connection().await?;
        let deleted = ldap
            .with_timeout(self.timeout())
            .delete(&entry.dn)
            .await
            .map_err(map_error);
        let deleted = self.forget_if_broken(deleted).await?;
        // 32: gone already.
        if deleted.rc != 0 && deleted.rc != 32 {
            return Err(map_error(LdapError::LdapResult { result: deleted }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_entry_is_within_a_base_by_whole_components() {
        use super::within;
        let base = "OU=People, DC=contoso,DC=test";
        assert!(within("CN=Ann,OU=People,DC=contoso,DC=test", base));
        assert!(within("cn=ann,ou=people,dc=contoso,dc=test", base));
        assert!(within("OU=People,DC=contoso,DC=test", base));
        assert!(!within("CN=Ann,OU=Leavers,DC=contoso,DC=test", base));
        assert!(!within("CN=Ann,OU=OtherPeople,DC=contoso,DC=test", base));
        assert!(!within("CN=Ann,OU=People,DC=contoso,DC=test", ""));
    }

    #[test]
    fn contractor_names_differ_by_number_and_fit_ad() {
        use super::contractor_sam;
        // Same local part at two companies: two names.
        assert_eq!(contractor_sam("john@a.com", 7), "x-john-7");
        assert_ne!(
            contractor_sam("john@b.com", 8),
            contractor_sam("john@a.com", 7)
        );
        let long = contractor_sam("christopher.longname@fabrikam.test", 1234567);
        assert_eq!(long, "x-christophe-1234567");
        assert_eq!(long.len(), 20);
        // No trailing dot before the number, nothing AD would refuse.
        assert_eq!(contractor_sam("ab.@x.com", 3), "x-ab-3");
        assert_eq!(contractor_sam("Ünïcode+tag@x.com", 4), "x-ncodetag-4");
        assert_eq!(contractor_sam("ü@x.com", 5), "x-5");
    }

    #[test]
    fn account_expiry_is_read_from_windows_ticks() {
        assert_eq!(super::account_expires("0"), None);
        assert_eq!(super::account_expires("9223372036854775807"), None);
        assert_eq!(super::account_expires("never"), None);
        assert_eq!(
            super::account_expires("133800000000000000").map(|t| t.to_rfc3339()),
            Some("2024-12-30T02:40:00+00:00".to_string())
        );
    }

    use super::*;
    use std::collections::HashMap;

    fn entry(attr: &str, values: &[&str]) -> SearchEntry {
        SearchEntry {
            dn: "CN=G".into(),
            attrs: HashMap::from([(
                attr.to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            )]),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn ranged_member_values() {
        let mut all = Vec::new();
        assert_eq!(
            collect_range(&entry("member;range=0-1499", &["a", "b"]), &mut all),
            Some(1500)
        );
        assert_eq!(
            collect_range(&entry("member;range=1500-*", &["c"]), &mut all),
            None
        );
        assert_eq!(collect_range(&entry("member", &["d"]), &mut all), None);
        assert_eq!(all, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn already_done_codes() {
        assert!(is_already_done(20, true));
        assert!(is_already_done(68, true));
        assert!(!is_already_done(16, true));
        assert!(is_already_done(16, false));
        assert!(is_already_done(53, false));
        assert!(!is_already_done(50, false));
    }

    #[test]
    fn account_values() {
        assert_eq!(
            AccountAttribute::SamAccountName.value_for("adele.vance@contoso.test"),
            "adele.vance"
        );
        assert_eq!(
            AccountAttribute::UserPrincipalName.value_for("adele.vance@contoso.test"),
            "adele.vance@contoso.test"
        );
    }

    #[test]
    fn error_classes() {
        let result = |rc| LdapError::LdapResult {
            result: ldap3::LdapResult {
                rc,
                matched: String::new(),
                text: "x".into(),
                refs: vec![],
                ctrls: vec![],
            },
        };
        assert!(matches!(
            map_error(result(51)),
            ConnectorError::Throttled { .. }
        ));
        assert!(matches!(
            map_error(result(52)),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map_error(result(50)),
            ConnectorError::Permanent(_)
        ));
        assert!(matches!(
            map_error(result(32)),
            ConnectorError::Permanent(_)
        ));
    }

    #[test]
    fn untrusted_certificates_are_refused_for_good() {
        let tls = |e: rustls::CertificateError| LdapError::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(e),
            ),
        };
        assert!(matches!(
            map_error(tls(rustls::CertificateError::BadSignature)),
            ConnectorError::Permanent(_)
        ));
        assert!(matches!(
            map_error(tls(rustls::CertificateError::UnknownIssuer)),
            ConnectorError::Permanent(_)
        ));
    }

    #[test]
    fn refuses_clear_text() {
        let settings = LdapSettings {
            password_env: None,
            password_file: None,
            url: "ldap://dc1".into(),
            starttls: false,
            ca_file: None,
            tls_skip_verify: false,
            bind_dn: "cn=x".into(),
            user_base: "dc=x".into(),
            group_base: "dc=x".into(),
            account_attribute: AccountAttribute::Mail,
            timeout_seconds: 5,
            upn_domains: Vec::new(),
        };
        let err = LdapDirectory::new(
            "ad",
            settings,
            crate::server::app::config::Secret::new("pw"),
        )
        .err()
        .unwrap();
        assert!(err.is_permanent());
    }
}
