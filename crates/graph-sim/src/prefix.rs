//! Source addresses and prefixes as Defender for Cloud's JIT requests and policies take them
//! (`10.1.2.3`, `10.1.2.0/24`, IPv6 alike), read with the `ipnet` crate.

use std::net::IpAddr;

use ipnet::IpNet;

/// An address, or a network of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePrefix(IpNet);

impl SourcePrefix {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let net = match text.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => IpNet::from(
                text.parse::<IpAddr>()
                    .map_err(|_| format!("'{text}' is not an IP address or prefix"))?,
            ),
        };
        Ok(Self(net))
    }

    /// Whether every address of `other` is in this prefix.
    pub fn contains(&self, other: &SourcePrefix) -> bool {
        self.0.contains(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_hold_their_addresses() {
        let office = SourcePrefix::parse("10.1.2.0/24").unwrap();
        assert!(office.contains(&SourcePrefix::parse("10.1.2.7").unwrap()));
        assert!(office.contains(&SourcePrefix::parse("10.1.2.128/25").unwrap()));
        assert!(!office.contains(&SourcePrefix::parse("10.1.3.7").unwrap()));
        assert!(!office.contains(&SourcePrefix::parse("10.1.0.0/16").unwrap()));
        assert!(
            SourcePrefix::parse("2001:db8::/64")
                .unwrap()
                .contains(&SourcePrefix::parse("2001:db8::1").unwrap())
        );
        assert!(SourcePrefix::parse("10.1.2.0/33").is_err());
        assert!(SourcePrefix::parse("not an address").is_err());
    }
}
