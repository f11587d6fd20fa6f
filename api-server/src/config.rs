//! Runtime configuration: the environment contract of `merchant-api serve`, parsed once by clap
//! and validated into [`Settings`]. Nothing else in the crate reads the environment.
//!
//! # Environment contract (what the operator's Deployment sets)
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `PORT` | no | `5001` | HTTP listen port (`0` picks a free port, used by tests) |
//! | `HOST` | no | `0.0.0.0` | listen address |
//! | `ADMIN_PORT` | no | `9464` | admin listener (same address): `/metrics`, `/health/live`, `/health/ready`; kept off the public port so scrapes and probes never share the clients' limits and metrics never leak to them (`0` picks a free port) |
//! | `MONGODB_URI` | **yes** | – | MongoDB connection string (secret: may hold credentials) |
//! | `MONGODB_DATABASE` | no | database of the URI, else `merchant` | database name |
//! | `MONGODB_MAX_POOL_SIZE` | no | `20` | connection pool size per process |
//! | `REDIS_URL` | no | – | Redis for rate limits; without it limits are counted in-process |
//! | `JWT_MERCHANT_SECRET` | **yes** | – | HS256 key of merchant access tokens, ≥ 32 chars |
//! | `JWT_REFRESH_SECRET` | **yes** | – | HS256 key of refresh tokens, ≥ 32 chars, differs from the above |
//! | `JWT_SECRET` | no | – | consumer-app key; accepted for compatibility, ≥ 32 chars when set |
//! | `JWT_MERCHANT_EXPIRES_IN` | no | `7d` | access-token lifetime (`90s`, `15m`, `12h`, `7d`) |
//! | `JWT_REFRESH_EXPIRES_IN` | no | `30d` | refresh-token lifetime; also how long an expired access token may still be refreshed |
//! | `NODE_ENV` | no | `development` | `production` enables GST/PAN/IFSC checks and requires an explicit CORS allow-list |
//! | `LOG_LEVEL` | no | `info` | tracing filter (`RUST_LOG` syntax also accepted) |
//! | `LOG_FORMAT` | no | `json` | `json` or `pretty` |
//! | `CORS_ORIGIN` | no (yes in production unless a `*FRONTEND_URL` is set) | – | comma-separated allowed origins |
//! | `FRONTEND_URL`, `MERCHANT_FRONTEND_URL`, `ADMIN_FRONTEND_URL` | no | `http://localhost:3000` | allowed origins when `CORS_ORIGIN` is unset; `MERCHANT_FRONTEND_URL` (else `FRONTEND_URL`) prefixes e-mailed links |
//! | `SENDGRID_API_KEY` + `SENDGRID_FROM_EMAIL` | no | – | send e-mail through SendGrid's HTTP API (takes precedence over SMTP) |
//! | `SMTP_HOST`, `SMTP_PORT` (587), `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_FROM`, `SMTP_TLS` (`starttls`\|`tls`\|`none`) | no | – | send e-mail over SMTP |
//! | `DISABLE_RATE_LIMIT` | no | `false` | turn every rate limiter off (benchmarks) |
//! | `RATE_LIMIT_PREFIX` | no | `rl` | Redis key prefix of the limiters |
//! | `RATE_LIMIT_{GENERAL,AUTH,REGISTER,PASSWORD_RESET,PRODUCT_READ,PRODUCT_WRITE,PRODUCT_DELETE}_MAX` | no | 500, 5, 5, 3, 100, 30, 10 | per-window budgets (contract §5) |
//! | `TRUST_PROXY` | no | `false` | reverse proxies allowed to name the client in `X-Forwarded-For`: `false`, `true` (one proxy, e.g. the ingress), a hop count, or their addresses/CIDRs (`10.0.0.0/8,…`); the client is read from the right, past the trusted hops |
//! | `REQUEST_TIMEOUT_SECS` | no | `30` | per-request timeout (408) |
//! | `ENSURE_INDEXES` | no | `true` | create the indexes queries need at start-up (idempotent) |
//! | `AUDIT_RETENTION_DAYS` | no | `365` | days audit records are kept (TTL index on `auditlogs.timestamp`), 1..36500 |
//! | `ANALYTICS_CACHE_TTL_SECS` | no | `300` | lifetime of cached analytics results (Redis when `REDIS_URL` is set, in-process otherwise) |
//! | `ANALYTICS_CACHE_MAX_ENTRIES` | no | `10000` | cached results kept in-process (least recently used dropped first), or per merchant in Redis |
//! | `ANALYTICS_CACHE_MAX_BYTES` | no | `67108864` | bytes of cached results kept in-process |
//! | `ANALYTICS_CACHE_MAX_ENTRY_BYTES` | no | `1048576` | a larger result is computed every time, never cached |
//! | `SENTRY_DSN` | no | – | report errors (and panics) to Sentry; secret |
//! | `SENTRY_TRACES_SAMPLE_RATE` | no | `0` | share of requests sent to Sentry as performance traces (0..1) |
//! | `PASSWORD_HASH_QUEUE` | no | `64` | password hashes/verifications queued or running at once (login, register, password flows); past it those requests get 503 with `Retry-After` |
//! | `AUTH_CACHE_TTL_MS` | no | `1000` | how long a successful token check (merchant active, member's permissions, and the merchant and member documents it loaded) and an accepted API key are reused by reads and by product, variant and stock routes; another replica's changes show within it, this replica's at once; `0` reads the database on every request |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | no | – | OTLP/HTTP base URL; setting it (or the next) turns on trace export to `{base}/v1/traces` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | no | – | full OTLP/HTTP traces URL (wins over the base URL) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | no | – | `name=value,…` export headers, e.g. New Relic's `api-key=…`; secret |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` | no | `http/protobuf` | only `http/protobuf` is built in |
//! | `OTEL_SERVICE_NAME` | no | `merchant-api` | `service.name` of the spans |
//! | `OTEL_TRACES_SAMPLER_ARG` | no | `1` | share of new traces sampled (0..1); an incoming `traceparent`'s decision is followed |
//! | `OTEL_SDK_DISABLED` | no | `false` | `true` turns trace export off |
//! | `CLOUD_STORAGE_PROVIDER` | no | `local` | where uploads go: `local` (the `UPLOADS_DIR` volume; the operator mounts the uploads PVC there) or `s3` |
//! | `UPLOADS_DIR` | no | `uploads` | directory of uploaded files when the provider is `local` (the operator sets `/app/uploads`) |
//! | `UPLOADS_PUBLIC_URL` | no | – | absolute prefix of returned file URLs (e.g. `https://api.shop.example`); unset: URLs are paths (`/uploads/…`) on this API |
//! | `S3_BUCKET` | with `s3` | – | bucket of uploaded files |
//! | `S3_REGION` | no | `us-east-1` | bucket region |
//! | `S3_ENDPOINT` | no | AWS | S3-compatible endpoint (MinIO, SeaweedFS…); path-style requests, `http://` allowed |
//! | `S3_ACCESS_KEY_ID` + `S3_SECRET_ACCESS_KEY` | no | instance credentials | static S3 credentials (the secret key is a secret) |
//! | `CLOUDINARY_CLOUD_NAME`, `CLOUDINARY_API_KEY`, `CLOUDINARY_API_SECRET`, `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `RAZORPAY_KEY_ID`, `RAZORPAY_KEY_SECRET` | no | – | third-party credentials the legacy manifest wires; accepted (secret) but not used by any route yet |
//!
//! Secrets are held as [`SecretString`] and never logged (`Debug` prints `[REDACTED]`).

