//! `TRUST_PROXY`: which reverse proxies in front of the API may name the client's address.
//!
//! `X-Forwarded-For` is a list every proxy appends its peer to, so only its right end is
//! written by proxies we run; anything left of them is whatever the client chose to send.
//! The client is therefore found by walking from the right past the trusted hops, never by
//! taking the leftmost entry (which lets every request claim a fresh address and walk past
//! per-address rate limits and lockouts).

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use ipnet::IpNet;

/// How far the `X-Forwarded-For` chain is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyTrust {
    /// No proxy: the socket peer is the client (`false`, the default).
    #[default]
    None,
    /// This many proxies in front of the API, each appending its peer (`true` = 1, or `2`…).
    Hops(usize),
    /// Proxies known by address: the rightmost entry outside these networks is the client
    /// (`10.0.0.0/8,192.168.1.7`). The peer itself must be one of them.
    Networks(Vec<IpNet>),
}

/// A `TRUST_PROXY` value that is none of `false`, `true`, a hop count or a list of networks.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not `false`, `true`, a number of proxy hops or a comma-separated list of proxy addresses/CIDRs"
)]
pub struct InvalidProxyTrust(String);

impl FromStr for ProxyTrust {
    type Err = InvalidProxyTrust;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let value = raw.trim();
        match value {
            "" | "false" | "0" => return Ok(Self::None),
            "true" => return Ok(Self::Hops(1)),
            _ => {}
        }
        if let Ok(hops) = value.parse::<usize>() {
            return Ok(Self::Hops(hops));
        }
        value
            .split(',')
            .map(|part| parse_net(part.trim()))
            .collect::<Option<Vec<_>>>()
            .map(Self::Networks)
            .ok_or_else(|| InvalidProxyTrust(raw.to_string()))
    }
}

/// A CIDR, or a single address as its host network.
fn parse_net(part: &str) -> Option<IpNet> {
    part.parse::<IpNet>()
        .ok()
        .or_else(|| part.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An address as proxies write it: bare, `ip:port` or `[v6]:port`.
fn parse_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl ProxyTrust {
    /// The client's address given the socket peer and every `X-Forwarded-For` header value in
    /// order. An entry that is not an address where the client should be falls back to the
    /// nearest trusted address to its right, so garbage never becomes a fresh rate-limit key.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if matches!(self, Self::None) {
            return peer;
        }
        // The chain as the last proxy saw it: the client's claims first, the peer last.
        let mut chain: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
        chain.retain(|e| !e.trim().is_empty());
        let mut client = peer;
        match self {
            Self::None => {}
            Self::Hops(hops) => {
                // Each trusted hop wrote the entry to its own left; stop at the chain's start.
                for entry in chain.iter().rev().take(*hops) {
                    match parse_addr(entry) {
                        Some(addr) => client = addr,
                        None => break,
                    }
                }
            }
            Self::Networks(nets) => {
                let trusted = |a: &IpAddr| nets.iter().any(|n| n.contains(a));
                let mut entries = chain.iter().rev();
                while trusted(&client) {
                    match entries.next().and_then(|e| parse_addr(e)) {
                        Some(addr) => client = addr,
                        None => break,
                    }
                }
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("valid")
    }

    fn client(trust: &str, peer: &str, xff: &[&str]) -> IpAddr {
        trust
            .parse::<ProxyTrust>()
            .expect("valid")
            .client(ip(peer), xff.iter().copied())
    }

    #[test]
    fn values_parse_into_modes() {
        assert_eq!(
            "false".parse::<ProxyTrust>().expect("valid"),
            ProxyTrust::None
        );
        assert_eq!(
            "true".parse::<ProxyTrust>().expect("valid"),
            ProxyTrust::Hops(1)
        );
        assert_eq!(
            "2".parse::<ProxyTrust>().expect("valid"),
            ProxyTrust::Hops(2)
        );
        assert_eq!(
            "10.0.0.0/8, 192.168.1.7"
                .parse::<ProxyTrust>()
                .expect("valid"),
            ProxyTrust::Networks(vec![
                "10.0.0.0/8".parse().expect("valid"),
                "192.168.1.7/32".parse().expect("valid")
            ])
        );
        let err = "yes please".parse::<ProxyTrust>().expect_err("refused");
        assert!(err.to_string().contains("yes please"), "{err}");
    }

    #[test]
    fn without_trust_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(client("false", "10.1.1.1", &["1.2.3.4"]), ip("10.1.1.1"));
    }

    #[test]
    fn one_hop_takes_the_address_the_proxy_appended_not_the_clients_claim() {
        // The client sent `X-Forwarded-For: 6.6.6.6`; the ingress appended the real 7.7.7.7.
        assert_eq!(
            client("true", "10.0.0.5", &["6.6.6.6, 7.7.7.7"]),
            ip("7.7.7.7")
        );
        // Split across header lines: still the rightmost.
        assert_eq!(
            client("1", "10.0.0.5", &["6.6.6.6", "7.7.7.7"]),
            ip("7.7.7.7")
        );
        // No header: the peer.
        assert_eq!(client("1", "10.0.0.5", &[]), ip("10.0.0.5"));
    }

    #[test]
    fn hop_counts_walk_from_the_right_and_stop_at_the_start() {
        assert_eq!(
            client("2", "10.0.0.5", &["6.6.6.6, 7.7.7.7, 10.0.0.9"]),
            ip("7.7.7.7")
        );
        assert_eq!(client("3", "10.0.0.5", &["7.7.7.7"]), ip("7.7.7.7"));
    }

    #[test]
    fn networks_skip_trusted_proxies_from_the_right() {
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.5", &["6.6.6.6, 7.7.7.7, 10.0.0.9"]),
            ip("7.7.7.7")
        );
        // A peer outside the trusted networks is the client, whatever it forwards.
        assert_eq!(client("10.0.0.0/8", "8.8.8.8", &["6.6.6.6"]), ip("8.8.8.8"));
    }

    #[test]
    fn garbage_or_ports_never_become_a_new_key() {
        assert_eq!(client("1", "10.0.0.5", &["not-an-ip"]), ip("10.0.0.5"));
        assert_eq!(client("1", "10.0.0.5", &["7.7.7.7:5123"]), ip("7.7.7.7"));
        assert_eq!(
            client("1", "10.0.0.5", &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
    }
}
