//! Network source addresses: where a person connects from, for access that is opened to an
//! address rather than to an account (an Azure VM's admin port through JIT access).

use std::fmt;
use std::net::IpAddr;

/// An IP address or a CIDR prefix (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/64`), always
/// written back in its canonical form with its length (`203.0.113.7/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourcePrefix {
    address: IpAddr,
    length: u8,
}

/// The broadest prefix a person may ask a port to be opened to: a /24 of IPv4 (256
/// addresses, an office's NAT pool) or a /64 of IPv6 (one network). Broader ones open an
/// admin port to strangers.
pub const BROADEST_V4: u8 = 24;
pub const BROADEST_V6: u8 = 64;

/// Why a text is not a prefix a port may be opened to. Its `Display` is the English for logs
/// and catalog checks; [`crate::text::prefix_problem`] says it in the person's language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PrefixProblem {
    NotAnAddress { text: String },
    BadLength { text: String, max: u8 },
    NotNetworkStart { text: String, meant: String },
    TooBroad { prefix: String, broadest: u8 },
    MappedV4 { prefix: String },
    Local { prefix: String },
}

impl fmt::Display for PrefixProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnAddress { text } => write!(
                f,
                "`{text}` is not an IP address (like 203.0.113.7) or a prefix (like 203.0.113.0/24)"
            ),
            Self::BadLength { text, max } => {
                write!(f, "`{text}`: the prefix length must be 0 to {max}")
            }
            Self::NotNetworkStart { text, meant } => write!(
                f,
                "`{text}` is not the start of its network; did you mean {meant}?"
            ),
            Self::TooBroad { prefix, broadest } => write!(
                f,
                "{prefix} covers too many addresses: give your own address, or at most a /{broadest}"
            ),
            Self::MappedV4 { prefix } => write!(
                f,
                "{prefix} is an IPv4 address written as IPv6; write it as IPv4"
            ),
            Self::Local { prefix } => write!(
                f,
                "{prefix} is a local address; give the address your connection comes from"
            ),
        }
    }
}

impl SourcePrefix {
    /// Reads an address or a prefix. The address part must be the network's first address
    /// (`203.0.113.0/24`, not `203.0.113.9/24`), so what is written is what is opened.
    pub fn parse(text: &str) -> Result<Self, PrefixProblem> {
        let text = text.trim();
        let (address, length) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| PrefixProblem::NotAnAddress { text: text.into() })?;
        let max = max_length(address);
        let length = match length {
            None => max,
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| {
                PrefixProblem::BadLength {
                    text: text.into(),
                    max,
                }
            })?,
        };
        let prefix = Self { address, length };
        if prefix.network() != address {
            return Err(PrefixProblem::NotNetworkStart {
                text: text.into(),
                meant: Self {
                    address: prefix.network(),
                    length,
                }
                .to_string(),
            });
        }
        Ok(prefix)
    }

    /// Reads a prefix a person asks for and refuses what would open a port too widely (the
    /// whole Internet, anything broader than [`BROADEST_V4`] / [`BROADEST_V6`]) or to addresses
    /// no connection comes from (loopback, unspecified, link-local). Private-use addresses are
    /// allowed: over a VPN or ExpressRoute they are where people connect from.
    pub fn parse_for_person(text: &str) -> Result<Self, PrefixProblem> {
        let prefix = Self::parse(text)?;
        let broadest = match prefix.address {
            IpAddr::V4(_) => BROADEST_V4,
            IpAddr::V6(_) => BROADEST_V6,
        };
        if prefix.length < broadest {
            return Err(PrefixProblem::TooBroad {
                prefix: prefix.to_string(),
                broadest,
            });
        }
        if let IpAddr::V6(a) = prefix.address
            && a.to_ipv4_mapped().is_some()
        {
            return Err(PrefixProblem::MappedV4 {
                prefix: prefix.to_string(),
            });
        }
        let local = match prefix.address {
            IpAddr::V4(a) => a.is_loopback() || a.is_unspecified() || a.is_link_local(),
            // fe80::/10, link-local.
            IpAddr::V6(a) => {
                a.is_loopback() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        if local {
            return Err(PrefixProblem::Local {
                prefix: prefix.to_string(),
            });
        }
        Ok(prefix)
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    pub fn length(&self) -> u8 {
        self.length
    }

    /// Whether every address of `other` is in this prefix.
    pub fn contains(&self, other: &SourcePrefix) -> bool {
        other.length >= self.length
            && match (self.address, other.address) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    mask(u128::from(u32::from(a)), 32, self.length)
                        == mask(u128::from(u32::from(b)), 32, self.length)
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    mask(u128::from(a), 128, self.length) == mask(u128::from(b), 128, self.length)
                }
                _ => false,
            }
    }

    fn network(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(a) => {
                IpAddr::V4(std::net::Ipv4Addr::from(
                    mask(u128::from(u32::from(a)), 32, self.length) as u32,
                ))
            }
            IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(mask(
                u128::from(a),
                128,
                self.length,
            ))),
        }
    }
}