use std::{net::IpAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};

mod otel;
mod proxy;
pub use otel::{OtelConfig, OtelSettings};
pub use proxy::ProxyTrust;

/// Raw settings as clap reads them from flags and the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// HTTP listen port.
    #[arg(long, env = "PORT", default_value_t = 5001)]
    pub port: u16,
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Admin listen port: metrics and probes, off the public port.
    #[arg(long, env = "ADMIN_PORT", default_value_t = 9464)]
    pub admin_port: u16,
    /// MongoDB connection string.
    #[arg(long, env = "MONGODB_URI", value_parser = secret, hide_env_values = true)]
    pub mongodb_uri: Option<SecretString>,
    /// Database name (defaults to the URI's database, else `merchant`).
    #[arg(long, env = "MONGODB_DATABASE")]
    pub mongodb_database: Option<String>,
    /// MongoDB connection pool size.
    #[arg(long, env = "MONGODB_MAX_POOL_SIZE", default_value_t = 20)]
    pub mongodb_max_pool_size: u32,
    /// Redis URL for shared rate-limit counters.
    #[arg(long, env = "REDIS_URL", value_parser = secret, hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Key of merchant access tokens.
    #[arg(long, env = "JWT_MERCHANT_SECRET", value_parser = secret, hide_env_values = true)]
    pub jwt_merchant_secret: Option<SecretString>,
    /// Key of refresh tokens.
    #[arg(long, env = "JWT_REFRESH_SECRET", value_parser = secret, hide_env_values = true)]
    pub jwt_refresh_secret: Option<SecretString>,
    /// Consumer-app key (accepted, length-checked, unused by merchant routes).
    #[arg(long, env = "JWT_SECRET", value_parser = secret, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// Access-token lifetime.
    #[arg(long, env = "JWT_MERCHANT_EXPIRES_IN", default_value = "7d")]
    pub jwt_merchant_expires_in: String,
    /// Refresh-token lifetime.
    #[arg(long, env = "JWT_REFRESH_EXPIRES_IN", default_value = "30d")]
    pub jwt_refresh_expires_in: String,
    /// `production`, `development` or `test`.
    #[arg(long, env = "NODE_ENV", default_value = "development")]
    pub node_env: String,
    /// Log filter.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// `json` or `pretty`.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
    /// Comma-separated CORS allow-list.
    #[arg(long, env = "CORS_ORIGIN")]
    pub cors_origin: Option<String>,
    /// Consumer front end.
    #[arg(long, env = "FRONTEND_URL")]
    pub frontend_url: Option<String>,
    /// Merchant front end (prefix of e-mailed links).
    #[arg(long, env = "MERCHANT_FRONTEND_URL")]
    pub merchant_frontend_url: Option<String>,
    /// Admin front end.
    #[arg(long, env = "ADMIN_FRONTEND_URL")]
    pub admin_frontend_url: Option<String>,
    /// SendGrid API key.
    #[arg(long, env = "SENDGRID_API_KEY", value_parser = secret, hide_env_values = true)]
    pub sendgrid_api_key: Option<SecretString>,
    /// SendGrid sender address.
    #[arg(long, env = "SENDGRID_FROM_EMAIL")]
    pub sendgrid_from_email: Option<String>,
    /// SendGrid endpoint.
    #[arg(
        long,
        env = "SENDGRID_API_URL",
        default_value = "https://api.sendgrid.com/v3/mail/send"
    )]
    pub sendgrid_api_url: String,
    /// SMTP relay host.
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP relay port.
    #[arg(long, env = "SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    /// SMTP user.
    #[arg(long, env = "SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "SMTP_PASSWORD", value_parser = secret, hide_env_values = true)]
    pub smtp_password: Option<SecretString>,
    /// SMTP sender address.
    #[arg(long, env = "SMTP_FROM", default_value = "no-reply@merchant.local")]
    pub smtp_from: String,
    /// `starttls`, `tls` or `none`.
    #[arg(long, env = "SMTP_TLS", default_value = "starttls")]
    pub smtp_tls: String,
    /// Disable all rate limiters.
    #[arg(long, env = "DISABLE_RATE_LIMIT", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_rate_limit: bool,
    /// Redis key prefix of the limiters.
    #[arg(long, env = "RATE_LIMIT_PREFIX", default_value = "rl")]
    pub rate_limit_prefix: String,
    /// General limiter: requests per 15 min per IP.
    #[arg(long, env = "RATE_LIMIT_GENERAL_MAX", default_value_t = 500)]
    pub rate_limit_general_max: u64,
    /// Auth limiter: failed requests per 15 min per IP.
    #[arg(long, env = "RATE_LIMIT_AUTH_MAX", default_value_t = 5)]
    pub rate_limit_auth_max: u64,
    /// Registration limiter: requests per hour per IP.
    #[arg(long, env = "RATE_LIMIT_REGISTER_MAX", default_value_t = 5)]
    pub rate_limit_register_max: u64,
    /// Password-reset limiter: requests per hour per IP.
    #[arg(long, env = "RATE_LIMIT_PASSWORD_RESET_MAX", default_value_t = 3)]
    pub rate_limit_password_reset_max: u64,
    /// Product read limiter: requests per minute per IP.
    #[arg(long, env = "RATE_LIMIT_PRODUCT_READ_MAX", default_value_t = 100)]
    pub rate_limit_product_read_max: u64,
    /// Product write limiter: requests per minute per IP.
    #[arg(long, env = "RATE_LIMIT_PRODUCT_WRITE_MAX", default_value_t = 30)]
    pub rate_limit_product_write_max: u64,
    /// Product delete limiter: requests per minute per IP.
    #[arg(long, env = "RATE_LIMIT_PRODUCT_DELETE_MAX", default_value_t = 10)]
    pub rate_limit_product_delete_max: u64,
    /// Proxies allowed to name the client in `X-Forwarded-For` (`false`, `true`, hops, CIDRs).
    #[arg(long, env = "TRUST_PROXY", default_value = "false")]
    pub trust_proxy: ProxyTrust,
    /// Per-request timeout in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Create indexes at start-up.
    #[arg(long, env = "ENSURE_INDEXES", default_value_t = true, action = clap::ArgAction::Set)]
    pub ensure_indexes: bool,
    /// Days audit records are kept (TTL index on `auditlogs.timestamp`).
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub audit_retention_days: u32,
    /// How often each replica looks for new orders to notify merchants about, in
    /// milliseconds (0 disables; notifications are keyed per order, so replicas never double up).
    #[arg(long, env = "ORDER_WATCH_INTERVAL_MS", default_value_t = 5000)]
    pub order_watch_interval_ms: u64,
    /// How often each replica releases expired stock reservations, in milliseconds (0
    /// disables; each reservation is released once whichever replica gets there first).
    #[arg(long, env = "RESERVATION_SWEEP_INTERVAL_MS", default_value_t = 5000)]
    pub reservation_sweep_interval_ms: u64,
    /// How often each replica folds orders changed by others (the consumer app) into the sales
    /// rollups, in milliseconds; the first pass builds them when they were never built (0
    /// disables: reports then aggregate the orders unless the rollups were built elsewhere).
    #[arg(long, env = "ROLLUP_SYNC_INTERVAL_MS", default_value_t = 5000)]
    pub rollup_sync_interval_ms: u64,
    /// Lifetime of cached analytics results in seconds.
    #[arg(long, env = "ANALYTICS_CACHE_TTL_SECS", default_value_t = 300)]
    pub analytics_cache_ttl_secs: u64,
    /// Cached analytics results kept in-process, or per merchant in Redis.
    #[arg(long, env = "ANALYTICS_CACHE_MAX_ENTRIES", default_value_t = 10_000)]
    pub analytics_cache_max_entries: u64,
    /// Bytes of cached analytics results kept in-process.
    #[arg(long, env = "ANALYTICS_CACHE_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub analytics_cache_max_bytes: u64,
    /// Largest analytics result that is cached.
    #[arg(long, env = "ANALYTICS_CACHE_MAX_ENTRY_BYTES", default_value_t = 1024 * 1024)]
    pub analytics_cache_max_entry_bytes: u64,
    /// Sentry DSN (errors and panics are reported when set).
    #[arg(long, env = "SENTRY_DSN", value_parser = secret, hide_env_values = true)]
    pub sentry_dsn: Option<SecretString>,
    /// Share of traces sent to Sentry.
    #[arg(long, env = "SENTRY_TRACES_SAMPLE_RATE", default_value_t = 0.0)]
    pub sentry_traces_sample_rate: f32,
    /// Reuse of successful authorization checks, in milliseconds (0: off).
    #[arg(long, env = "AUTH_CACHE_TTL_MS", default_value_t = 1000)]
    pub auth_cache_ttl_ms: u64,
    /// Password hashes and verifications queued or running at once; more get a 503.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub password_hash_queue: u32,
    /// OpenTelemetry trace export (`OTEL_*`).
    #[command(flatten)]
    pub otel: OtelConfig,
    /// Upload storage: `local` or `s3`.
    #[arg(long, env = "CLOUD_STORAGE_PROVIDER", default_value = "local")]
    pub cloud_storage_provider: String,
    /// Directory of uploads (provider `local`).
    #[arg(long, env = "UPLOADS_DIR", default_value = "uploads")]
    pub uploads_dir: std::path::PathBuf,
    /// Absolute prefix of returned file URLs.
    #[arg(long, env = "UPLOADS_PUBLIC_URL")]
    pub uploads_public_url: Option<String>,
    /// S3 bucket (provider `s3`).
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 region.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3-compatible endpoint.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", value_parser = secret, hide_env_values = true)]
    pub s3_secret_access_key: Option<SecretString>,
    /// Third-party credentials (accepted, not used by any route yet).
    #[command(flatten)]
    pub third_party: ThirdPartyKeys,
}

