//! Who is asking: the address rate limits and the audit log key on.
//!
//! Deployed, the service sits behind the stack's load balancer, which appends the
//! address it was reached from to `X-Forwarded-For`; everything before that last hop
//! was written by the client or by proxies on its way, and a client can write anything
//! there. So the last hop is the one address the service can trust: the viewer's when
//! the viewer reaches the load balancer directly, the CloudFront edge's when it goes
//! through the distribution (CloudFront appends the viewer, then the load balancer
//! appends the edge). Without the header, the address of the TCP peer. Run without a
//! load balancer in front, `X-Forwarded-For` is whatever the client sends: limits per
//! address then hold only for clients that do not forge it.
//!
//! IPv6 addresses count per /64: one host usually holds a whole /64, so counting each
//! address apart would give it 2^64 budgets.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The client's address as the service sees it, or `Unknown` when neither the load
/// balancer nor the connection tells (a server built without connection info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddr {
    Ip(IpAddr),
    Unknown,
}

impl ClientAddr {
    /// The last `X-Forwarded-For` hop, else the peer.
    pub fn from_headers(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        let last_hop = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .map(|value| {
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.rsplit(',').next())
                    .and_then(parse_hop)
            });
        match (last_hop, peer) {
            (Some(Some(ip)), _) => ClientAddr::Ip(ip.to_canonical()),
            // A header that the load balancer did not write (it writes an address) is
            // the client's own: the peer is the better witness then.
            (Some(None) | None, Some(peer)) => ClientAddr::Ip(peer.ip().to_canonical()),
            (Some(None) | None, None) => ClientAddr::Unknown,
        }
    }

    pub fn of_request(request: &Request) -> Self {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Self::from_headers(request.headers(), peer)
    }

    /// What limits count under: the address, or its /64 for IPv6.
    pub fn limit_key(&self) -> String {
        match self {
            ClientAddr::Ip(IpAddr::V4(ip)) => ip.to_string(),
            ClientAddr::Ip(IpAddr::V6(ip)) => {
                let prefix = u128::from(*ip) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
            ClientAddr::Unknown => "unknown".to_owned(),
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAddr::Ip(ip) => ip.fmt(f),
            ClientAddr::Unknown => f.write_str("unknown"),
        }
    }
}

/// An address, bare or with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self::from_headers(&parts.headers, peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn peer() -> Option<SocketAddr> {
        Some("10.0.0.9:41000".parse().unwrap())
    }

    #[test]
    fn the_last_hop_is_the_one_the_load_balancer_appended() {
        let client = ClientAddr::from_headers(&headers(&["6.6.6.6, 203.0.113.7"]), peer());
        assert_eq!(client.to_string(), "203.0.113.7");
        // Several header lines are one list: the last line's last entry.
        let client = ClientAddr::from_headers(&headers(&["6.6.6.6", "198.51.100.1"]), peer());
        assert_eq!(client.to_string(), "198.51.100.1");
        let client = ClientAddr::from_headers(&headers(&["[2001:db8::1]:443"]), peer());
        assert_eq!(client.to_string(), "2001:db8::1");
    }

    #[test]
    fn without_a_usable_header_the_peer_counts() {
        assert_eq!(
            ClientAddr::from_headers(&HeaderMap::new(), peer()).to_string(),
            "10.0.0.9"
        );
        assert_eq!(
            ClientAddr::from_headers(&headers(&["1.2.3.4, not-an-address"]), peer()).to_string(),
            "10.0.0.9"
        );
        assert_eq!(
            ClientAddr::from_headers(&HeaderMap::new(), None),
            ClientAddr::Unknown
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a = ClientAddr::from_headers(&headers(&["2001:db8:1:2:aaaa::1"]), None);
        let b = ClientAddr::from_headers(&headers(&["2001:db8:1:2:bbbb::2"]), None);
        assert_eq!(a.limit_key(), "2001:db8:1:2::/64");
        assert_eq!(a.limit_key(), b.limit_key());
        let mapped = ClientAddr::from_headers(&headers(&["::ffff:192.0.2.1"]), None);
        assert_eq!(mapped.limit_key(), "192.0.2.1");
    }
}
