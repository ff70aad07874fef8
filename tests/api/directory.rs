//! Real directories for the tests: OpenLDAP slapd (any port, started per test run) and a Samba
//! AD domain controller (root, standard ports, one per machine, started once per test run).
//! Both are started through the scripts in `end2end/directory/`, the same ones `make run` uses,
//! and stop when this test process ends (their wrapper waits on our stdin).

use std::collections::HashSet;
use std::io::Write as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, ldap_escape};
use leasegate::server::app::config::Secret;
use leasegate::server::connectors::ldap::{AccountAttribute, LdapDirectory, LdapSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenLdap,
    Samba,
}

pub struct Directory {
    pub kind: Kind,
    pub url: String,
    pub ca_file: String,
    pub admin_dn: String,
    pub admin_password: String,
    pub people: String,
    pub groups: String,
    process: Mutex<Option<(Child, ChildStdin)>>,
    data_dir: String,
    /// How to start it again after `stop` (script and arguments).
    start_with: (String, Vec<String>),
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Starts `script args...` so that it is killed when this process's end of the pipe closes;
/// then its data directory `dir` is removed, unless a `.keep` file says it will start again.
fn spawn_tied(dir: &str, script: &str, args: &[&str]) -> (Child, ChildStdin) {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(
            r#"dir=$1; shift; bash "$@" </dev/null & c=$!; cat >/dev/null; kill -TERM $c 2>/dev/null; wait $c; [ -e "$dir/.keep" ] || rm -rf "$dir""#,
        )
        .arg("wrapper")
        .arg(dir)
        .arg(format!("{ROOT}/end2end/directory/{script}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting a directory script");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.flush().ok();
    (child, stdin)
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn wait_for_port(port: u16, within: Duration, what: &str, child: &mut Child) {
    let started = Instant::now();
    while !port_open(port) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early ({status}); see its output above");
        }
        assert!(
            started.elapsed() < within,
            "{what} did not start within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn openldap() -> &'static Directory {
    static DIR: OnceLock<Directory> = OnceLock::new();
    DIR.get_or_init(private_openldap)
}

/// An OpenLDAP server of one test's own, which the test may stop and start again.
pub fn private_openldap() -> Directory {
    let dir = tempdir("openldap");
    let (ldap_port, ldaps_port) = (free_port(), free_port());
    let args = vec![dir.clone(), ldap_port.to_string(), ldaps_port.to_string()];
    let directory = Directory {
        kind: Kind::OpenLdap,
        url: format!("ldaps://127.0.0.1:{ldaps_port}"),
        ca_file: format!("{dir}/tls/ca.pem"),
        admin_dn: "cn=admin,dc=contoso,dc=test".into(),
        admin_password: "secret".into(),
        people: "ou=People,dc=contoso,dc=test".into(),
        groups: "ou=Groups,dc=contoso,dc=test".into(),
        process: Mutex::new(None),
        data_dir: dir.clone(),
        start_with: ("openldap.sh".into(), args),
    };
    directory.start();
    block_on(async {
        let mut ldap = directory.admin().await;
        for (dn, attrs) in [
            (
                "dc=contoso,dc=test",
                vec![
                    ("objectClass", vec!["dcObject", "organization"]),
                    ("o", vec!["Contoso"]),
                    ("dc", vec!["contoso"]),
                ],
            ),
            (
                "ou=People,dc=contoso,dc=test",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["People"]),
                ],
            ),
            (
                "ou=Groups,dc=contoso,dc=test",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["Groups"]),
                ],
            ),
        ] {
            add(&mut ldap, dn, attrs).await;
        }
    });
    directory
}

/// The TCP ports a Samba AD DC listens on: DNS, Kerberos, LDAP, LDAPS and the global catalog.
const SAMBA_PORTS: [u16; 6] = [53, 88, 389, 636, 3268, 3269];

