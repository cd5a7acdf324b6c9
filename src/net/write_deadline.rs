//! A write deadline for the worker's players: one whose socket accepts nothing for [`WRITE_TIMEOUT`]
//! is given up, so a player that stops reading cannot hold its connection, its task and its place in
//! the hub forever.
//!
//! The RTMP connection bounds each of its writes with it directly. HTTP connections are driven by
//! hyper, which simply stops polling a response body while the socket is full, so there the deadline
//! lives in the socket: [`WriteDeadline`] wraps the stream and fails writes that made no progress for
//! the timeout. Every public HTTP port wraps its connections in it (`net::http_serve`), the
//! http-lb's included, so a stalled player is dropped there too rather than held with its buffers.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a player's socket may accept nothing before the worker disconnects it: an RTMP write
/// (one batch) must finish within it, an HTTP write must make progress within it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream whose writes fail with [`io::ErrorKind::TimedOut`] once they have been pending, with no
/// byte accepted, for the timeout. Reads pass through untouched.
pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// The deadline of the current stall; allocated at the first stall and reused after.
    stall: Option<Pin<Box<Sleep>>>,
    /// True from a write's first `Pending` until a write accepts bytes.
    stalled: bool,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> WriteDeadline<S> {
        WriteDeadline {
            inner,
            timeout,
            stall: None,
            stalled: false,
        }
    }

    /// Pass a write's (or flush's) outcome on: a `Pending` starts the stall's deadline if none runs
    /// and turns into `TimedOut` once it passed.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            return poll;
        }
        if !self.stalled {
            self.stalled = true;
            let deadline = Instant::now() + self.timeout;
            match &mut self.stall {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let sleep = self.stall.as_mut().expect("set when the stall began");
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer accepted nothing for {:?}", self.timeout),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write that accepted bytes (or failed) ends the stall; a flush does not, since only
    /// accepted bytes are progress.
    fn watch_write(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if poll.is_ready() {
            self.stalled = false;
        }
        self.watch(cx, poll)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_write(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        // hyper sends a body's queued chunks with one writev only when the stream says it can.
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The peer's address of a connection on a worker's HTTP port, for `ConnectInfo<PeerAddr>` (the
/// accept loop, `net::http_serve`, inserts it with `ConnectInfo<SocketAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket, TcpStream};

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// A connected pair over loopback: (our side, wrapped; the peer, with a small receive buffer
    /// so that a peer that does not read stalls our writes soon).
    async fn pair() -> (WriteDeadline<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let peer = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        (WriteDeadline::new(ours, TIMEOUT), peer)
    }

    #[tokio::test]
    async fn writes_to_a_peer_that_never_reads_time_out_after_the_last_progress() {
        let (mut ours, _peer) = pair().await;
        // hyper writes a body's queued chunks with one writev when the stream allows it.
        assert!(ours.is_write_vectored());
        let chunk = vec![0x55u8; 32 * 1024];
        let slices = [IoSlice::new(&chunk), IoSlice::new(&chunk)];
        let mut last_progress = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ours.write_vectored(&slices).await {
                    Ok(_) => last_progress = Instant::now(),
                    Err(err) => return err,
                }
            }
        })
        .await
        .expect("the stalled write ended within 10 s");
        assert_eq!(outcome.kind(), io::ErrorKind::TimedOut, "{outcome}");
        let stalled_for = last_progress.elapsed();
        assert!(stalled_for >= TIMEOUT, "gave up after only {stalled_for:?}");
    }

    /// In memory, so a read frees room at once: the peer takes 1 KiB every 100 ms, each stall is a
    /// fifth of the timeout and together they last longer than it.
    #[tokio::test]
    async fn stalls_shorter_than_the_timeout_never_add_up_to_it() {
        let timeout = Duration::from_millis(500);
        let (ours, mut peer) = tokio::io::duplex(1024);
        let mut ours = WriteDeadline::new(ours, timeout);
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let mut total = 0usize;
            loop {
                tokio::time::sleep(timeout / 5).await;
                match peer.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        });
        let start = Instant::now();
        let data = vec![0xAAu8; 8 * 1024];
        ours.write_all(&data)
            .await
            .expect("a peer that keeps reading is never timed out");
        assert!(start.elapsed() > timeout, "{:?}", start.elapsed());
        ours.shutdown().await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("the reader sees the end within 10 s")
            .unwrap();
        assert_eq!(read, data.len());
    }
}