/// Credentials of integrations the legacy deployment wires (image hosting, SMS, payments). They
/// are accepted so existing manifests and the operator can set them; no route uses them yet.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ThirdPartyKeys {
    /// Cloudinary cloud name.
    #[arg(long, env = "CLOUDINARY_CLOUD_NAME", value_parser = secret, hide_env_values = true)]
    pub cloudinary_cloud_name: Option<SecretString>,
    /// Cloudinary API key.
    #[arg(long, env = "CLOUDINARY_API_KEY", value_parser = secret, hide_env_values = true)]
    pub cloudinary_api_key: Option<SecretString>,
    /// Cloudinary API secret.
    #[arg(long, env = "CLOUDINARY_API_SECRET", value_parser = secret, hide_env_values = true)]
    pub cloudinary_api_secret: Option<SecretString>,
    /// Twilio account SID.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", value_parser = secret, hide_env_values = true)]
    pub twilio_account_sid: Option<SecretString>,
    /// Twilio auth token.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", value_parser = secret, hide_env_values = true)]
    pub twilio_auth_token: Option<SecretString>,
    /// Razorpay key id.
    #[arg(long, env = "RAZORPAY_KEY_ID", value_parser = secret, hide_env_values = true)]
    pub razorpay_key_id: Option<SecretString>,
    /// Razorpay key secret.
    #[arg(long, env = "RAZORPAY_KEY_SECRET", value_parser = secret, hide_env_values = true)]
    pub razorpay_key_secret: Option<SecretString>,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// Settings that failed validation: one line per bad setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct InvalidConfig(pub Vec<String>);

