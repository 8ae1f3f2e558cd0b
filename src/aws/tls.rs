//! One TLS implementation for every HTTPS connection modu makes: rustls on ring.
//!
//! The SDK's default HTTPS client brings aws-lc, a C library whose build alone is a minute and
//! a half of a cold `cargo install` on two cores; ring serves the same TLS 1.2/1.3 suites, and
//! the direct clients and the load generator share it.

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
pub use modu_wire::install_crypto_provider;

/// The HTTPS client for the SDK's clients; it trusts the system's certificate store.
pub fn sdk_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
