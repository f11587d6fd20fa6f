//! Start-up: connect MongoDB (sized pool, pool metrics) and Redis, ensure indexes, start the
//! mailer, bind the listener and serve until a shutdown signal, finishing in-flight requests.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use mongodb::{Client, options::ClientOptions};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    audit::Auditor,
    cache::AnalyticsCache,
    config::{DatabaseSettings, Settings},
    mail::{MailError, Mailer},
    metrics::Metrics,
    ratelimit::RateLimiter,
    routes,
    security::{access::AccessCache, jwt::AuthKeys},
    state::{AppState, Shared},
    store::Store,
    uploads::FileStore,
};

/// A start-up step failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad MongoDB URI or options.
    #[error("failed to configure MongoDB")]
    MongoOptions(#[source] mongodb::error::Error),
    /// Index creation failed.
    #[error("failed to create indexes")]
    Indexes(#[source] mongodb::error::Error),
    /// Bad Redis URL or unreachable Redis.
    #[error("failed to connect to Redis")]
    Redis(#[source] redis::RedisError),
    /// Mail transport settings rejected.
    #[error("failed to configure the mailer")]
    Mail(#[from] MailError),
    /// Port taken.
    #[error("failed to bind {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Upload storage could not be set up.
    #[error("failed to set up upload storage")]
    Uploads(#[from] crate::uploads::storage::StorageError),
    /// The server stopped with an I/O error.
    #[error("server failed")]
    Serve(#[source] std::io::Error),
}

/// Install the process-wide rustls provider (object_store, reqwest and lettre use aws-lc-rs;
/// mongodb links ring; with both present rustls cannot choose on its own).
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Connect to MongoDB with a sized pool whose events feed `metrics`.
pub async fn connect_store(
    settings: &DatabaseSettings,
    metrics: Option<Arc<Metrics>>,
) -> Result<Store, StartupError> {
    let mut options = ClientOptions::parse(settings.uri.expose_secret())
        .await
        .map_err(StartupError::MongoOptions)?;
    options.max_pool_size = Some(settings.max_pool_size);
    options.app_name = Some("merchant-api".into());
    if let Some(metrics) = metrics {
        options.cmap_event_handler = Some(mongodb::event::EventHandler::callback(move |e| {
            metrics.on_cmap_event(&e)
        }));
    }
    let db_name = settings
        .name
        .clone()
        .or_else(|| options.default_database.clone())
        .unwrap_or_else(|| "merchant".into());
    let client = Client::with_options(options).map_err(StartupError::MongoOptions)?;
    let db = client.database(&db_name);
    Ok(Store::new(client, db))
}

async fn connect_redis(settings: &Settings) -> Result<Option<ConnectionManager>, StartupError> {
    let Some(url) = &settings.redis_url else {
        tracing::warn!("REDIS_URL not set: rate limits are counted per process");
        return Ok(None);
    };
    let client = redis::Client::open(url.expose_secret()).map_err(StartupError::Redis)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
        .set_response_timeout(Some(std::time::Duration::from_secs(2)));
    match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
        Ok(manager) => Ok(Some(manager)),
        // Unreachable now: start anyway (readiness does not depend on Redis) and connect when it
        // answers; meanwhile the security rate limits refuse with 503 (see `ratelimit`).
        Err(e) => {
            tracing::error!(error = %e, "Redis unreachable at start-up: auth, registration and password-reset requests get 503 until it answers");
            ConnectionManager::new_lazy_with_config(client, config)
                .map(Some)
                .map_err(StartupError::Redis)
        }
    }
}

/// A built, bound application.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: axum::Router,
    admin_listener: TcpListener,
    admin_port: u16,
    admin_router: axum::Router,
    mail_worker: Option<JoinHandle<()>>,
    audit_worker: JoinHandle<()>,
    /// Periodic tasks (new-order notifications, expired reservations, sales rollups), aborted
    /// at shutdown.
    watchers: Vec<JoinHandle<()>>,
    store: Store,
}

impl Application {
    /// Connect dependencies, build the router and bind (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let started = Instant::now();
        install_crypto_provider();
        let metrics = Arc::new(Metrics::new());
        let store = connect_store(&settings.database, Some(metrics.clone())).await?;
        if settings.ensure_indexes {
            prepare_indexes(&store, settings.audit_retention_days).await?;
        }
        let (audit, audit_worker) = crate::audit::Auditor::start(store.clone());
        let redis = connect_redis(&settings).await?;
        let (mailer, mail_worker) = Mailer::start(settings.mail.as_ref(), metrics.clone())?;
        let files = crate::uploads::FileStore::from_settings(&settings.uploads)?;
        let (listener, port) = bind(SocketAddr::new(settings.host, settings.port)).await?;
        let (admin_listener, admin_port) =
            bind(SocketAddr::new(settings.host, settings.admin_port)).await?;
        // Started last, so a failed start-up leaves no task behind.
        let order_watcher = settings.order_watch_interval.map(|every| {
            tokio::spawn(crate::notifications::watch_new_orders(store.clone(), every))
        });
        let sweeper = settings.reservation_sweep_interval.map(|every| {
            tokio::spawn(crate::store::reservations::sweep_forever(
                store.clone(),
                every,
            ))
        });
        let rollups = settings.rollup_sync_interval.map(|every| {
            tokio::spawn(crate::store::rollups::maintain_forever(
                store.clone(),
                every,
            ))
        });
        let watchers = order_watcher
            .into_iter()
            .chain(sweeper)
            .chain(rollups)
            .collect();
        let services = Services {
            store: store.clone(),
            redis,
            mailer,
            metrics,
            audit,
            files,
            started,
        };
        let state = app_state(settings, services);
        tracing::info!(
            port,
            admin_port,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "merchant-api ready"
        );
        Ok(Self {
            listener,
            port,
            admin_router: routes::health::admin(state.clone()),
            router: routes::app(state),
            admin_listener,
            admin_port,
            mail_worker,
            audit_worker,
            watchers,
            store,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound admin port (metrics, probes).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests and flush queued e-mail.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let Self {
            listener,
            router,
            admin_listener,
            admin_router,
            mail_worker,
            audit_worker,
            watchers,
            store,
            ..
        } = self;
        // The admin port outlives the public one: metrics stay scrapeable while requests drain.
        let admin = AdminServer::start(admin_listener, admin_router);
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartupError::Serve);
        admin.stop().await;
        served?;
        for watcher in watchers {
            watcher.abort();
        }
        drain_queues(mail_worker, audit_worker).await;
        close_store(&store).await;
        tracing::info!("merchant-api stopped");
        Ok(())
    }
}

/// What the application state is built from, connected or started by [`Application::build`].
struct Services {
    store: Store,
    redis: Option<ConnectionManager>,
    mailer: Mailer,
    metrics: Arc<Metrics>,
    audit: Auditor,
    files: FileStore,
    started: Instant,
}

/// The state every handler shares: the services plus what is derived from the settings.
fn app_state(settings: Settings, services: Services) -> AppState {
    let Services {
        store,
        redis,
        mailer,
        metrics,
        audit,
        files,
        started,
    } = services;
    AppState::new(Shared {
        store,
        auth: Arc::new(AuthKeys::new(
            &settings.jwt_merchant_secret,
            &settings.jwt_refresh_secret,
            settings.access_ttl,
            settings.refresh_ttl,
        )),
        access_cache: Arc::new(AccessCache::new(settings.auth_cache_ttl)),
        api_keys: Arc::new(crate::security::api_key::KeyCache::new(
            settings.auth_cache_ttl,
        )),
        hasher: crate::security::password::Hasher::new(
            settings.password_hash_queue,
            metrics.password_verifications.clone(),
        ),
        limiter: Arc::new(RateLimiter::new(
            settings.rate_limits.clone(),
            redis.clone(),
        )),
        analytics_cache: Arc::new(AnalyticsCache::new(
            redis.clone(),
            settings.analytics_cache_ttl,
            settings.analytics_cache_limits,
        )),
        redis,
        settings: Arc::new(settings),
        mailer,
        metrics,
        audit,
        cashback_counts: Default::default(),
        stock_lanes: Default::default(),
        probe: Arc::default(),
        started,
        files,
    })
}

/// Create the indexes and the audit log's expiry index.
async fn prepare_indexes(store: &Store, audit_retention_days: u32) -> Result<(), StartupError> {
    store
        .ensure_indexes()
        .await
        .map_err(StartupError::Indexes)?;
    store
        .ensure_audit_ttl(audit_retention_days)
        .await
        .map_err(StartupError::Indexes)
}

/// The admin listener (metrics, probes), served until told to stop.
struct AdminServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    fn start(listener: TcpListener, router: axum::Router) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            tracing::warn!("admin listener did not stop within 5 s");
        }
    }
}