/// Where e-mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// SendGrid's v3 HTTP API.
    SendGrid {
        /// API key.
        api_key: SecretString,
        /// Sender.
        from: String,
        /// Endpoint.
        url: String,
    },
    /// An SMTP relay.
    Smtp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Credentials.
        credentials: Option<(String, SecretString)>,
        /// Sender.
        from: String,
        /// Transport security.
        tls: SmtpTls,
    },
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection (local relays and tests).
    None,
    /// STARTTLS upgrade (port 587).
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

/// Per-limiter budgets.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// All limiters off.
    pub disabled: bool,
    /// Redis key prefix.
    pub prefix: String,
    /// General limiter budget (15 min).
    pub general: u64,
    /// Failed auth attempts (15 min).
    pub auth: u64,
    /// Registrations (1 h).
    pub register: u64,
    /// Password-reset requests (1 h).
    pub password_reset: u64,
    /// Product reads (1 min).
    pub product_read: u64,
    /// Product writes (1 min).
    pub product_write: u64,
    /// Product deletes (1 min).
    pub product_delete: u64,
}

/// MongoDB connection settings (all the data subcommands need).
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Connection string.
    pub uri: SecretString,
    /// Database name override.
    pub name: Option<String>,
    /// Pool size.
    pub max_pool_size: u32,
}

