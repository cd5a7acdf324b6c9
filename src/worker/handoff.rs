//! The embedded worker's end of the rtmp-lb socket handoff: listens on its abstract Unix socket,
//! takes client TCP sockets the rtmp-lb passes over (SCM_RIGHTS), and serves each as an RTMP
//! connection whose handshake is already done, pre-fed with the bytes the LB read.
//!
//! The protocol is described in [`crate::net::handoff`].

use super::context::WorkerContext;
use crate::net::handoff::{self as protocol, Decoded, Handoff, ACK};
use crate::rtmp::server::ServerSession;
use anyhow::Context;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};

/// The LB sends a whole handoff at once; a peer that stalls longer is dropped.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of one read of the message.
const READ_CHUNK: usize = 64 * 1024;
/// C0 + C1 + C2 of a simple handshake.
const HANDSHAKE_LEN: usize = 1 + 2 * 1536;
/// First and longest wait before binding a handoff name that another process holds again.
const BIND_RETRY_FIRST: Duration = Duration::from_millis(500);
const BIND_RETRY_CAP: Duration = Duration::from_secs(5);

/// Bind the handoff socket of the worker whose RTMP listener is `rtmp` and serve it. While another
/// process holds the name (squatted, or an old worker still exiting), say who and retry, so the
/// rtmp-lb hands clients over again once the name is free; meanwhile it relays them to us.
pub async fn run(rtmp: SocketAddr, ctx: Arc<WorkerContext>) {
    let name = protocol::socket_name(rtmp);
    let mut delay = BIND_RETRY_FIRST;
    let mut held = false;
    loop {
        match bind(rtmp) {
            Ok(listener) => {
                if held {
                    tracing::info!(socket = %name, "handoff socket bound at last: clients are handed over again");
                }
                return serve(listener, ctx).await;
            }
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                let first = !held;
                held = true;
                match protocol::holder_of(&name) {
                    Some(holder) if !protocol::trusted(holder) => {
                        protocol::report_squatter(
                            &name,
                            holder,
                            "the rtmp-lb relays our clients until the name is free; retrying",
                        );
                    }
                    // Our own user (an old worker still exiting, a second `oryx up`): said once.
                    holder if first => tracing::warn!(socket = %name,
                        pid = holder.map(|h| h.pid), "handoff socket name in use; retrying"),
                    _ => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, "no handoff socket: the rtmp-lb will relay to us");
                return;
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BIND_RETRY_CAP);
    }
}

/// Bind the handoff socket of the worker whose RTMP listener is `rtmp`.
pub fn bind(rtmp: SocketAddr) -> std::io::Result<UnixListener> {
    let name = protocol::socket_name(rtmp);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// Take handed-over clients until the listener fails.
pub async fn serve(listener: UnixListener, ctx: Arc<WorkerContext>) {
    let uid = protocol::own_uid();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(%err, "handoff accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Only a process of our own user may hand us sockets (the rtmp-lb of the same `oryx up`).
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(uid = cred.uid(), "handoff from another user refused");
                continue;
            }
            Err(err) => {
                tracing::warn!(%err, "handoff peer unknown; refused");
                continue;
            }
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match take(stream, &ctx).await {
                Ok((socket, handoff, session)) => {
                    let client = handoff.client;
                    tracing::debug!(%client, "handed-over client taken");
                    let (rd, wr) = socket.into_split();
                    let result = super::rtmp_conn::serve_session(
                        ctx,
                        rd,
                        wr,
                        client,
                        handoff.replay,
                        session,
                    )
                    .await;
                    if let Err(err) = result {
                        tracing::debug!(%client, %err, "rtmp connection ended");
                    }
                }
                Err(err) => tracing::warn!("handoff refused: {err:#}"),
            }
        });
    }
}

/// Receive one handoff, own its socket, and acknowledge it. Any error before the acknowledgement
/// closes our copy of the socket, and the LB (seeing no [`ACK`]) keeps serving the client.
async fn take(
    mut stream: UnixStream,
    ctx: &WorkerContext,
) -> anyhow::Result<(tokio::net::TcpStream, Handoff, ServerSession)> {
    let (handoff, fd) = tokio::time::timeout(RECEIVE_TIMEOUT, receive(&stream))
        .await
        .map_err(|_| anyhow::anyhow!("no whole handoff within {RECEIVE_TIMEOUT:?}"))??;
    let socket = tcp_socket(fd)?;
    let session = stand_in_session(ctx.settings().chunk_size)?;
    stream.write_all(&[ACK]).await?;
    Ok((socket, handoff, session))
}

