//! Response headers that tell browsers to stay strict, added to every response by one
//! layer (`startup` installs it outermost, so the starting gate's answers get them too):
//!
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy` everywhere;
//! - a deny-all `Content-Security-Policy` on anything that did not set its own (JSON,
//!   images): nothing the API returns should ever run or be framed; the page sets the
//!   policy it needs ([`page_policy`], built from the image origin, which is only known
//!   once the stack's parameters are read);
//! - `Strict-Transport-Security` only when the viewer came over HTTPS, as the load
//!   balancer (`X-Forwarded-Proto`) or CloudFront (`CloudFront-Forwarded-Proto`) says:
//!   on plain HTTP it would mean nothing, and locally it would pin `localhost` to HTTPS;
//! - `Cache-Control: no-store` on whatever carries a session token (a `Set-Cookie`, or
//!   any `/api/auth/` answer), so no shared or browser cache keeps one.

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, SET_COOKIE, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// A year, the usual HSTS lifetime; subdomains are not covered, since this service
/// does not know what else runs under its domain.
const HSTS: &str = "max-age=31536000";
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The page's policy: its own script, style sheet and API; images from itself, from
/// `blob:` (the form previews chosen files) and from the image origin when
/// `media_base_url` is absolute (a CDN); never framed, no `<base>`, forms only to itself.
pub fn page_policy(media_base_url: &str) -> String {
    let mut images = String::from("'self' blob:");
    if let Some(origin) = origin_of(media_base_url) {
        images.push(' ');
        images.push_str(&origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of an absolute URL; `None` for a path like `/media`.
fn origin_of(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    // CSP source expressions carry no user info.
    let host = authority.as_str().rsplit('@').next()?;
    matches!(scheme, "http" | "https").then(|| format!("{scheme}://{host}"))
}

/// Whether the viewer reached us over HTTPS, according to the proxy in front: CloudFront
/// in `CloudFront-Forwarded-Proto` (when its origin request policy passes it), the load
/// balancer in `X-Forwarded-Proto`.
pub(crate) fn viewer_used_https(headers: &HeaderMap) -> bool {
    let says_https = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            // A proxy chain appends: the first entry is the viewer's side.
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    };
    says_https("x-forwarded-proto") || says_https("cloudfront-forwarded-proto")
}

/// The layer: `axum::middleware::from_fn(security_headers)`.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let https = viewer_used_https(request.headers());
    let auth = request.uri().path().starts_with("/api/auth/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        );
    }
    // For browsers that predate `frame-ancestors`.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if auth || headers.contains_key(SET_COOKIE) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_may_load_images_from_an_absolute_media_origin_only() {
        let local = page_policy("/media");
        assert!(local.contains("img-src 'self' blob:;"), "{local}");
        let cdn = page_policy("https://d111.cloudfront.net/media");
        assert!(
            cdn.contains("img-src 'self' blob: https://d111.cloudfront.net;"),
            "{cdn}"
        );
        let port = page_policy("http://127.0.0.1:9000/bucket/media");
        assert!(port.contains("http://127.0.0.1:9000;"), "{port}");
        for policy in [local, cdn] {
            for directive in [
                "frame-ancestors 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "script-src 'self'",
                "default-src 'none'",
            ] {
                assert!(policy.contains(directive), "{directive} in {policy}");
            }
        }
    }

    #[test]
    fn only_a_viewer_side_https_counts() {
        let with = |name: &'static str, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            viewer_used_https(&h)
        };
        assert!(with("x-forwarded-proto", "https"));
        assert!(with("x-forwarded-proto", "HTTPS, http"));
        assert!(with("cloudfront-forwarded-proto", "https"));
        assert!(!with("x-forwarded-proto", "http"));
        assert!(!with("x-forwarded-proto", "http, https"));
        assert!(!viewer_used_https(&HeaderMap::new()));
    }
}