/// Validated settings, shared read-only through `AppState`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub host: IpAddr,
    /// Listen port.
    pub port: u16,
    /// Admin listen port (metrics, probes).
    pub admin_port: u16,
    /// MongoDB.
    pub database: DatabaseSettings,
    /// Redis URL.
    pub redis_url: Option<SecretString>,
    /// Access-token key.
    pub jwt_merchant_secret: SecretString,
    /// Refresh-token key.
    pub jwt_refresh_secret: SecretString,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// `NODE_ENV=production`.
    pub production: bool,
    /// `NODE_ENV=development` (adds dev origins).
    pub development: bool,
    /// Log filter.
    pub log_level: String,
    /// JSON logs.
    pub log_json: bool,
    /// CORS allow-list.
    pub cors_origins: Vec<String>,
    /// Prefix of links in e-mails.
    pub frontend_url: String,
    /// Mail transport, if any.
    pub mail: Option<MailSettings>,
    /// Rate limits.
    pub rate_limits: RateLimitSettings,
    /// Which `X-Forwarded-For` entries name the client.
    pub trust_proxy: ProxyTrust,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Create indexes at start-up.
    pub ensure_indexes: bool,
    /// Lifetime of cached analytics results.
    pub analytics_cache_ttl: Duration,
    /// Bounds of the analytics cache.
    pub analytics_cache_limits: crate::cache::CacheLimits,
    /// Error reporting, if configured.
    pub sentry: Option<SentrySettings>,
    /// Days audit records are kept.
    pub audit_retention_days: u32,
    /// OpenTelemetry trace export, if configured.
    pub otel: Option<OtelSettings>,
    /// Reuse of successful authorization checks.
    pub auth_cache_ttl: Duration,
    /// Bound of the password-hashing queue.
    pub password_hash_queue: usize,
    /// New-order watcher period (`None`: disabled).
    pub order_watch_interval: Option<Duration>,
    /// Expired-reservation sweep period (`None`: off).
    pub reservation_sweep_interval: Option<Duration>,
    /// Sales-rollup maintenance period (`None`: off).
    pub rollup_sync_interval: Option<Duration>,
    /// Uploaded files.
    pub uploads: UploadSettings,
}

/// Where uploaded files are stored.
#[derive(Debug, Clone)]
pub enum StorageSettings {
    /// A local directory (the uploads volume).
    Local {
        /// Directory.
        dir: std::path::PathBuf,
    },
    /// An S3 bucket.
    S3 {
        /// Bucket.
        bucket: String,
        /// Region.
        region: String,
        /// Custom endpoint (S3-compatible servers).
        endpoint: Option<String>,
        /// Static credentials (key id, secret key).
        credentials: Option<(String, SecretString)>,
    },
}

/// Upload settings.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// Backend.
    pub storage: StorageSettings,
    /// Absolute URL prefix of returned file URLs (empty: path-only URLs).
    pub public_url: String,
}

/// Sentry error reporting.
#[derive(Debug, Clone)]
pub struct SentrySettings {
    /// DSN.
    pub dsn: SecretString,
    /// `production`, `development` or `test` (from `NODE_ENV`).
    pub environment: String,
    /// Traces sample rate 0..1.
    pub traces_sample_rate: f32,
}

const DEV_ORIGINS: [&str; 9] = [
    "http://localhost:3000",
    "http://localhost:19006",
    "http://localhost:8081",
    "http://localhost:8082",
    "http://localhost:8083",
    "http://localhost:19000",
    "http://127.0.0.1:19006",
    "http://127.0.0.1:19000",
    "http://127.0.0.1:3000",
];

