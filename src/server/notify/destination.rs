//! Where Teams cards may go. A webhook address is typed by people (their own chat's workflow) or
//! set by an operator, and the portal posts to it from inside the network: left open, it is a way
//! to make the portal call its own database, a neighbour's admin port or the cloud's metadata
//! service. So an address is taken only when it is `https` on a host Microsoft uses for
//! Workflows / Power Automate webhooks (a configurable allow-list), and the addresses its name
//! resolves to must all be public: checked when it is saved, and again at every connection
//! (a DNS answer that changes after saving is caught there). A lab may name exact receivers
//! (`ip:port`) that are allowed whatever their address; lab mode alone opens nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// The hosts Microsoft serves Workflows and Power Automate webhooks from: Logic Apps triggers
/// (`prod-NN.<region>.logic.azure.com`), Power Platform environments
/// (`<env>.environment.api.powerplatform.com`) and the older Office 365 connectors
/// (`<tenant>.webhook.office.com`).
pub const MICROSOFT_HOSTS: &[&str] = &[
    "*.logic.azure.com",
    "*.environment.api.powerplatform.com",
    "*.webhook.office.com",
];

/// The allow-list and the lab's receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    /// Host names, lower-case; `*.example.com` matches any name under `example.com`.
    hosts: Vec<String>,
    /// Exact `ip:port` receivers a lab names (tests, demos); none in production.
    lab: Vec<SocketAddr>,
}

impl Default for Destinations {
    fn default() -> Self {
        Self::new(MICROSOFT_HOSTS.iter().map(|h| h.to_string()), Vec::new())
    }
}

impl Destinations {
    pub fn new(hosts: impl IntoIterator<Item = String>, lab: Vec<SocketAddr>) -> Self {
        Self {
            hosts: hosts
                .into_iter()
                .map(|h| h.trim().trim_end_matches('.').to_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            lab,
        }
    }

    /// Microsoft's hosts and these lab receivers.
    pub fn with_lab(lab: Vec<SocketAddr>) -> Self {
        Self {
            lab,
            ..Self::default()
        }
    }

    /// Whether the address may be posted to, by its words alone (no DNS). A lab receiver is
    /// allowed over http; everything else must be https on an allowed host.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if self.lab_receiver(url).is_some() {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err("The workflow's address must start with https://.".into());
        }
        match url.host() {
            Some(url::Host::Domain(name)) if self.allows(name) => Ok(()),
            Some(url::Host::Domain(_)) => Err(format!(
                "The workflow's address must be on a host Microsoft uses for Workflows \
                 webhooks ({}).",
                self.hosts.join(", ")
            )),
            Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) | None => {
                Err("The workflow's address must name Microsoft's host, not an IP address.".into())
            }
        }
    }

    /// `check`, and the addresses the name resolves to now are all public.
    pub async fn check_resolved(&self, url: &Url) -> Result<(), String> {
        self.check(url)?;
        if self.lab_receiver(url).is_some() {
            return Ok(());
        }
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        resolve_public(name)
            .await
            .map(|_| ())
            .map_err(|e| format!("The workflow's address cannot be used: {e}"))
    }

    /// A client for posting: every host name it connects to is resolved through the check of
    /// public addresses, so what a name resolves to is judged at connect time, and it follows
    /// no redirects.
    pub fn client(&self, timeout: std::time::Duration) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))
    }

    fn lab_receiver(&self, url: &Url) -> Option<SocketAddr> {
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        let at = SocketAddr::new(ip, url.port_or_known_default()?);
        self.lab.contains(&at).then_some(at)
    }

    fn allows(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_lowercase();
        self.hosts
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => name
                    .strip_suffix(parent)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => name == *pattern,
            })
    }
}

/// The message a refusal carries, so the poster can tell it from a network failure.
pub const INSIDE: &str = "resolves to an address inside the network";

/// Resolves `name` and answers its addresses when every one is public.
async fn resolve_public(name: &str) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|e| format!("{name} does not resolve ({e})"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{name} does not resolve"));
    }
    // One inside address is enough to refuse: a name that answers both is how rebinding works.
    if let Some(inside) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(format!("{name} {INSIDE} ({})", inside.ip()));
    }
    Ok(addresses)
}

/// reqwest's resolver for webhook posts: the system's answer, refused when it names an address
/// inside.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addresses = resolve_public(&name)
                .await
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local (which holds the cloud metadata address 169.254.169.254), shared
/// (100.64/10), unspecified, multicast, broadcast or documentation space; IPv4 inside IPv6 is
/// judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn only_microsoft_s_hosts_over_https() {
        let d = Destinations::default();
        assert!(d.check(&url("https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x")).is_ok());
        assert!(d.check(&url("https://0a1b.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/x")).is_ok());
        assert!(
            d.check(&url("https://contoso.webhook.office.com/webhookb2/x"))
                .is_ok()
        );
        for refused in [
            "http://prod-12.westeurope.logic.azure.com/workflows/abc",
            "https://logic.azure.com/workflows/abc",
            "https://evil-logic.azure.com/x",
            "https://logic.azure.com.evil.example/x",
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://localhost/x",
            "https://intranet.contoso.com/x",
        ] {
            assert!(d.check(&url(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_lab_names_its_receivers_exactly() {
        let d = Destinations::with_lab(vec!["127.0.0.1:4567".parse().unwrap()]);
        assert!(d.check(&url("http://127.0.0.1:4567/hook/megan")).is_ok());
        assert!(d.check(&url("http://127.0.0.1:4568/hook/megan")).is_err());
        assert!(d.check(&url("http://localhost:4567/hook/megan")).is_err());
        assert!(
            Destinations::default()
                .check(&url("http://127.0.0.1:4567/hook"))
                .is_err()
        );
    }

    #[test]
    fn inside_addresses_are_not_public() {
        for inside in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for public in ["20.190.128.1", "52.96.0.1", "2603:1030::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused() {
        let d = Destinations::new(["localhost".to_string()], Vec::new());
        assert!(
            d.check(&url("https://localhost:9/hook")).is_ok(),
            "allowed by name"
        );
        let refused = d.check_resolved(&url("https://localhost:9/hook")).await;
        assert!(refused.unwrap_err().contains(INSIDE));
    }
}