/// Read one message and the descriptor that comes with it.
async fn receive(stream: &UnixStream) -> anyhow::Result<(Handoff, OwnedFd)> {
    let mut received = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut fd = None;
    loop {
        let (n, passed) = stream
            .async_io(Interest::READABLE, || {
                protocol::recv_with_fd(stream.as_raw_fd(), &mut chunk)
            })
            .await?;
        if let Some(passed) = passed {
            if fd.is_some() {
                anyhow::bail!("more than one socket in a handoff");
            }
            fd = Some(passed);
        }
        if n == 0 {
            anyhow::bail!("the LB closed before the handoff message ended");
        }
        // Bounded: decode fails on any length over the limit before more bytes are awaited.
        received.extend_from_slice(&chunk[..n]);
        match protocol::decode(&received)? {
            Decoded::NeedMore => continue,
            Decoded::Message { handoff, len } => {
                if len != received.len() {
                    anyhow::bail!("bytes after the handoff message");
                }
                let fd = fd.context("no socket came with the handoff message")?;
                return Ok((handoff, fd));
            }
        }
    }
}

/// Check that `fd` is a connected TCP socket and make it a tokio stream.
fn tcp_socket(fd: OwnedFd) -> anyhow::Result<tokio::net::TcpStream> {
    let socket = socket2::Socket::from(fd);
    let is_stream = socket.r#type().ok() == Some(socket2::Type::STREAM);
    let peer = socket.peer_addr().ok().and_then(|addr| addr.as_socket());
    if !is_stream || peer.is_none() {
        anyhow::bail!("the handed-over descriptor is not a connected TCP socket");
    }
    socket.set_nonblocking(true)?;
    let _ = socket.set_nodelay(true);
    Ok(tokio::net::TcpStream::from_std(socket.into())?)
}

/// A server session past its handshake, as if the client had done it with us: the rtmp-lb did it
/// with the real client, so a stand-in handshake brings our session to the chunk phase and its
/// answer (S0+S1+S2) is dropped. The client's byte count then matches the session's, as on the
/// relay path, where the LB's own handshake with us is counted.
fn stand_in_session(chunk_size: u32) -> anyhow::Result<ServerSession> {
    let mut session = ServerSession::new(chunk_size);
    let mut handshake = [0u8; HANDSHAKE_LEN];
    handshake[0] = 3;
    session
        .feed(&handshake)
        .map_err(|err| anyhow::anyhow!("stand-in handshake: {err}"))?;
    let _ = session.take_output();
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::client::{ClientConfig, ClientMode, ClientSession};
    use crate::rtmp::server::ServerEvent;

    /// A real client's first bytes after its handshake (its `connect`), got by handshaking it with a
    /// real server session.
    fn connect_bytes() -> bytes::Bytes {
        let config = ClientConfig::from_url("rtmp://127.0.0.1/live/s", ClientMode::Play).unwrap();
        let mut client = ClientSession::new(config);
        let mut server = ServerSession::new(4096);
        let c0c1 = client.take_output();
        server.feed(&c0c1).unwrap();
        client.feed(&server.take_output()).unwrap();
        let after = client.take_output();
        after.slice(1536..)
    }

    #[tokio::test]
    async fn a_message_without_a_socket_or_with_a_non_tcp_one_is_refused() {
        let message = protocol::encode(&Handoff {
            client: "127.0.0.2:5000".parse().unwrap(),
            replay: bytes::Bytes::from_static(b"replay"),
        })
        .unwrap();
        let (mut lb, worker) = UnixStream::pair().unwrap();
        lb.write_all(&message).await.unwrap();
        let err = receive(&worker).await.unwrap_err();
        assert!(err.to_string().contains("no socket"), "{err}");

        let (lb, worker) = UnixStream::pair().unwrap();
        let (not_tcp, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        let sent = protocol::send_with_fd(lb.as_raw_fd(), &message, not_tcp.as_raw_fd()).unwrap();
        assert_eq!(sent, message.len());
        let (handoff, fd) = receive(&worker).await.unwrap();
        assert_eq!(handoff.replay.as_ref(), b"replay");
        assert!(tcp_socket(fd).is_err(), "a Unix socket is not a client");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let fd = OwnedFd::from(accepted.into_std().unwrap());
        let taken = tcp_socket(fd).unwrap();
        assert_eq!(taken.peer_addr().unwrap(), client.local_addr().unwrap());
    }

    #[test]
    fn stand_in_session_takes_the_client_commands_and_says_nothing_of_the_handshake() {
        let mut session = stand_in_session(4096).unwrap();
        assert!(!session.has_output(), "no S0/S1/S2 may reach the client");
        let events = session.feed(&connect_bytes()).unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ServerEvent::Connected(info) if info.app == "live")),
            "{events:?}"
        );
        assert!(session.has_output(), "connect is answered");
    }
}
