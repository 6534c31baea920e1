//! Start-up and shutdown: connect Redis, start the worker pool, serve HTTP
//! until `shutdown` resolves, then stop taking jobs and drain.
//!
//! The HTTP server is hyper's HTTP/1 connection builder (hyper-util glues
//! it to tokio and the axum router), not `axum::serve`, because only there
//! can a connection get a deadline for its request headers
//! (`ORIGIN_HEADER_TIMEOUT_MS`): without it, a client that sends headers a
//! byte at a time (or never ends them) holds its connection for ever.

use std::{future::Future, sync::Arc, time::Duration};

use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    app::{app, AppState},
    config::Config,
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
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
    let renderer = Arc::new(Renderer::new(&config.dcc_signing_key).map_err(StartError::Renderer)?);
    let metrics = Arc::new(Metrics::default());
    let store = Store::connect(&config.redis, config.job_max_wait + QUEUED_MARGIN).await?;
    let pacer = RegistryPacer::new(store.connection(), config.registry_rate_per_sec);
    let registry = RegistryClient::new(
        &config.registry_url,
        config.registry_timeout,
        pacer,
        metrics.clone(),
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
        seal_key: config.job_seal_key,
        result_ttl: config.result_ttl,
        claim_timeout: config.job_claim_timeout,
        max_wait: config.job_max_wait,
        concurrency: config.worker_concurrency,
        consumer,
        render_slots: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let pool = tokio::spawn(worker::run(deps, stop_rx, config.shutdown_grace));

    let state = AppState {
        config: config.clone(),
        store,
        metrics,
        renderer,
    };
    tracing::info!(addr = %listener.local_addr()?, "origin-worker listening");
    let service = app(state);
    // HTTP/1.1 only, as before: the edge speaks it, and HTTP/2 would need
    // its own slow-client guards.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let http = http.clone();
        let service = TowerToHyperService::new(service.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn = http.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutdown requested: no new jobs");
    let _ = stop_tx.send(true);
    // Idle connections close now; in-flight requests end within their
    // deadline, which bounds this wait.
    graceful.shutdown().await;
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