fn max_length(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The first `length` of `bits` bits of `value`.
fn mask(value: u128, bits: u32, length: u8) -> u128 {
    let length = u32::from(length);
    if length == 0 {
        return 0;
    }
    let keep = if length >= 128 {
        u128::MAX
    } else {
        !((1u128 << (128 - length)) - 1)
    };
    let shift = 128 - bits;
    ((value << shift) & keep) >> shift
}

impl fmt::Display for SourcePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_prefixes_read_and_print_canonically() {
        assert_eq!(
            SourcePrefix::parse("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            SourcePrefix::parse(" 198.51.100.0/24 ")
                .unwrap()
                .to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            SourcePrefix::parse("2001:db8::/64").unwrap().to_string(),
            "2001:db8::/64"
        );
        assert!(
            SourcePrefix::parse("203.0.113.9/24")
                .unwrap_err()
                .to_string()
                .contains("203.0.113.0/24")
        );
        assert!(SourcePrefix::parse("203.0.113.7/33").is_err());
        assert!(SourcePrefix::parse("Internet").is_err());
        assert!(SourcePrefix::parse("*").is_err());
        assert!(SourcePrefix::parse("").is_err());
    }

    #[test]
    fn people_may_not_open_a_port_widely_or_to_local_addresses() {
        assert!(SourcePrefix::parse_for_person("203.0.113.7").is_ok());
        assert!(SourcePrefix::parse_for_person("198.51.100.0/24").is_ok());
        assert!(SourcePrefix::parse_for_person("198.51.0.0/16").is_err());
        assert!(SourcePrefix::parse_for_person("0.0.0.0/0").is_err());
        assert!(SourcePrefix::parse_for_person("127.0.0.1").is_err());
        assert!(SourcePrefix::parse_for_person("::1").is_err());
        assert!(SourcePrefix::parse_for_person("2001:db8::/48").is_err());
        assert!(SourcePrefix::parse_for_person("2001:db8:0:1::/64").is_ok());
        assert!(SourcePrefix::parse_for_person("fe80::1").is_err());
        assert!(SourcePrefix::parse_for_person("::ffff:127.0.0.1").is_err());
        assert!(SourcePrefix::parse_for_person("::ffff:0.0.0.0/96").is_err());
    }

    #[test]
    fn containment_follows_the_prefix_length() {
        let p = |t: &str| SourcePrefix::parse(t).unwrap();
        assert!(p("198.51.100.0/24").contains(&p("198.51.100.77")));
        assert!(!p("198.51.100.0/24").contains(&p("198.51.101.1")));
        assert!(!p("198.51.100.7").contains(&p("198.51.100.0/24")));
        assert!(p("0.0.0.0/0").contains(&p("203.0.113.7")));
        assert!(!p("0.0.0.0/0").contains(&p("2001:db8::1")));
        assert!(p("2001:db8::/32").contains(&p("2001:db8:1::/48")));
    }
}