pub fn samba() -> &'static Directory {
    static DIR: OnceLock<Directory> = OnceLock::new();
    DIR.get_or_init(|| {
        // A domain controller of an earlier test run may still be shutting down (its wrapper
        // stops it once that run's process has gone): wait for every port a DC binds to close,
        // or a new DC cannot bind them and never opens LDAPS.
        let started = Instant::now();
        while SAMBA_PORTS.iter().any(|p| port_open(*p)) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ports {SAMBA_PORTS:?} are in use: another directory (perhaps `make run`'s demo \
                 domain controller) is running; stop it before the tests start their own Samba \
                 AD DC"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let dir = tempdir("samba");
        let directory = Directory {
            kind: Kind::Samba,
            url: "ldaps://127.0.0.1:636".into(),
            ca_file: format!("{dir}/tls/ca.pem"),
            admin_dn: "Administrator@contoso.test".into(),
            admin_password: "Passw0rd!Test".into(),
            people: "CN=Users,DC=contoso,DC=test".into(),
            groups: "OU=Leasegate Test,DC=contoso,DC=test".into(),
            process: Mutex::new(None),
            data_dir: dir.clone(),
            start_with: ("samba.sh".into(), vec![dir.clone()]),
        };
        directory.start();
        block_on(async {
            // The DC accepts connections a moment before binds succeed.
            let started = Instant::now();
            let mut ldap = loop {
                match directory.try_admin().await {
                    Ok(ldap) => break ldap,
                    Err(e) if started.elapsed() < Duration::from_secs(60) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => panic!("cannot bind to Samba: {e}"),
                }
            };
            add(
                &mut ldap,
                "OU=Leasegate Test,DC=contoso,DC=test",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["Leasegate Test"]),
                ],
            )
            .await;
        });
        directory
    })
}

fn tempdir(what: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "leasegate-test-{what}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Runs a future to completion on a private runtime (directory start-up happens inside
/// `OnceLock::get_or_init`, which may be reached from any test's runtime).
fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(future)
        })
        .join()
        .unwrap()
    })
}

/// Adds an entry and waits until the directory answers with it. "Already exists" is accepted
/// only when the entry at that very DN exists (fixed entries shared by tests); a clash on
/// another unique attribute (AD's `sAMAccountName`) must fail here, not later.
async fn add(ldap: &mut Ldap, dn: &str, attrs: Vec<(&str, Vec<&str>)>) {
    let attrs: Vec<(&str, HashSet<&str>)> = attrs
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    let result = ldap.add(dn, attrs).await.unwrap();
    assert!(result.rc == 0 || result.rc == 68, "adding {dn}: {result}");
    wait_for_entry(ldap, dn).await;
}

/// Waits until the directory answers with the entry at `dn`.
async fn wait_for_entry(ldap: &mut Ldap, dn: &str) {
    let started = Instant::now();
    loop {
        let found = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .unwrap();
        if found.1.rc == 0 && !found.0.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{dn} is not in the directory after writing it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique suffix for names made by one test (48 random bits: no clash among the
/// benchmark's tens of thousands of names).
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// A unique `sAMAccountName`: AD allows 20 characters, so 19 random hex digits (76 bits)
/// after the prefix.
fn unique_sam(prefix: char) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..19]
    )
}

impl Directory {
    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start(&self) {
        let mut process = self.process.lock().unwrap();
        assert!(process.is_none(), "already running");
        let (script, args) = &self.start_with;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = std::fs::remove_file(format!("{}/.keep", self.data_dir));
        let (mut child, stdin) = spawn_tied(&self.data_dir, script, &args);
        // Provisioning a Samba domain takes a minute on a quiet machine and more than two on a
        // busy one (it did once in CI): the wait ends as soon as the port answers.
        wait_for_port(self.port(), Duration::from_secs(300), script, &mut child);
        *process = Some((child, stdin));
    }

    /// Stops the server and waits until it has gone.
    pub fn stop(&self) {
        let (mut child, stdin) = self.process.lock().unwrap().take().expect("running");
        std::fs::write(format!("{}/.keep", self.data_dir), b"").unwrap();
        drop(stdin);
        child.wait().unwrap();
        assert!(!port_open(self.port()), "still answering after stop");
    }

