//! Connection handling: a listener whose connections the emulator can drop on purpose (fault
//! injection, outages), closing them without an answer as a load balancer would.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::emulator::state::{lock, EmulatorState};

/// Per-connection info handed to the handlers: the peer and a switch that kills the connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    kill: Arc<AtomicBool>,
}

impl ConnInfo {
    pub(super) fn kill(&self) {
        self.kill.store(true, Ordering::Relaxed);
    }
}

/// A TCP stream that fails every read and write once its connection is killed, so the server
/// closes it without answering (what a client sees when a load balancer drops it).
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by the emulator",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub(crate) struct EmulatorListener {
    pub inner: TcpListener,
    pub state: Arc<EmulatorState>,
}

impl Listener for EmulatorListener {
    type Io = KillableStream;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _peer)) => {
                    if self.state.is_down() {
                        // Outage: close at once, before reading a byte.
                        lock(&self.state.stats).dropped += 1;
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        ConnInfo { kill },
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()?;
        Ok(ConnInfo {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, EmulatorListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, EmulatorListener>) -> Self {
        stream.remote_addr().clone()
    }
}
