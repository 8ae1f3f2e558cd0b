//! Refuses the writes that a foreign page makes a browser send. A browser attaches the
//! session cookie to a request another site triggers (a form, a `fetch`), and
//! SameSite=Strict is not honoured everywhere, so every state-changing request
//! (POST, PUT, PATCH, DELETE) that a cookie may authenticate must show that it comes
//! from the service's own page: its `Origin` names the host the request was sent to,
//! or, without `Origin`, `Sec-Fetch-Site` says `same-origin` (or `none`: typed by the
//! user). A request with neither header comes from a program, not a browser a page
//! can drive, and passes, as do requests with `Authorization: Bearer`: a page cannot
//! make a browser add that header to a cross-site request without the service's
//! consent (CORS), which it never gives.
//!
//! The check runs whether or not a cookie is sent: without one, a write to any
//! endpoint but login and sign-up is refused anyway (401), and for those two, a
//! foreign page logging the visitor into the attacker's account is what must stop.
//!
//! The host compared with is `Host` (HTTP/2's `:authority`): the distribution forwards
//! the viewer's `Host` (origin request policy AllViewer) and the load balancer keeps it,
//! so it is what the browser addressed. `X-Forwarded-Host` is not read: nothing in the
//! stack sets it, so it could only come from the client itself. The scheme is not
//! compared: behind CloudFront talking HTTP to the load balancer the service cannot
//! tell which one the viewer used, and a page of the same host is the service's own.

use axum::http::{HeaderMap, Method, Uri, header};

/// `Ok`, or why the request looks cross-site.
pub fn check(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
    // Safe methods: GET, HEAD, OPTIONS and TRACE change nothing here.
    if method.is_safe() || has_bearer(headers) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        return match host {
            Some(host) if same_origin(origin, host) => Ok(()),
            Some(host) => Err(format!("Origin {origin:?} is not this host ({host:?})")),
            None => Err(format!("Origin {origin:?} and no Host to compare it with")),
        };
    }
    match headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or_default())
    {
        None | Some("same-origin" | "none") => Ok(()),
        Some(site) => Err(format!("Sec-Fetch-Site {site:?}")),
    }
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(..7))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "))
}

/// Does `origin` (`scheme://host[:port]`) name `host` (`host[:port]`)? Default ports
/// may be written or left out on either side; `null` (a sandboxed or opaque origin)
/// matches nothing.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return false,
    };
    let normal = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => a,
        }
    };
    !authority.is_empty() && !authority.contains('/') && normal(authority) == normal(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, pairs: &[(&str, &str)]) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        check(&method, &Uri::from_static("/api/resumes"), &headers)
    }

    #[test]
    fn the_own_origin_passes_and_a_foreign_one_is_refused() {
        let host = ("host", "modu.example.com");
        assert!(
            request(
                Method::POST,
                &[host, ("origin", "https://modu.example.com")]
            )
            .is_ok()
        );
        assert!(
            request(
                Method::DELETE,
                &[host, ("origin", "https://MODU.example.com:443")]
            )
            .is_ok()
        );
        let local = ("host", "127.0.0.1:8000");
        assert!(request(Method::PATCH, &[local, ("origin", "http://127.0.0.1:8000")]).is_ok());
        for origin in [
            "https://evil.example",
            "https://modu.example.com.evil.example",
            "https://modu.example.com:8443",
            "null",
            "modu.example.com",
        ] {
            assert!(
                request(Method::POST, &[host, ("origin", origin)]).is_err(),
                "{origin}"
            );
        }
        assert!(request(Method::POST, &[local, ("origin", "http://127.0.0.1:9000")]).is_err());
    }

    #[test]
    fn without_origin_fetch_metadata_decides() {
        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            assert_eq!(
                request(Method::POST, &[("sec-fetch-site", site)]).is_ok(),
                ok,
                "{site}"
            );
        }
        // A program sends neither.
        assert!(request(Method::POST, &[]).is_ok());
    }

    #[test]
    fn reads_and_bearer_requests_are_not_checked() {
        let foreign = ("origin", "https://evil.example");
        assert!(request(Method::GET, &[("host", "a"), foreign]).is_ok());
        assert!(
            request(
                Method::POST,
                &[("host", "a"), foreign, ("authorization", "Bearer abc")]
            )
            .is_ok()
        );
        assert!(
            request(
                Method::POST,
                &[("host", "a"), foreign, ("authorization", "Basic abc")]
            )
            .is_err()
        );
    }
}
