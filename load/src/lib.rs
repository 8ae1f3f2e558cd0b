//! The traffic generator behind `modu load`: the traffic test of the resume service
//! (`modu-app`). It signs up its own accounts, then runs virtual users against the API for
//! a bounded time and number of requests, and reports throughput, latency percentiles and
//! errors by kind. `run` is the whole test; the `modu` binary only maps its command line
//! onto `Options` and prints the `Report`.
//!
//! The pieces follow a run: `target` checks where the load may go (loopback unless
//! allowed), `setup` prepares accounts and data, `jpeg` and `form` make the request bodies
//! once, `workload` runs the virtual users, `stats` measures, `report` renders, and
//! `progress` shows the live line; `error` says why a run could not measure anything.
//! Workloads:
//!
//! - `click`: the reference scenario, "save 10 times" in one click. Each virtual user
//!   POSTs the resume form with `--images` JPEGs 10 times, one after another, and then
//!   clicks again.
//! - `read`: a visitor. The first page of `GET /api/resumes`, then `GET /api/resumes/{id}`
//!   of one resume picked at random from it. If the list is empty at the start, setup
//!   submits 10 resumes first.
//! - `mixed`: each virtual user does one click after every 10 reads, so 20 GETs per
//!   10 POSTs; users are staggered so their clicks do not line up.

mod error;
mod form;
pub mod jpeg;
mod progress;
pub mod report;
mod setup;
mod stats;
mod target;
mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Client;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};
pub use progress::ProgressMode;
pub use report::Report;
pub use target::{ProxyUrl, Target};

use form::Form;
use progress::LiveLine;
use report::RunFacts;
use setup::Setup;
use stats::{Live, Recorder};
use workload::{Run, VirtualUser};

/// Saves per click, as the reference scenario's button does.
pub const SAVES_PER_CLICK: usize = 10;
/// Resumes submitted before a read workload when the list is empty.
pub const SEED_RESUMES: usize = 10;
/// Distinct images kept in memory for all virtual users together, at most.
const IMAGE_POOL_BYTES: usize = 64 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_IMAGE_BYTES: usize = 16 << 20;
const MIN_IMAGE_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Save the resume form with images 10 times per click, one save after another
    Click,
    /// List resumes and open one picked at random
    Read,
    /// One click after every 10 reads
    Mixed,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Click => "click",
            Workload::Read => "read",
            Workload::Mixed => "mixed",
        }
    }

    /// Whether a virtual user's operation number `op` is a click (else a read).
    fn clicks_at(self, op: usize) -> bool {
        match self {
            Workload::Click => true,
            Workload::Read => false,
            Workload::Mixed => op % 11 == 10,
        }
    }
}

/// Why the measured phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Duration,
    MaxRequests,
    Interrupted,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Duration => "--duration",
            StopReason::MaxRequests => "--max-requests",
            StopReason::Interrupted => "Ctrl-C",
        }
    }
}

/// Everything a run needs to know; `Options::new` gives the command's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL of the service.
    pub url: String,
    pub workload: Workload,
    /// Virtual users running at once.
    pub concurrency: usize,
    pub duration: Duration,
    /// Images per POST.
    pub images: usize,
    pub image_bytes: usize,
    /// Accounts to sign up; virtual users share them round-robin. Default: one each.
    pub users: Option<usize>,
    pub max_requests: u64,
    pub allow_remote: bool,
    pub request_timeout: Duration,
    /// How long setup asks again while the service answers that it is not ready (502,
    /// 503, 504): one that is still starting, or a load balancer with no healthy target.
    pub wait_ready: Duration,
    /// An HTTP proxy for every request (CONNECT for https). None: HTTPS_PROXY/HTTP_PROXY
    /// (and NO_PROXY) from the environment, except for a service on this machine.
    pub proxy: Option<String>,
    /// PEM certificates to trust besides the system's, for an HTTPS service whose CA is
    /// private (a local cloud's, a company's).
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl Options {
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            workload: Workload::Click,
            concurrency: 8,
            duration: Duration::from_secs(10),
            images: 2,
            image_bytes: 2048,
            users: None,
            max_requests: 100_000,
            allow_remote: false,
            request_timeout: Duration::from_secs(10),
            wait_ready: Duration::from_secs(60),
            proxy: None,
            ca_bundle: None,
        }
    }

    fn users(&self) -> usize {
        self.users.unwrap_or(self.concurrency)
    }

    /// Checks the numbers; pure, so it runs before anything is sent.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, message: String, help: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid_option(message, help))
            }
        };
        check(
            (1..=10_000).contains(&self.concurrency),
            format!("-c {} is out of range", self.concurrency),
            "give 1 to 10000 virtual users",
        )?;
        check(
            (1..=self.concurrency).contains(&self.users()),
            format!("--users {} is out of range", self.users()),
            "give 1 to as many accounts as virtual users (-c); users share accounts round-robin",
        )?;
        check(
            !self.duration.is_zero() && self.duration <= Duration::from_secs(24 * 3600),
            format!("-d {}s is out of range", self.duration.as_secs()),
            "give 1 to 86400 seconds",
        )?;
        check(
            self.images <= 100,
            format!("--images {} is out of range", self.images),
            "give 0 to 100 images per save (the service accepts 10 by default)",
        )?;
        check(
            self.images == 0 || (MIN_IMAGE_BYTES..=MAX_IMAGE_BYTES).contains(&self.image_bytes),
            format!("--image-bytes {} is out of range", self.image_bytes),
            "give 256 to 16777216 bytes per image",
        )?;
        let smallest_op = if self.workload == Workload::Read {
            2
        } else {
            SAVES_PER_CLICK as u64
        };
        check(
            self.max_requests >= smallest_op,
            format!(
                "--max-requests {} does not allow one {} operation ({smallest_op} requests)",
                self.max_requests,
                self.workload.name()
            ),
            "raise --max-requests",
        )?;
        check(
            !self.request_timeout.is_zero(),
            "--request-timeout must be more than 0 seconds".to_string(),
            "give the longest a single request may take, in seconds",
        )?;
        check(
            self.wait_ready <= Duration::from_secs(3600),
            format!(
                "--wait-ready {}s is out of range",
                self.wait_ready.as_secs()
            ),
            "give 0 (do not wait) to 3600 seconds",
        )
    }
}