impl Config {
    /// Parse settings from an argument list plus the environment (tests and tools).
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        #[command(args_override_self = true)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        <Wrapper as clap::Parser>::try_parse_from(args).map(|w| w.config)
    }

    /// Validate only what the data subcommands (`migrate`, `seed`) need.
    pub fn validate_database(self) -> Result<DatabaseSettings, InvalidConfig> {
        let mut problems = Vec::new();
        let uri = required(&mut problems, "MONGODB_URI", self.mongodb_uri);
        if self.mongodb_max_pool_size == 0 {
            problems.push("MONGODB_MAX_POOL_SIZE must be at least 1".into());
        }
        match uri {
            Some(uri) if problems.is_empty() => Ok(DatabaseSettings {
                uri,
                name: self.mongodb_database,
                max_pool_size: self.mongodb_max_pool_size,
            }),
            _ => Err(InvalidConfig(problems)),
        }
    }

    /// Validate every setting, reporting all problems at once (in the order of the checks).
    pub fn validate(self) -> Result<Settings, InvalidConfig> {
        let mut problems = Vec::new();
        let mongodb_uri = required(&mut problems, "MONGODB_URI", self.mongodb_uri.clone());
        let jwt = self.jwt_settings(&mut problems);
        let (production, development) = self.environment(&mut problems);
        let log_json = self.log_format(&mut problems);
        if self.mongodb_max_pool_size == 0 {
            problems.push("MONGODB_MAX_POOL_SIZE must be at least 1".into());
        }
        if self.admin_port != 0 && self.admin_port == self.port {
            problems.push("ADMIN_PORT must differ from PORT".into());
        }
        let cors_origins = self.cors_origins(production, development, &mut problems);
        let mail = self.mail_settings(&mut problems);
        let sentry = self.sentry_settings(&mut problems);
        let otel = self.otel.validate(&mut problems);
        if self.request_timeout_secs == 0 {
            problems.push("REQUEST_TIMEOUT_SECS must be at least 1".into());
        }
        let uploads = self.upload_settings(&mut problems);
        let checked = Checked {
            production,
            development,
            log_json,
            cors_origins,
            mail,
            sentry,
            otel,
            uploads,
        };
        self.check_analytics_cache(&mut problems);
        match (mongodb_uri, jwt) {
            (Some(uri), Some(jwt)) if problems.is_empty() => Ok(self.settings(uri, jwt, checked)),
            _ => Err(InvalidConfig(problems)),
        }
    }

    /// The analytics cache's lifetime and bounds are positive.
    fn check_analytics_cache(&self, problems: &mut Vec<String>) {
        for (name, value) in [
            ("ANALYTICS_CACHE_TTL_SECS", self.analytics_cache_ttl_secs),
            (
                "ANALYTICS_CACHE_MAX_ENTRIES",
                self.analytics_cache_max_entries,
            ),
            ("ANALYTICS_CACHE_MAX_BYTES", self.analytics_cache_max_bytes),
            (
                "ANALYTICS_CACHE_MAX_ENTRY_BYTES",
                self.analytics_cache_max_entry_bytes,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
    }

    /// The token keys and lifetimes (`None` when any is invalid).
    fn jwt_settings(&self, problems: &mut Vec<String>) -> Option<JwtSettings> {
        let merchant = jwt_key(problems, "JWT_MERCHANT_SECRET", &self.jwt_merchant_secret);
        let refresh = jwt_key(problems, "JWT_REFRESH_SECRET", &self.jwt_refresh_secret);
        if let Some(s) = &self.jwt_secret
            && s.expose_secret().len() < 32
        {
            problems.push("JWT_SECRET must be at least 32 characters long".into());
        }
        if let (Some(a), Some(b)) = (&merchant, &refresh)
            && a.expose_secret() == b.expose_secret()
        {
            problems.push("JWT_REFRESH_SECRET must differ from JWT_MERCHANT_SECRET".into());
        }
        let access_ttl = ttl(
            problems,
            "JWT_MERCHANT_EXPIRES_IN",
            &self.jwt_merchant_expires_in,
        );
        let refresh_ttl = ttl(
            problems,
            "JWT_REFRESH_EXPIRES_IN",
            &self.jwt_refresh_expires_in,
        );
        Some(JwtSettings {
            merchant: merchant?,
            refresh: refresh?,
            access_ttl: access_ttl?,
            refresh_ttl: refresh_ttl?,
        })
    }

    /// `(production, development)` from `NODE_ENV`.
    fn environment(&self, problems: &mut Vec<String>) -> (bool, bool) {
        match self.node_env.as_str() {
            "production" => (true, false),
            "development" => (false, true),
            "test" => (false, false),
            other => {
                problems.push(format!(
                    "NODE_ENV must be production, development or test (got {other:?})"
                ));
                (false, false)
            }
        }
    }

    /// Whether logs are JSON; also checks the `LOG_LEVEL` filter.
    fn log_format(&self, problems: &mut Vec<String>) -> bool {
        let json = match self.log_format.as_str() {
            "json" => true,
            "pretty" => false,
            other => {
                problems.push(format!("LOG_FORMAT must be json or pretty (got {other:?})"));
                true
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            problems.push(format!(
                "LOG_LEVEL is not a valid filter (got {:?})",
                self.log_level
            ));
        }
        json
    }

    fn sentry_settings(&self, problems: &mut Vec<String>) -> Option<SentrySettings> {
        if !(0.0..=1.0).contains(&self.sentry_traces_sample_rate) {
            problems.push("SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1".into());
        }
        if let Some(dsn) = &self.sentry_dsn
            && dsn.expose_secret().parse::<sentry::types::Dsn>().is_err()
        {
            problems.push("SENTRY_DSN is not a valid DSN".into());
        }
        self.sentry_dsn.clone().map(|dsn| SentrySettings {
            dsn,
            environment: self.node_env.clone(),
            traces_sample_rate: self.sentry_traces_sample_rate,
        })
    }

    fn rate_limits(&self) -> RateLimitSettings {
        RateLimitSettings {
            disabled: self.disable_rate_limit,
            prefix: self.rate_limit_prefix.clone(),
            general: self.rate_limit_general_max,
            auth: self.rate_limit_auth_max,
            register: self.rate_limit_register_max,
            password_reset: self.rate_limit_password_reset_max,
            product_read: self.rate_limit_product_read_max,
            product_write: self.rate_limit_product_write_max,
            product_delete: self.rate_limit_product_delete_max,
        }
    }

    /// `MERCHANT_FRONTEND_URL`, else `FRONTEND_URL`, without a trailing slash.
    fn frontend_url(&self) -> String {
        self.merchant_frontend_url
            .clone()
            .or_else(|| self.frontend_url.clone())
            .unwrap_or_else(|| "http://localhost:3000".into())
            .trim_end_matches('/')
            .to_string()
    }

    /// Assemble the settings once every check passed.
    fn settings(self, mongodb_uri: SecretString, jwt: JwtSettings, c: Checked) -> Settings {
        Settings {
            host: self.host,
            port: self.port,
            admin_port: self.admin_port,
            database: DatabaseSettings {
                uri: mongodb_uri,
                name: self.mongodb_database.clone(),
                max_pool_size: self.mongodb_max_pool_size,
            },
            redis_url: self.redis_url.clone(),
            jwt_merchant_secret: jwt.merchant,
            jwt_refresh_secret: jwt.refresh,
            access_ttl: jwt.access_ttl,
            refresh_ttl: jwt.refresh_ttl,
            production: c.production,
            development: c.development,
            log_level: self.log_level.clone(),
            log_json: c.log_json,
            cors_origins: c.cors_origins,
            frontend_url: self.frontend_url(),
            mail: c.mail,
            rate_limits: self.rate_limits(),
            trust_proxy: self.trust_proxy,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            ensure_indexes: self.ensure_indexes,
            analytics_cache_ttl: Duration::from_secs(self.analytics_cache_ttl_secs),
            analytics_cache_limits: crate::cache::CacheLimits {
                max_entries: self.analytics_cache_max_entries,
                max_bytes: self.analytics_cache_max_bytes,
                max_entry_bytes: self.analytics_cache_max_entry_bytes,
            },
            sentry: c.sentry,
            audit_retention_days: self.audit_retention_days,
            otel: c.otel,
            auth_cache_ttl: Duration::from_millis(self.auth_cache_ttl_ms),
            password_hash_queue: self.password_hash_queue as usize,
            order_watch_interval: (self.order_watch_interval_ms > 0)
                .then(|| Duration::from_millis(self.order_watch_interval_ms)),
            reservation_sweep_interval: (self.reservation_sweep_interval_ms > 0)
                .then(|| Duration::from_millis(self.reservation_sweep_interval_ms)),
            rollup_sync_interval: (self.rollup_sync_interval_ms > 0)
                .then(|| Duration::from_millis(self.rollup_sync_interval_ms)),
            uploads: c.uploads,
        }
    }

    fn cors_origins(
        &self,
        production: bool,
        development: bool,
        problems: &mut Vec<String>,
    ) -> Vec<String> {
        if let Some(list) = &self.cors_origin {
            return listed_origins(list, problems);
        }
        let mut origins: Vec<String> = [
            &self.frontend_url,
            &self.merchant_frontend_url,
            &self.admin_frontend_url,
        ]
        .into_iter()
        .flatten()
        .flat_map(|s| split_origins(s))
        .collect();
        if development {
            origins.extend(DEV_ORIGINS.iter().map(|s| s.to_string()));
        }
        if origins.is_empty() {
            if production {
                problems.push(
                    "CORS_ORIGIN (or FRONTEND_URL / MERCHANT_FRONTEND_URL) is required when NODE_ENV=production"
                        .into(),
                );
            }
            origins.push("http://localhost:3000".into());
        }
        origins
    }

    /// Only the uploads settings (the data tools back up and restore uploaded files).
    pub fn validate_uploads(&self) -> Result<UploadSettings, InvalidConfig> {
        let mut problems = Vec::new();
        let settings = self.upload_settings(&mut problems);
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(InvalidConfig(problems))
        }
    }

    fn upload_settings(&self, problems: &mut Vec<String>) -> UploadSettings {
        let public_url = self
            .uploads_public_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if !(public_url.is_empty()
            || public_url.starts_with("http://")
            || public_url.starts_with("https://"))
        {
            problems.push("UPLOADS_PUBLIC_URL must start with http:// or https://".into());
        }
        let storage = match self.cloud_storage_provider.as_str() {
            "local" => StorageSettings::Local {
                dir: self.uploads_dir.clone(),
            },
            "s3" => self.s3_storage(problems),
            other => {
                problems.push(format!(
                    "CLOUD_STORAGE_PROVIDER must be local or s3 (got {other:?})"
                ));
                StorageSettings::Local {
                    dir: self.uploads_dir.clone(),
                }
            }
        };
        UploadSettings {
            storage,
            public_url,
        }
    }

    fn s3_storage(&self, problems: &mut Vec<String>) -> StorageSettings {
        let credentials = match (&self.s3_access_key_id, &self.s3_secret_access_key) {
            (Some(id), Some(key)) => Some((id.clone(), key.clone())),
            (None, None) => None,
            _ => {
                problems
                    .push("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together".into());
                None
            }
        };
        let bucket = self.s3_bucket.clone().unwrap_or_default();
        if bucket.trim().is_empty() {
            problems.push("S3_BUCKET is required when CLOUD_STORAGE_PROVIDER=s3".into());
        }
        StorageSettings::S3 {
            bucket,
            region: self.s3_region.clone(),
            endpoint: self.s3_endpoint.clone(),
            credentials,
        }
    }

    fn mail_settings(&self, problems: &mut Vec<String>) -> Option<MailSettings> {
        if let Some(api_key) = &self.sendgrid_api_key {
            let Some(from) = self.sendgrid_from_email.clone() else {
                problems
                    .push("SENDGRID_FROM_EMAIL is required when SENDGRID_API_KEY is set".into());
                return None;
            };
            return Some(MailSettings::SendGrid {
                api_key: api_key.clone(),
                from,
                url: self.sendgrid_api_url.clone(),
            });
        }
        let host = self.smtp_host.clone()?;
        let tls = match self.smtp_tls.as_str() {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            other => {
                problems.push(format!(
                    "SMTP_TLS must be starttls, tls or none (got {other:?})"
                ));
                return None;
            }
        };
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => {
                problems.push("SMTP_USERNAME and SMTP_PASSWORD must be set together".into());
                None
            }
        };
        Some(MailSettings::Smtp {
            host,
            port: self.smtp_port,
            credentials,
            from: self.smtp_from.clone(),
            tls,
        })
    }
}