    async fn try_admin(&self) -> Result<Ldap, ldap3::LdapError> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(
            LdapConnSettings::new()
                .set_no_tls_verify(true)
                .set_conn_timeout(std::time::Duration::from_secs(30)),
            &self.url,
        )
        .await?;
        ldap3::drive!(conn);
        ldap.simple_bind(&self.admin_dn, &self.admin_password)
            .await?
            .success()?;
        Ok(ldap)
    }

    /// A connection bound as the directory's administrator, for seeding and for checking the
    /// directory independently of the connector under test.
    pub async fn admin(&self) -> Ldap {
        self.try_admin().await.expect("admin bind")
    }

    /// The settings a connector for this directory uses, binding as the administrator.
    pub fn settings(&self) -> LdapSettings {
        LdapSettings {
            password_env: None,
            password_file: None,
            url: self.url.clone(),
            starttls: false,
            ca_file: Some(self.ca_file.clone()),
            tls_skip_verify: false,
            bind_dn: self.admin_dn.clone(),
            user_base: self.people.clone(),
            group_base: self.groups.clone(),
            account_attribute: match self.kind {
                Kind::Samba => AccountAttribute::UserPrincipalName,
                Kind::OpenLdap => AccountAttribute::Mail,
            },
            timeout_seconds: 10,
            upn_domains: Vec::new(),
        }
    }

    pub fn connector(&self) -> LdapDirectory {
        LdapDirectory::new(
            "test-directory",
            self.settings(),
            Secret::new(self.admin_password.clone()),
        )
        .expect("connector")
    }

    /// Adds a person; `cn` may hold characters that need escaping (`O'Brien, Jane`).
    pub async fn add_user(
        &self,
        ldap: &mut Ldap,
        cn: &str,
        upn: &str,
        manager: Option<&str>,
        department: Option<&str>,
    ) -> String {
        let dn = format!("CN={},{}", ldap3::dn_escape(cn), self.people);
        let sam = unique_sam('u');
        let mut attrs: Vec<(&str, Vec<&str>)> = match self.kind {
            // 544: a normal account needing no password, so enabled (AD disables accounts
            // added without a password).
            Kind::Samba => vec![
                ("objectClass", vec!["user"]),
                ("userAccountControl", vec!["544"]),
                ("sAMAccountName", vec![&sam]),
                ("userPrincipalName", vec![upn]),
                ("displayName", vec![cn]),
            ],
            Kind::OpenLdap => vec![
                ("objectClass", vec!["inetOrgPerson"]),
                ("cn", vec![cn]),
                ("sn", vec![cn]),
                ("mail", vec![upn]),
                ("displayName", vec![cn]),
            ],
        };
        if let Some(m) = manager {
            attrs.push(("manager", vec![m]));
        }
        if let Some(d) = department {
            attrs.push((
                if self.kind == Kind::Samba {
                    "department"
                } else {
                    "departmentNumber"
                },
                vec![d],
            ));
        }
        add(ldap, &dn, attrs).await;
        dn
    }

    pub async fn add_group(&self, ldap: &mut Ldap, cn: &str, members: &[String]) -> String {
        let dn = format!("CN={},{}", ldap3::dn_escape(cn), self.groups);
        let sam = unique_sam('g');
        // groupOfNames must have a member; AD groups may be empty.
        let first: Vec<&str> = members.iter().take(1).map(String::as_str).collect();
        let attrs: Vec<(&str, Vec<&str>)> = match self.kind {
            Kind::Samba => vec![
                ("objectClass", vec!["group"]),
                ("sAMAccountName", vec![&sam]),
            ],
            Kind::OpenLdap => vec![
                ("objectClass", vec!["groupOfNames"]),
                ("cn", vec![cn]),
                (
                    "member",
                    if first.is_empty() {
                        vec!["cn=nobody"]
                    } else {
                        first.clone()
                    },
                ),
            ],
        };
        add(ldap, &dn, attrs).await;
        let rest: Vec<&String> = match self.kind {
            Kind::Samba => members.iter().collect(),
            Kind::OpenLdap => members.iter().skip(1).collect(),
        };
        for chunk in rest.chunks(500) {
            let values: HashSet<&str> = chunk.iter().map(|s| s.as_str()).collect();
            ldap.modify(&dn, vec![Mod::Add("member", values)])
                .await
                .unwrap()
                .success()
                .unwrap();
        }
        if self.kind == Kind::OpenLdap && members.is_empty() {
            // Leave the placeholder: groupOfNames cannot be empty.
        }
        dn
    }

    /// Waits until the directory answers with the entry at `dn` (after a write).
    pub async fn wait_for(&self, ldap: &mut Ldap, dn: &str) {
        wait_for_entry(ldap, dn).await;
    }

    /// Is `user` a direct member of `group`? Asked of the directory itself.
    pub async fn is_member(&self, ldap: &mut Ldap, group: &str, user: &str) -> bool {
        let filter = format!("(member={})", ldap_escape(user));
        let (entries, _) = ldap
            .search(group, Scope::Base, &filter, vec!["1.1"])
            .await
            .unwrap()
            .success()
            .unwrap();
        !entries.is_empty()
    }

    /// The number of direct members, counted with ranged retrieval where the server uses it.
    pub async fn member_count(&self, ldap: &mut Ldap, group: &str) -> usize {
        let mut count = 0;
        let mut attr = "member".to_string();
        loop {
            let (entries, _) = ldap
                .search(group, Scope::Base, "(objectClass=*)", vec![attr.as_str()])
                .await
                .unwrap()
                .success()
                .unwrap();
            let entry = SearchEntry::construct(entries.into_iter().next().expect("group exists"));
            let Some((name, values)) = entry.attrs.into_iter().next() else {
                return count;
            };
            count += values.len();
            match name
                .split_once(";range=")
                .and_then(|(_, r)| r.split_once('-'))
            {
                Some((_, "*")) | None => return count,
                Some((_, high)) => {
                    attr = format!("member;range={}-*", high.parse::<usize>().unwrap() + 1)
                }
            }
        }
    }
}
