//! The one error type of the load generator: each variant says what went wrong, and its
//! help what to do next. Every one of them means nothing was measured; a run that got
//! as far as measuring reports its failed requests in the `Report` instead.

use miette::Diagnostic;
use reqwest::StatusCode;
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    /// A number or option out of range, found before anything is sent.
    #[error("{message}")]
    #[diagnostic(code(modu_load::invalid_option))]
    InvalidOption {
        message: String,
        #[help]
        help: String,
    },

    /// `--url` is not an http(s) URL with a host.
    #[error("--url {url:?} {problem}")]
    #[diagnostic(
        code(modu_load::url),
        help("give the service's base URL, e.g. --url http://127.0.0.1:8000")
    )]
    Url { url: String, problem: String },

    /// `--proxy` is not an http:// URL with a host.
    #[error("--proxy {url:?} {problem}")]
    #[diagnostic(
        code(modu_load::proxy),
        help("give an HTTP proxy's URL, e.g. --proxy http://127.0.0.1:3128")
    )]
    Proxy { url: String, problem: String },

    /// `--ca-bundle` cannot be read or holds no certificate.
    #[error("--ca-bundle {path} {problem}")]
    #[diagnostic(
        code(modu_load::ca_bundle),
        help(
            "give a file of PEM certificates (-----BEGIN CERTIFICATE-----), e.g. a local cloud's ca.pem"
        )
    )]
    CaBundle { path: String, problem: String },

    #[error(
        "refusing to send load to {url}: {host} is not a loopback address \
         (127.0.0.0/8, ::1 or localhost)"
    )]
    #[diagnostic(
        code(modu_load::not_loopback),
        help(
            "`modu load` signs up accounts and floods the service with writes, so by default \
             it only aims at this machine; to load a deployed stack you own, add --allow-remote"
        )
    )]
    NotLoopback { url: String, host: String },

    #[error("cannot reach the service at {base}: {detail}")]
    #[diagnostic(
        code(modu_load::unreachable),
        help(
            "start it first (`cargo run -p modu-app` listens on http://127.0.0.1:8000) \
             or point --url at it"
        )
    )]
    Unreachable { base: String, detail: String },

    /// The service answered a setup request with another status than the resume
    /// service does.
    #[error("{action}: the service answered {status}: {said}")]
    #[diagnostic(
        code(modu_load::unexpected_status),
        help("check that --url points at the resume service (modu-app), and read its log")
    )]
    UnexpectedStatus {
        action: String,
        status: StatusCode,
        said: String,
    },

    /// The service still answered 502, 503 or 504 when `--wait-ready` ran out.
    #[error("{url} was not ready after {waited}s: it answered {status}: {said}")]
    #[diagnostic(
        code(modu_load::not_ready),
        help(
            "a service that is starting names what it waits for at /readyz; behind a load \
             balancer, check that its targets are healthy (`modu status`); or wait longer \
             with --wait-ready SECONDS"
        )
    )]
    NotReady {
        url: String,
        waited: u64,
        status: StatusCode,
        said: String,
    },

    /// The service answered a setup request, but not with what the resume service sends.
    #[error("{action}: {problem}")]
    #[diagnostic(
        code(modu_load::not_the_service),
        help("check that --url points at the resume service (modu-app)")
    )]
    NotTheService { action: String, problem: String },

    #[error("GET {url} answered no tasks, so no resume can be submitted")]
    #[diagnostic(
        code(modu_load::no_tasks),
        help("the service seeds its job categories in its migrations; check its database")
    )]
    NoTasks { url: String },

    #[error("interrupted during setup; nothing was measured")]
    #[diagnostic(
        code(modu_load::interrupted),
        help("run it again and let the setup (sign-ups) finish")
    )]
    InterruptedDuringSetup,

    /// What cannot happen did: a virtual user or the image maker panicked, the HTTP
    /// client could not be built.
    #[error("{what}")]
    #[diagnostic(
        code(modu_load::bug),
        help("this is a bug in modu load; please report it with the command line used")
    )]
    Bug { what: String },
}

impl Error {
    pub(crate) fn invalid_option(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::InvalidOption {
            message: message.into(),
            help: help.into(),
        }
    }
}
