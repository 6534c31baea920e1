//! The HTTP/1.1 server loop with per-connection deadlines.
//!
//! `axum::serve` sets none, so a client that sends a request's headers a
//! byte at a time, or never ends them, holds its connection for ever.
//! hyper's own `header_read_timeout` is no cure: its clock starts when the
//! server *begins waiting* for a request, i.e. also on an idle keep-alive
//! connection right after the previous response, so it closes pooled idle
//! connections at the header deadline, and a client that reuses one at that
//! moment gets an incomplete message.
//!
//! Here each connection has a `Clock` in one of three phases:
//!
//! | phase | starts | deadline |
//! |---|---|---|
//! | idle | connection accepted, or a response produced | `ORIGIN_IDLE_TIMEOUT_MS` (longer than clients keep pooled connections) |
//! | head | the first byte of a request arrives while idle | `ORIGIN_HEADER_TIMEOUT_MS` |
//! | request | hyper hands the parsed headers to the service | none here: the app's whole-request deadline answers `408` ([`crate::app`]) |
//!
//! A connection past its phase's deadline is dropped (closed).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Instant,
};
use tower::ServiceExt as _;

/// The two connection deadlines (the request deadline is the app's).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From a request's first byte to its complete headers.
    pub header: Duration,
    /// Between requests (and before the first).
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Request,
}

/// Where one connection is, and since when.
struct Clock {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            state: Mutex::new((Phase::Idle, Instant::now())),
            changed: Notify::new(),
        }
    }

    fn set(&self, from: Option<Phase>, to: Phase) {
        let mut s = self.state.lock().expect("clock lock");
        if from.is_none_or(|f| s.0 == f) {
            *s = (to, Instant::now());
            // A stored permit if nobody waits: the watchdog re-reads the phase.
            self.changed.notify_one();
        }
    }

    /// Bytes arrived: if the connection was idle, a request head has begun.
    fn bytes_read(&self) {
        self.set(Some(Phase::Idle), Phase::Head);
    }

    /// Resolves when the connection's current phase has outlived its deadline.
    async fn expired(&self, d: Deadlines) {
        loop {
            let notified = self.changed.notified();
            let (phase, since) = *self.state.lock().expect("clock lock");
            let deadline = match phase {
                Phase::Idle => Some(since + d.idle),
                Phase::Head => Some(since + d.header),
                Phase::Request => None,
            };
            match deadline {
                Some(at) if Instant::now() >= at => return,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// The socket, telling the clock when bytes arrive.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then closes idle
/// connections and waits for requests in progress (each bounded by its
/// deadline).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    deadlines: Deadlines,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only: the edge speaks it, and HTTP/2 would need its own
    // slow-client guards. No hyper timer, hence no hyper header timeout
    // (see the module doc): the clock above does it.
    let mut http = http1::Builder::new();
    http.header_read_timeout(None);
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
        let clock = Arc::new(Clock::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            clock: clock.clone(),
        });
        let service = {
            let (app, clock) = (app.clone(), clock.clone());
            service_fn(move |req: Request<Incoming>| {
                clock.set(None, Phase::Request);
                let (answer, clock) = (app.clone().oneshot(req), clock.clone());
                async move {
                    let r = answer.await;
                    clock.set(Some(Phase::Request), Phase::Idle);
                    r
                }
            })
        };
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                () = clock.expired(deadlines) => {
                    tracing::debug!("connection closed: past its deadline");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
