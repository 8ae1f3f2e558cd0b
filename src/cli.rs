//! The command line: options and subcommands, parsed by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::load::Workload;

/// Stand up a high-traffic web architecture on AWS from one YAML file, and tear it down.
#[derive(Debug, Parser)]
#[command(name = "modu", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The stack spec [default: modu.yaml, else stacks/modu.yaml]
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// AWS region, overriding the spec's `region`
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named profile from the AWS config files
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator)
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Longest time any one resource may take to become ready, changed or gone (all its
    /// waits together)
    #[arg(long, global = true, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    /// How long `up`, `down` and `deploy` wait for another run changing the same stack
    /// (from any machine) to finish before giving up
    #[arg(long, global = true, default_value_t = 900, value_name = "SECONDS")]
    pub lease_wait: u64,
    /// Accept a `dns.zone` under example.com, .net or .org (reserved for documentation:
    /// for tests and a local cloud, never a real account)
    #[arg(long, global = true, env = "MODU_ALLOW_EXAMPLE_DOMAINS")]
    pub allow_example_domains: bool,
    /// Log what modu does (-v: modu's own steps, -vv: every AWS call)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would change, changing nothing
    ///
    /// Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes pending (with
    /// --detailed-exitcode), 1 error.
    Plan(PlanArgs),
    /// Create what is missing and converge what drifted from the spec
    ///
    /// Shows the plan first, then applies exactly that plan. Deleting or replacing anything
    /// asks first on a terminal; without one it needs --yes.
    Up(UpArgs),
    /// Roll the spec's release out: upload it, then replace the instances through an
    /// instance refresh (launch before terminate, rollback on failure)
    ///
    /// Converges like `up`, but refuses a plan that deletes or replaces anything. Exits
    /// non-zero when the refresh fails or rolls back, naming why.
    Deploy(DeployArgs),
    /// Delete everything the stack owns, in reverse dependency order
    Down(DownArgs),
    /// Show every resource of the stack and whether it is healthy
    ///
    /// Exit codes: 0 complete and healthy, 3 resources missing, 4 something unhealthy,
    /// 1 error.
    Status(StatusArgs),
    /// Check a spec without calling AWS
    Validate,
    /// Print the JSON Schema of the spec, for editors
    Schema,
    /// Print the least-privilege IAM policy that plan, up, status, deploy and down need
    /// for the spec, without calling AWS
    ///
    /// Mutating actions are limited to the stack's own resources (names derived from the
    /// spec, or its `modu:stack` tag) wherever AWS allows it.
    IamPolicy(IamPolicyArgs),
    /// Send a traffic spike to the resume service and report throughput and latency
    ///
    /// Signs up its own accounts, then runs -c virtual users for -d seconds or
    /// --max-requests requests, whichever comes first; Ctrl-C stops early and still
    /// reports. Only loopback URLs unless --allow-remote.
    ///
    /// Exit codes: 0 every request answered as expected, 5 the run was reported but some
    /// requests failed, 1 error (nothing measured).
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Exit 2 when the plan changes anything, 0 when it changes nothing
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply deletions and replacements without asking
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Give the header CloudFront sends the load balancer a new secret value, without
    /// refusing a request on the way (both values are accepted until every edge sends the
    /// new one)
    #[arg(long)]
    pub rotate_origin_secret: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Default, Args)]
pub struct ImageArgs {
    /// Move `compute.image: al2023` to the latest image AWS publishes (it stays on the
    /// image it was first resolved to otherwise), rolling it out to the instances
    #[arg(long)]
    pub refresh_image: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also delete what holds the service's data: the images bucket (emptied) and the
    /// database (after a final snapshot); both are kept by default
    #[arg(long)]
    pub delete_data: bool,
    /// With --delete-data: delete the database without taking a final snapshot
    #[arg(long, requires = "delete_data")]
    pub no_final_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The account the stack lives in, written into every ARN [default: `*`, any account,
    /// so that printing needs no credentials]
    #[arg(long, value_name = "ID", default_value = crate::iam_policy::ANY_ACCOUNT,
          value_parser = crate::iam_policy::parse_account)]
    pub account_id: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Base URL of the resume service
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// What each virtual user does
    #[arg(short, long, value_enum, default_value_t = Workload::Click)]
    pub workload: Workload,
    /// Virtual users running at once
    #[arg(short = 'c', long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// Stop starting requests after this many seconds
    #[arg(short = 'd', long, default_value_t = 10, value_name = "SECONDS")]
    pub duration: u64,
    /// JPEG images in each save of the form
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub images: usize,
    /// Size of each generated JPEG
    #[arg(long, default_value_t = 2048, value_name = "BYTES")]
    pub image_bytes: usize,
    /// Accounts to sign up, shared round-robin by the virtual users [default: -c]
    #[arg(long, value_name = "N")]
    pub users: Option<usize>,
    /// Stop starting requests after this many
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_requests: u64,
    /// Longest one request may take before it counts as a timeout
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub request_timeout: u64,
    /// Before the run, ask again for this long while the service answers that it is not
    /// ready (502, 503, 504: still starting, or no healthy instance behind its load balancer)
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub wait_ready: u64,
    /// Allow a URL that is not this machine (127.0.0.0/8, ::1, localhost) [a target reached
    /// through a --proxy on this machine counts as this machine's]
    #[arg(long)]
    pub allow_remote: bool,
    /// Send every request through this HTTP proxy (CONNECT for https) [default: HTTPS_PROXY /
    /// HTTP_PROXY and NO_PROXY from the environment, none for a service on this machine]
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Trust the PEM certificates in FILE besides the system's (e.g. a local cloud's CA)
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// The report on stdout: a table for people, or a JSON document
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Process exit codes, as documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    /// Any error: bad spec, AWS error, timeout, refused confirmation.
    pub const FAILURE: u8 = 1;
    /// `plan --detailed-exitcode`: the plan changes something.
    pub const CHANGES_PENDING: u8 = 2;
    /// `status`: some resources of the stack do not exist.
    pub const INCOMPLETE: u8 = 3;
    /// `status`: everything exists but something is unhealthy.
    pub const UNHEALTHY: u8 = 4;
    /// `load`: the run finished and was reported, but some requests failed.
    pub const LOAD_ERRORS: u8 = 5;
}