/// Token keys and lifetimes, once valid.
struct JwtSettings {
    merchant: SecretString,
    refresh: SecretString,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

/// The settings [`Config::validate`] derives (each step reports its own problems).
struct Checked {
    production: bool,
    development: bool,
    log_json: bool,
    cors_origins: Vec<String>,
    mail: Option<MailSettings>,
    sentry: Option<SentrySettings>,
    otel: Option<OtelSettings>,
    uploads: UploadSettings,
}

fn required(
    problems: &mut Vec<String>,
    name: &str,
    value: Option<SecretString>,
) -> Option<SecretString> {
    match value {
        Some(v) if !v.expose_secret().trim().is_empty() => Some(v),
        _ => {
            problems.push(format!("{name} is required"));
            None
        }
    }
}

fn jwt_key(
    problems: &mut Vec<String>,
    name: &str,
    value: &Option<SecretString>,
) -> Option<SecretString> {
    let v = required(problems, name, value.clone())?;
    if v.expose_secret().len() < 32 {
        problems.push(format!("{name} must be at least 32 characters long"));
        return None;
    }
    Some(v)
}

fn ttl(problems: &mut Vec<String>, name: &str, value: &str) -> Option<Duration> {
    let parsed = parse_duration(value);
    if parsed.is_none() {
        problems.push(format!(
            "{name} must be a positive duration such as 3600, 90s, 15m, 12h or 7d (got {value:?})"
        ));
    }
    parsed
}

/// Parse `3600`, `90s`, `15m`, `12h` or `7d` (the jsonwebtoken `expiresIn` forms the contract uses).
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, "s"),
    };
    let n: u64 = digits.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// A comma-separated list of origins, without trailing slashes.