/// Give queued mail and audit records a bounded time to be written: their senders died with
/// the router, so each worker ends after its last batch.
async fn drain_queues(mail_worker: Option<JoinHandle<()>>, audit_worker: JoinHandle<()>) {
    if let Some(worker) = mail_worker
        && tokio::time::timeout(std::time::Duration::from_secs(10), worker)
            .await
            .is_err()
    {
        tracing::warn!("mail queue not drained within 10 s");
    }
    if tokio::time::timeout(std::time::Duration::from_secs(10), audit_worker)
        .await
        .is_err()
    {
        tracing::warn!("audit queue not drained within 10 s");
    }
}

/// Close the pool's connections and stop the driver's background tasks while the runtime
/// still runs (dropping them at runtime shutdown makes the driver panic).
async fn close_store(store: &Store) {
    // Bounded: after a load burst whose requests were cancelled mid-operation (clients gone),
    // the driver's shutdown was seen waiting forever; never keep a stopped server alive.
    let closing = store.client().clone().shutdown().immediate(true);
    if tokio::time::timeout(std::time::Duration::from_secs(5), closing)
        .await
        .is_err()
    {
        tracing::warn!("MongoDB client shutdown did not finish within 5 s");
    }
}

/// Bind `addr` (port 0 picks a free port); the listener and its port.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?
        .port();
    Ok((listener, port))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received");
}
