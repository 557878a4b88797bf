//! The connection guard of the HTTP port: at most `max_connections` connections at once, a
//! deadline for each request, and an idle timeout (see the parent module's documentation).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::HttpLimits;
use crate::telemetry::Metrics;

/// How often a refused connection or a failed accept is logged, at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A TCP listener that holds at most `max_connections` connections and puts a deadline on
/// each (see the module documentation).
pub(super) struct GuardedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    refused_unlogged: u64,
    last_log: Option<Instant>,
}

impl GuardedListener {
    pub(super) fn new(inner: TcpListener, limits: HttpLimits, metrics: Arc<Metrics>) -> Self {
        GuardedListener {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            metrics,
            refused_unlogged: 0,
            last_log: None,
        }
    }

    fn may_log(&mut self) -> bool {
        let now = Instant::now();
        if self.last_log.is_some_and(|t| now < t + LOG_EVERY) {
            return false;
        }
        self.last_log = Some(now);
        true
    }
}

impl Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedIo, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    if self.may_log() {
                        tracing::warn!(error = %e, "the HTTP port cannot accept a connection");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => return (GuardedIo::new(stream, permit, self.limits), addr),
                Err(_) => {
                    drop(stream);
                    self.metrics.http_connections_refused.inc();
                    self.refused_unlogged += 1;
                    if self.may_log() {
                        tracing::warn!(
                            max_connections = self.limits.max_connections,
                            refused = self.refused_unlogged,
                            last_from = %addr,
                            "the HTTP port is at its connection cap; new connections are closed at once until some end"
                        );
                        self.refused_unlogged = 0;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The address of the client of a connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub(super) SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A connection that fails (and so is closed) when its deadline passes while it waits for
/// the client: the request must be complete within `request_timeout` of its first byte (or of
/// the connection's opening), the next request must start within `idle_timeout` of a response.
pub(super) struct GuardedIo {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: HttpLimits,
    deadline: Pin<Box<Sleep>>,
    /// A request has begun (or the connection is new) and its response has not been written.
    in_request: bool,
}

impl GuardedIo {
    fn new(inner: TcpStream, slot: OwnedSemaphorePermit, limits: HttpLimits) -> Self {
        GuardedIo {
            inner,
            _slot: slot,
            limits,
            deadline: Box::pin(tokio::time::sleep(limits.request_timeout)),
            in_request: true,
        }
    }

    /// Called when the client is waited for: an error once the deadline has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Some(io::Error::new(
                io::ErrorKind::TimedOut,
                if self.in_request {
                    "the request did not arrive in time"
                } else {
                    "idle connection"
                },
            )),
            Poll::Pending => None,
        }
    }
}

use std::future::Future;

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !this.in_request {
                    this.in_request = true;
                    let at = Instant::now() + this.limits.request_timeout;
                    this.deadline.as_mut().reset(at);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    // A response is going out: the connection now waits for the next request.
                    this.in_request = false;
                    let at = Instant::now() + this.limits.idle_timeout;
                    this.deadline.as_mut().reset(at);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
