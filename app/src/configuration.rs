//! Settings, read from flags or the matching environment variables. With none of
//! them set the service runs alone: SQLite in WAL mode, images on local disk and an
//! in-process cache, so `cargo run -p modu-app` just works. Deployed by modu, it is
//! started with `--parameters /modu/<stack>/` and reads where its database, cache and
//! bucket are from the stack's parameters and secrets (see `parameters`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "modu-app",
    version,
    about = "The resume web service provisioned by modu"
)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// `sqlite://PATH` or `postgres://…`.
    // URLs may carry passwords: `--help` must never echo the environment's values.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/modu.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Redis for sessions and the list cache, shared by every instance behind the load balancer.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key, so several deployments (or tests) can share one server.
    #[arg(long, env = "REDIS_PREFIX", default_value = "modu:")]
    pub redis_prefix: String,

    /// Store images in this S3 bucket (standard AWS settings; `AWS_ENDPOINT_URL` for an emulator).
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Prefix of every image's key in the bucket (the CDN's `/media/*` path reads `media/`).
    #[arg(long, env = "S3_PREFIX", default_value = "")]
    pub s3_prefix: String,

    /// Address the bucket as `endpoint/bucket/key` (for endpoints without per-bucket DNS).
    #[arg(long, env = "S3_FORCE_PATH_STYLE", default_value_t = false)]
    pub s3_force_path_style: bool,

    /// Directory for images when no bucket is set.
    #[arg(long, env = "MEDIA_DIR", default_value = "data/media")]
    pub media_dir: PathBuf,

    /// Public base of image URLs, e.g. the CloudFront domain's `/media`; default: served by this process.
    #[arg(long, env = "MEDIA_BASE_URL")]
    pub media_base_url: Option<String>,

    /// Largest accepted image, in MiB.
    #[arg(long, env = "MAX_IMAGE_MB", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_image_mb: u64,

    /// Most images in one resume.
    #[arg(long, env = "MAX_IMAGES", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(0..=100))]
    pub max_images: u16,

    /// Database connections (PostgreSQL) or readers (SQLite, which always has one writer).
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Seconds a client may take to send a request's headers, from its first byte (or from
    /// connecting); the connection is closed after that.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,

    /// Seconds a kept-alive connection may sit idle between requests (or a response go
    /// unread) before it is closed; above the load balancer's idle timeout (60 s by
    /// default), so the balancer never reuses a connection the service just closed.
    #[arg(long, env = "IDLE_TIMEOUT_SECS", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Most client connections open at once; further connections wait in the listen
    /// backlog until one closes.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 2048,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// MiB of upload bodies held in memory at once, all uploads together; an upload
    /// waits for its share before its body is read.
    #[arg(long, env = "UPLOAD_MEMORY_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub upload_memory_mb: u64,

    /// Seconds an upload may wait for its share of `UPLOAD_MEMORY_MB` before it is
    /// answered 503 with `Retry-After`.
    #[arg(long, env = "UPLOAD_WAIT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub upload_wait_secs: u64,

    /// MiB of images one user may store in all their resumes together.
    #[arg(long, env = "USER_QUOTA_MB", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub user_quota_mb: u64,

    /// Seconds between sweeps of expired sessions from the database.
    #[arg(long, env = "SESSION_SWEEP_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_sweep_secs: u64,

    /// Read the database, cache and bucket settings from this SSM Parameter Store path
    /// (e.g. `/modu/<stack>/`) and the secrets it names, with the standard AWS credentials;
    /// they take the place of the matching settings above.
    #[arg(long, env = "MODU_PARAMETERS")]
    pub parameters: Option<String>,

    /// Seconds to keep serving after SIGTERM while `/readyz` says draining: a load balancer
    /// keeps sending until its deregistration delay is over.
    #[arg(long, env = "DRAIN_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_secs: u64,

    /// Log filter in `RUST_LOG` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn,aws=warn")]
    pub log_filter: String,
}

impl Settings {
    pub fn max_image_bytes(&self) -> usize {
        (self.max_image_mb as usize).saturating_mul(1024 * 1024)
    }

    /// Whole request body limit for a resume upload: every image at its largest plus
    /// room for the text fields and multipart framing.
    pub fn max_body_bytes(&self) -> usize {
        self.max_image_bytes()
            .saturating_mul(usize::from(self.max_images.max(1)))
            .saturating_add(1024 * 1024)
    }

    /// The upload memory budget in bytes: never below one largest upload, which could
    /// otherwise never be admitted.
    pub fn upload_memory_bytes(&self) -> usize {
        (self.upload_memory_mb as usize)
            .saturating_mul(1024 * 1024)
            .max(self.max_body_bytes())
    }

    pub fn user_quota_bytes(&self) -> u64 {
        self.user_quota_mb.saturating_mul(1024 * 1024)
    }

    /// Defaults as if no flag or variable were given — a starting point for tests.
    pub fn defaults() -> Self {
        Settings::parse_from(["modu-app"])
    }
}