/// Runs the traffic test. `interrupt` (Ctrl-C) ends the measured phase early, still with
/// a report; during setup it ends the run with an error.
pub async fn run(
    options: &Options,
    interrupt: CancellationToken,
    progress: ProgressMode,
) -> Result<Report> {
    options.validate()?;
    let proxy = options.proxy.as_deref().map(ProxyUrl::parse).transpose()?;
    let local_proxy = proxy.as_ref().is_some_and(ProxyUrl::is_loopback);
    let target = Target::parse(&options.url, options.allow_remote || local_proxy)?;
    let client = http_client(options, &target, proxy.as_ref())?;
    let line = LiveLine::new(progress);

    let setup_started = Instant::now();
    let prepared = tokio::select! {
        biased;
        () = interrupt.cancelled() => Err(Error::InterruptedDuringSetup),
        prepared = prepare(options, &client, &target, &line) => prepared,
    };
    let users = match prepared {
        Ok(users) => users,
        Err(e) => {
            line.finish();
            return Err(e);
        }
    };
    let setup = setup_started.elapsed();

    let live = Arc::new(Live::default());
    let started = Instant::now();
    let run = Arc::new(Run::new(
        client,
        options,
        &target,
        interrupt,
        Arc::clone(&live),
    ));
    let ticker = line.follow(Arc::clone(&live), started, options.duration);
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| tokio::spawn(Arc::clone(&run).virtual_user(user)))
        .collect();
    let mut totals = Recorder::new(live);
    let mut crashed = None;
    for task in tasks {
        match task.await {
            Ok(recorder) => totals.merge(recorder),
            Err(e) => crashed = Some(e),
        }
    }
    let elapsed = started.elapsed();
    ticker.abort();
    line.finish();
    if let Some(e) = crashed {
        return Err(Error::Bug {
            what: format!("a virtual user stopped unexpectedly: {e}"),
        });
    }
    let facts = RunFacts {
        users: options.users(),
        setup,
        elapsed,
        stopped_by: run.stop_reason(),
    };
    Ok(Report::new(options, &totals, facts))
}

/// One client for the whole run: its pool keeps a connection per virtual user alive.
fn http_client(options: &Options, target: &Target, proxy: Option<&ProxyUrl>) -> Result<Client> {
    install_crypto_provider();
    let mut builder = Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .connect_timeout(options.request_timeout.min(CONNECT_TIMEOUT))
        .timeout(options.request_timeout)
        .user_agent(concat!("modu-load/", env!("CARGO_PKG_VERSION")));
    builder = match proxy {
        Some(proxy) => builder.proxy(proxy.reqwest()?),
        // A service on this machine is not behind the proxy that the environment sets for
        // the outside world; anything else takes the environment's (reqwest's default).
        None if target.is_loopback() => builder.no_proxy(),
        None => builder,
    };
    if let Some(path) = &options.ca_bundle {
        for certificate in ca_bundle(path)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| Error::Bug {
        what: format!("cannot build the HTTP client: {}", describe_error(&e)),
    })
}

/// The certificates of a PEM file, each one checked.
fn ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let refuse = |problem: String| Error::CaBundle {
        path: path.display().to_string(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| refuse(format!("cannot be read: {e}")))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| refuse(format!("is not PEM certificates: {}", describe_error(&e))))?;
    if certificates.is_empty() {
        return Err(refuse("holds no certificate".to_string()));
    }
    Ok(certificates)
}

