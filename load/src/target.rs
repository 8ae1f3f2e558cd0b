//! Where the load goes: the service's base URL, refused unless it is this machine
//! (127.0.0.0/8, ::1, `localhost`), reached through a proxy on this machine, or the user
//! said `--allow-remote`. Pure: no request is made before this check passes.

use std::net::IpAddr;

use reqwest::Url;

use crate::error::{Error, Result};

/// The base URL of the service under load, checked.
#[derive(Debug, Clone)]
pub struct Target {
    base: Url,
}

impl Target {
    pub fn parse(raw: &str, allow_remote: bool) -> Result<Target> {
        let refuse = |problem: String| Error::Url {
            url: raw.to_string(),
            problem,
        };
        let mut base = Url::parse(raw).map_err(|e| refuse(format!("is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(refuse("is not an http:// or https:// URL".to_string()));
        }
        let Some(host) = base.host_str().map(str::to_owned) else {
            return Err(refuse("has no host".to_string()));
        };
        if !allow_remote && !is_loopback(&host) {
            return Err(Error::NotLoopback {
                url: raw.to_string(),
                host,
            });
        }
        // Endpoints are joined relative to the base, so a service mounted under a path
        // prefix works too.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        Ok(Target { base })
    }

    /// The URL of `path` ("api/resumes") under the base.
    pub fn endpoint(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("a relative path joins onto an http(s) URL")
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn is_loopback(&self) -> bool {
        self.base.host_str().is_some_and(is_loopback)
    }
}

/// `--proxy`: an http:// proxy URL. One on this machine (a local cloud's, say) makes the
/// target count as this machine's too: the proxy, not the internet, is what the load reaches.
#[derive(Debug, Clone)]
pub struct ProxyUrl {
    url: Url,
}

impl ProxyUrl {
    pub fn parse(raw: &str) -> Result<ProxyUrl> {
        let refuse = |problem: String| Error::Proxy {
            url: raw.to_string(),
            problem,
        };
        let url = Url::parse(raw).map_err(|e| refuse(format!("is not a URL: {e}")))?;
        if url.scheme() != "http" {
            return Err(refuse("is not an http:// proxy URL".to_string()));
        }
        if url.host_str().is_none() {
            return Err(refuse("has no host".to_string()));
        }
        Ok(ProxyUrl { url })
    }

    pub fn is_loopback(&self) -> bool {
        self.url.host_str().is_some_and(is_loopback)
    }

    pub fn reqwest(&self) -> Result<reqwest::Proxy> {
        reqwest::Proxy::all(self.url.as_str()).map_err(|e| Error::Proxy {
            url: self.url.to_string(),
            problem: e.to_string(),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    // `Url` has already normalised the host: IPv6 in brackets, IPv4 in dotted decimal
    // (so `0x7f.1` became `127.0.0.1`), domains lower-cased.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => matches!(bare, "localhost" | "localhost."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_is_an_http_url_and_one_on_this_machine_is_local() {
        assert!(
            ProxyUrl::parse("http://127.0.0.1:3128")
                .unwrap()
                .is_loopback()
        );
        assert!(
            !ProxyUrl::parse("http://proxy.example.com:3128")
                .unwrap()
                .is_loopback()
        );
        for bad in ["socks5://127.0.0.1:1080", "127.0.0.1:3128", "http://"] {
            assert!(
                matches!(ProxyUrl::parse(bad), Err(Error::Proxy { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_hosts_are_accepted() {
        for url in [
            "http://127.0.0.1:8000",
            "http://127.3.4.5/",
            "http://localhost:3000",
            "http://LOCALHOST",
            "http://[::1]:8000",
            "http://[::ffff:127.0.0.1]:8000",
            "http://0x7f.1:8000",
            "https://localhost/app",
        ] {
            assert!(Target::parse(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_hosts_are_refused_without_allow_remote() {
        for url in [
            "http://10.0.0.1:8000",
            "http://0.0.0.0:8000",
            "http://example.com",
            "http://localhost.example.com",
            "http://[::]:8000",
            "https://d111111abcdef8.cloudfront.net",
        ] {
            let err = Target::parse(url, false).expect_err(url).to_string();
            assert!(err.contains("is not a loopback address"), "{url}: {err}");
            assert!(
                Target::parse(url, true).is_ok(),
                "{url} with --allow-remote"
            );
        }
    }

    #[test]
    fn the_refusal_says_how_to_proceed() {
        use miette::Diagnostic;

        let err = Target::parse("http://example.com", false).unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err:?}");
        let help = err.help().expect("a help text").to_string();
        assert!(help.contains("--allow-remote"), "{help}");
    }

    #[test]
    fn non_http_urls_are_refused_even_with_allow_remote() {
        assert!(Target::parse("ftp://127.0.0.1/", true).is_err());
        assert!(Target::parse("127.0.0.1:8000", true).is_err());
        assert!(Target::parse("not a url", true).is_err());
    }

    #[test]
    fn endpoints_join_under_the_base_path() {
        let target = Target::parse("http://127.0.0.1:8000/app?x=1", false).unwrap();
        assert_eq!(
            target.endpoint("api/resumes").as_str(),
            "http://127.0.0.1:8000/app/api/resumes"
        );
        let target = Target::parse("http://127.0.0.1:8000", false).unwrap();
        assert_eq!(
            target.endpoint("api/tasks").as_str(),
            "http://127.0.0.1:8000/api/tasks"
        );
    }
}
