//! Start-up and shutdown: connect Redis, start the worker pool, serve HTTP
//! until `shutdown` resolves, then stop taking jobs and drain.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};

use crate::{
    app::{app, AppState},
    capacity::{Capacity, RegistryLimit},
    config::Config,
    conn::{self, Deadlines},
    metrics::Metrics,
    ratelimit::RegistryPacer,
    registry::RegistryClient,
    render::Renderer,
    store::Store,
    worker::{self, Deps},
};

/// Extra life of a queued job beyond the longest it may wait for the
/// registry.
const QUEUED_MARGIN: Duration = Duration::from_secs(600);

/// How often the cached stream length (a metric) is refreshed.
const STREAM_LEN_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis refused us: {0}; put the credentials in REDIS_URL (redis://[user]:password@host:port, rediss:// for TLS)")]
    RedisAuth(&'static str),
    #[error("DCC signing key: {0}")]
    Renderer(String),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let config = Arc::new(config);
    if config.dev_mode {
        tracing::warn!("ORIGIN_DEV_MODE: a local stack; missing secrets are derived, never run so in production");
    }
    let renderer = Arc::new(Renderer::new(&config.dcc_signing_key).map_err(StartError::Renderer)?);
    let metrics = Arc::new(Metrics::default());
    let store = Store::connect(&config.redis, config.job_max_wait + QUEUED_MARGIN)
        .await
        .map_err(|e| match crate::store::auth_problem(&e) {
            Some(why) => StartError::RedisAuth(why),
            None => StartError::Redis(e),
        })?;
    let limit = RegistryLimit::new(config.registry_rate_per_sec);
    let capacity = Capacity::new(store.connection(), limit.clone());
    let pacer = RegistryPacer::new(store.connection(), limit);
    let registry = RegistryClient::new(
        &config.registry_url,
        config.registry_timeout,
        pacer,
        metrics.clone(),
        capacity.clone(),
    );
    let consumer = format!(
        "{}-{}",
        std::process::id(),
        hex8(crate::crypto::random_bytes::<4>())
    );
    let deps = Arc::new(Deps {
        store: store.clone(),
        registry,
        renderer: renderer.clone(),
        metrics: metrics.clone(),
        job_keys: config.job_keys.clone(),
        result_ttl: config.result_ttl,
        claim_timeout: config.job_claim_timeout,
        max_wait: config.job_max_wait,
        max_attempts: config.national_id_max_attempts,
        attempt_window: config.national_id_window,
        concurrency: config.worker_concurrency,
        consumer,
        render_slots: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let pool = tokio::spawn(worker::run(deps, stop_rx, config.shutdown_grace));

    // The metrics listener: separate from the API, and every figure it shows
    // is in memory; the stream length is refreshed here, not per scrape.
    if let Some(addr) = config.metrics_addr {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "metrics listening");
        let deadlines = Deadlines {
            header: config.header_timeout,
            idle: config.idle_timeout,
        };
        tokio::spawn(conn::serve(
            listener,
            crate::app::metrics_app(metrics.clone()),
            deadlines,
            std::future::pending(),
        ));
    }
    {
        let (store, metrics) = (store.clone(), metrics.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(n) = store.stream_len().await {
                    metrics
                        .stream_entries
                        .store(n, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(STREAM_LEN_EVERY).await;
            }
        });
    }
    let state = AppState {
        config: config.clone(),
        store,
        capacity,
        metrics,
        renderer,
    };
    tracing::info!(addr = %listener.local_addr()?, "origin-worker listening");
    let deadlines = Deadlines {
        header: config.header_timeout,
        idle: config.idle_timeout,
    };
    conn::serve(listener, app(state), deadlines, async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new jobs");
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = pool.await;
    Ok(())
}

fn hex8(b: [u8; 4]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Structured (JSON) logs on stdout; `RUST_LOG` filters, `info` by default.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