/// reqwest takes the process's rustls provider; modu's TLS is ring throughout (the SDK's
/// default, aws-lc, would be a second C library to build). One installed before is kept.
fn install_crypto_provider() {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The setup phase: accounts, images and forms, one virtual user each.
async fn prepare(
    options: &Options,
    client: &Client,
    target: &Target,
    line: &LiveLine,
) -> Result<Vec<VirtualUser>> {
    let setup = Setup { client, target };
    line.note(&format!("reading the job categories of {}", target.base()));
    let tasks = setup
        .tasks_when_ready(options.wait_ready, |why| line.note(why))
        .await?;

    let run_id = format!("{:08x}", rand::random::<u32>());
    let users = options.users();
    line.note(&format!("signing up {users} account(s) load-{run_id}-*"));
    let authorizations = setup.sign_up(&run_id, users).await?;

    line.note("making images");
    let seed = rand::random::<u64>();
    let pool = image_pool(options, seed).await?;
    let boundary = format!(
        "modu-load-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let forms: Vec<Form> = (0..options.concurrency)
        .map(|n| {
            let images: Vec<Bytes> = (0..options.images)
                .map(|i| pool[(n * options.images + i) % pool.len()].clone())
                .collect();
            let name = format!("부하 테스트 {n}");
            let task = tasks[n % tasks.len()].id.to_string();
            let fields = [
                ("name", name.as_str()),
                ("motivation", MOTIVATION),
                ("task", task.as_str()),
            ];
            Form::new(&boundary, &fields, &images)
        })
        .collect();

    if options.workload != Workload::Click {
        line.note("checking there are resumes to read");
        let seeded = setup.seed_if_empty(&authorizations[0], &forms[0]).await?;
        if seeded > 0 {
            line.note(&format!("submitted {seeded} resumes to read"));
        }
    }

    Ok(forms
        .into_iter()
        .enumerate()
        .map(|(index, form)| VirtualUser {
            index,
            authorization: authorizations[index % users].clone(),
            form,
            seed: seed.wrapping_add(index as u64),
        })
        .collect())
}

const MOTIVATION: &str = "modu load: 트래픽 급증 시험용 지원 동기입니다. \
    This resume was submitted by the traffic test to measure how many saves per second \
    the service acknowledges durably, with images, under concurrent clicks.";

/// Distinct JPEGs for all forms: one per image slot of every virtual user, as long as
/// they fit `IMAGE_POOL_BYTES`; beyond that forms share them (never within one form).
async fn image_pool(options: &Options, seed: u64) -> Result<Vec<Bytes>> {
    if options.images == 0 {
        return Ok(Vec::new());
    }
    let wanted = options.images * options.concurrency;
    let count = (IMAGE_POOL_BYTES / options.image_bytes).clamp(options.images, wanted);
    let size = options.image_bytes;
    tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|n| {
                Bytes::from(jpeg::generate(
                    size,
                    seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ))
            })
            .collect()
    })
    .await
    .map_err(|e| Error::Bug {
        what: format!("making the images failed (--image-bytes {size}): {e}"),
    })
}

/// An error and its causes on one line: reqwest's own message is terse ("error sending
/// request"), the cause says what happened ("Connection refused").
pub(crate) fn describe_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::new("http://127.0.0.1:8000").validate().unwrap();
    }

    #[test]
    fn out_of_range_numbers_are_refused_before_anything_is_sent() {
        let base = Options::new("http://127.0.0.1:8000");
        let cases = [
            Options {
                concurrency: 0,
                ..base.clone()
            },
            Options {
                users: Some(9),
                ..base.clone()
            },
            Options {
                users: Some(0),
                ..base.clone()
            },
            Options {
                duration: Duration::ZERO,
                ..base.clone()
            },
            Options {
                image_bytes: 10,
                ..base.clone()
            },
            Options {
                max_requests: 9,
                ..base.clone()
            },
            Options {
                workload: Workload::Read,
                max_requests: 1,
                ..base.clone()
            },
            Options {
                request_timeout: Duration::ZERO,
                ..base.clone()
            },
            Options {
                wait_ready: Duration::from_secs(3601),
                ..base.clone()
            },
        ];
        for options in cases {
            assert!(options.validate().is_err(), "{options:?}");
        }
        Options {
            images: 0,
            image_bytes: 0,
            wait_ready: Duration::ZERO,
            ..base.clone()
        }
        .validate()
        .unwrap();
        Options {
            workload: Workload::Read,
            max_requests: 2,
            ..base
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn mixed_clicks_once_every_eleven_operations() {
        let clicks = (0..110).filter(|&op| Workload::Mixed.clicks_at(op)).count();
        assert_eq!(clicks, 10);
        assert!((0..50).all(|op| Workload::Click.clicks_at(op)));
        assert!((0..50).all(|op| !Workload::Read.clicks_at(op)));
    }
}