fn split_origins(s: &str) -> Vec<String> {
    s.split(',')
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect()
}

/// `CORS_ORIGIN`'s origins, each of which must be an http(s) origin: credentials are allowed,
/// so `*` is not.
fn listed_origins(list: &str, problems: &mut Vec<String>) -> Vec<String> {
    let origins = split_origins(list);
    let bad: Vec<&String> = origins
        .iter()
        .filter(|o| {
            !(o.starts_with("http://") || o.starts_with("https://"))
                || o.contains(char::is_whitespace)
        })
        .collect();
    if !bad.is_empty() {
        problems.push(format!(
            "CORS_ORIGIN must list origins such as https://shop.example (credentials are allowed, so * is not); bad: {bad:?}"
        ));
    }
    origins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<&'static str> {
        vec![
            "x",
            "--mongodb-uri",
            "mongodb://localhost",
            "--jwt-merchant-secret",
            "0123456789abcdef0123456789abcdef",
            "--jwt-refresh-secret",
            "fedcba9876543210fedcba9876543210",
        ]
    }

    #[test]
    fn durations_accept_the_jsonwebtoken_forms() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("7w"), None);
    }

    #[test]
    fn every_bad_setting_is_reported_on_its_own_line() {
        let cfg = Config::from_args([
            "x",
            "--jwt-merchant-secret",
            "short",
            "--node-env",
            "staging",
        ])
        .expect("parses");
        let cfg = Config {
            mongodb_uri: None,
            jwt_refresh_secret: None,
            ..cfg
        };
        let err = cfg.validate().expect_err("invalid").to_string();
        assert!(err.contains("MONGODB_URI is required"), "{err}");
        assert!(
            err.contains("JWT_MERCHANT_SECRET must be at least 32 characters long"),
            "{err}"
        );
        assert!(err.contains("JWT_REFRESH_SECRET is required"), "{err}");
        assert!(err.contains("NODE_ENV must be"), "{err}");
    }

    #[test]
    fn sentry_settings_are_checked() {
        let mut args = base();
        args.extend([
            "--sentry-dsn",
            "not a dsn",
            "--sentry-traces-sample-rate",
            "2",
        ]);
        let err = Config::from_args(args)
            .expect("parses")
            .validate()
            .expect_err("invalid")
            .to_string();
        assert!(err.contains("SENTRY_DSN is not a valid DSN"), "{err}");
        assert!(
            err.contains("SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1"),
            "{err}"
        );
        let mut args = base();
        args.extend(["--sentry-dsn", "https://public@sentry.example.com/42"]);
        let settings = Config::from_args(args)
            .expect("parses")
            .validate()
            .expect("valid");
        assert_eq!(
            settings.sentry.map(|s| s.environment),
            Some("development".into())
        );
    }

    #[test]
    fn s3_storage_needs_a_bucket_and_paired_credentials() {
        let mut args = base();
        args.extend(["--cloud-storage-provider", "s3", "--s3-access-key-id", "id"]);
        let mut config = Config::from_args(args).expect("parses");
        // clap also reads the process environment: the test servers' S3_* must not leak in.
        config.s3_bucket = None;
        config.s3_secret_access_key = None;
        let err = config.validate().expect_err("invalid").to_string();
        assert!(err.contains("S3_BUCKET is required"), "{err}");
        assert!(err.contains("must be set together"), "{err}");
        let mut config = Config::from_args(base()).expect("parses");
        config.cloud_storage_provider = "local".into();
        let settings = config.validate().expect("valid");
        assert!(matches!(
            settings.uploads.storage,
            StorageSettings::Local { .. }
        ));
    }

    #[test]
    fn a_wildcard_cors_origin_is_rejected() {
        let mut args = base();
        args.extend(["--cors-origin", "https://a.example, *"]);
        let err = Config::from_args(args)
            .expect("parses")
            .validate()
            .expect_err("invalid")
            .to_string();
        assert!(err.contains("CORS_ORIGIN must list origins"), "{err}");
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let cfg = Config::from_args(base()).expect("parses");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
