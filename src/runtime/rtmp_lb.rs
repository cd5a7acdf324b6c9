//! The rtmp-lb role: learns which stream an RTMP client wants, then gives the connection to the worker
//! that holds that stream — handing over the socket itself to an embedded worker, relaying bytes to
//! an external one.
//!
//! Routing needs `connect` (app, tcUrl) and the first `publish`/`play` (stream name), and a client sends
//! `publish`/`play` only after `connect` and `createStream` are answered, so the LB answers those itself
//! with the sans-IO [`ServerSession`] (at the default 128-byte chunk size, so the client's decoder is
//! left exactly as a fresh connection's). It records every byte the client sent after the handshake.
//!
//! An embedded worker gets the client's TCP socket over its handoff Unix socket (SCM_RIGHTS, see
//! [`crate::net::handoff`]) with the client's address and the recorded bytes; once it acknowledges, the LB
//! closes its copy and is out of the data path, so a delivered byte costs one process's syscalls.
//!
//! Otherwise (nginx-rtmp, SRS, or a handoff that was not taken) the LB connects to the worker (PROXY
//! v2 header first when the worker expects one), handshakes as a client, and replays the recorded
//! bytes verbatim, so the worker's chunk-stream state is exactly the client's. From there both
//! directions are plain byte copies.
//!
//! Either way the worker's answers to `connect` and `createStream` reach the client a second time;
//! their transaction ids are already settled, so clients (ffmpeg, OBS/librtmp) ignore them, and every
//! chunk stream the worker uses starts with a full header, so the client decodes the worker's output
//! from its first byte.
//!
//! Until it is routed, a client costs the LB what it sent: at most [`MAX_PREAMBLE`] bytes each, and
//! all of them together at most the LB's budget ([`CLIENTS_MEMORY`], `ORYX_RTMP_LB_MEMORY`), past
//! which the clients that hold the most are closed. Every such close is logged with its reason.

use super::backends::{Backends, Direction};
use crate::compile::plan::{Plan, WorkerKind, WorkerPlan};
use crate::memory_budget::{self, Charge, MemoryBudget};
use crate::net::handoff::{self, Handoff};
use crate::rtmp::handshake::ClientHandshake;
use crate::rtmp::server::{InputBudget, ServerEvent, ServerSession};
use crate::stream_name::{StreamName, VhostRule};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::sync::CancellationToken;

/// C0 + C1 + C2: the client bytes the handshake consumes before the chunk stream starts.
const CLIENT_HANDSHAKE_LEN: usize = 1 + 1536 + 1536;
/// A client must name its stream within this time.
const ROUTING_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes a client may send before its `publish`/`play`: `connect`, `createStream` and the like
/// take a few hundred; media comes after routing.
pub const MAX_PREAMBLE: usize = 64 * 1024;
/// What all clients not yet routed may make the LB hold together.
pub const CLIENTS_MEMORY: usize = 64 << 20;
/// Environment override of [`CLIENTS_MEMORY`] (a size: `64MiB`).
pub const ENV_CLIENTS_MEMORY: &str = "ORYX_RTMP_LB_MEMORY";
/// Connecting to and handshaking with one worker.
const WORKER_TIMEOUT: Duration = Duration::from_secs(3);
/// Relay buffer per direction.
const RELAY_BUFFER: usize = 64 * 1024;

/// What the client asked for, and everything needed to replay it.
#[derive(Debug)]
pub struct Routed {
    pub key: String,
    pub publish: bool,
    /// Client bytes after the handshake, to replay to the worker.
    pub replay: Bytes,
}

/// The host this rtmp-lb runs on (`None` without hosts): a worker on another host is relayed.
static LB_HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Whether the LB on `lb_host` can hand a client's socket to `worker`: only an embedded worker on
/// the same host can take it (SCM_RIGHTS crosses no machine, and abstract socket names live per
/// network namespace). A worker on another host gets the relay with the PROXY v2 header. Without
/// hosts (`None` on either side) everything runs on one machine.
pub fn hands_off(worker: &WorkerPlan, lb_host: Option<&str>) -> bool {
    worker.kind == WorkerKind::Embedded
        && match (lb_host, worker.host.as_deref()) {
            (Some(lb), Some(host)) => lb == host,
            _ => true,
        }
}

pub fn run(plan: Plan) -> anyhow::Result<()> {
    let _ = LB_HOST.set(plan.rtmp_lb.as_ref().and_then(|lb| lb.host.clone()));
    let plan_for_tls = plan.clone();
    super::lb_start::run(plan, "rtmp-lb", |lb| async move {
        let plan = plan_for_tls;
        let super::lb_start::StartedLb {
            control,
            backends,
            listener,
            tls,
        } = lb;
        // Handed-off clients no longer depend on this process; the tracker holds the ones still
        // being routed or relayed, which get a bounded drain when we are asked to stop.
        let connections = tokio_util::task::TaskTracker::new();
        let budget = MemoryBudget::new(
            "rtmp-lb clients",
            memory_budget::env_limit(ENV_CLIENTS_MEMORY, CLIENTS_MEMORY),
        );
        if let (Some((tls_listener, status)), Some(tls_plan)) =
            (tls, plan.rtmp_lb.as_ref().and_then(|lb| lb.tls.as_ref()))
        {
            let rtmps = super::rtmps::Rtmps::start(&plan, tls_plan, &status)?;
            tracing::info!(listen = %tls_plan.listen, "RTMPS listening");
            tokio::spawn(serve_rtmps(
                tls_listener,
                rtmps,
                backends.clone(),
                budget.clone(),
                connections.clone(),
            ));
        }
        let mut acceptor = crate::net::shutdown::Acceptor::new(listener);
        while let Some((client, peer)) = acceptor.next().await {
            let backends = backends.clone();
            let budget = budget.clone();
            connections.spawn(async move {
                metrics::gauge!("oryx_rtmp_lb_connections").increment(1.0);
                if let Err(err) = serve_client(client, peer, backends, &budget).await {
                    tracing::info!(%peer, "connection ended: {err:#}");
                }
                metrics::gauge!("oryx_rtmp_lb_connections").decrement(1.0);
            });
        }
        drop(acceptor);
        connections.close();
        control.set_ready(false);
        crate::net::shutdown::drain("rtmp-lb", connections.wait()).await;
        Ok(())
    })
}

/// Accept RTMPS clients until the process is asked to stop: each is served like a plain one once
/// its TLS handshake is done (within the handshake deadline), relayed since its bytes are TLS.
async fn serve_rtmps(
    listener: tokio::net::TcpListener,
    rtmps: super::rtmps::Rtmps,
    backends: Backends,
    budget: Arc<MemoryBudget>,
    connections: tokio_util::task::TaskTracker,
) {
    let rtmps = Arc::new(rtmps);
    let mut acceptor = crate::net::shutdown::Acceptor::new(listener);
    while let Some((client, peer)) = acceptor.next().await {
        let (rtmps, backends, budget) = (rtmps.clone(), backends.clone(), budget.clone());
        connections.spawn(async move {
            let _ = client.set_nodelay(true);
            let Some(client) = rtmps.handshake(client).await else {
                return;
            };
            metrics::gauge!("oryx_rtmp_lb_connections").increment(1.0);
            if let Err(err) = serve_client(client, peer, backends, &budget).await {
                tracing::info!(%peer, "RTMPS connection ended: {err:#}");
            }
            metrics::gauge!("oryx_rtmp_lb_connections").decrement(1.0);
        });
    }
}

/// Whom the LB routes: a publisher goes to the origins, a player to the edges (when there are).
fn direction(publish: bool) -> Direction {
    if publish {
        Direction::Publish
    } else {
        Direction::Play
    }
}

/// What the LB knows before the worker's next report: its publisher is there (once it took
/// the publisher). Players are noted when their worker is chosen ([`serve_client`]).
fn note_routed(backends: &Backends, worker: &str, key: &str, publish: bool) {
    if publish {
        backends.note_publisher(worker, key);
    }
}

/// A client connection the LB routes: plain TCP, or TLS ended here.
pub trait Client: AsyncRead + AsyncWrite + Unpin + Send {
    /// The socket to hand off to a worker, when what flows on it is the RTMP stream itself.
    fn plain_socket(&self) -> Option<&TcpStream>;
    fn local_addr(&self) -> std::io::Result<SocketAddr>;
}

impl Client for TcpStream {
    fn plain_socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }
}

impl Client for tokio_rustls::server::TlsStream<TcpStream> {
    fn plain_socket(&self) -> Option<&TcpStream> {
        None
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.get_ref().0.local_addr()
    }
}

/// Route one client: read until its `publish`/`play`, then hand it off or relay it, trying the
/// workers in their ranking. A little over the usual length: the routing read, the hand-off and
/// the relay fallback share the client's socket, its budget charge and the cancel token.
async fn serve_client<C: Client>(
    mut client: C,
    peer: SocketAddr,
    backends: Backends,
    budget: &Arc<MemoryBudget>,
) -> anyhow::Result<()> {
    if let Some(tcp) = client.plain_socket() {
        let _ = tcp.set_nodelay(true);
    }
    let cancel = CancellationToken::new();
    let mut charge = budget.charge(peer.to_string(), cancel.clone());
    let routing = tokio::time::timeout(ROUTING_TIMEOUT, read_route(&mut client, &mut charge));
    let routed = tokio::select! {
        routed = routing => routed
            .map_err(|_| anyhow::anyhow!("no publish/play within {ROUTING_TIMEOUT:?}"))??,
        _ = cancel.cancelled() => anyhow::bail!(
            "closed to make room in the {} budget before publish/play",
            budget.name()
        ),
    };
    // Routed: what it sent is now the replay, bounded by MAX_PREAMBLE and soon handed on.
    drop(charge);
    let local = client.local_addr()?;
    let mut tried = Vec::new();
    for worker in backends.candidates_for(&routed.key, direction(routed.publish)) {
        // A player counts on its edge from the choice on, not from its handoff's answer: a burst
        // routed at once (the many players of a hot stream) then spreads as `edge-share` says.
        if !routed.publish {
            backends.note_player(&worker.name, &routed.key);
        }
        let lb_host = LB_HOST.get().and_then(Option::as_deref);
        // Pods share no sockets: every worker pod is relayed to.
        let local_worker = hands_off(&worker, lb_host) && !crate::net::pod::active();
        if let (true, Some(socket)) = (local_worker, client.plain_socket()) {
            match hand_off(socket, peer, &routed.replay, &worker).await? {
                Taken::Yes => {
                    tracing::info!(%peer, key = %routed.key, worker = %worker.name,
                        publish = routed.publish, "handed off");
                    note_routed(&backends, &worker.name, &routed.key, routed.publish);
                    metrics::counter!("oryx_rtmp_lb_routed_total", "worker" => worker.name.clone())
                        .increment(1);
                    metrics::counter!("oryx_rtmp_lb_handoffs_total", "worker" => worker.name.clone())
                        .increment(1);
                    // Dropping our copy of the socket leaves the client to the worker.
                    return Ok(());
                }
                Taken::No(err) => {
                    tracing::debug!(worker = %worker.name, "no handoff, relaying: {err:#}");
                    metrics::counter!("oryx_rtmp_lb_handoff_failures_total",
                        "worker" => worker.name.clone())
                    .increment(1);
                }
            }
        }
        match tokio::time::timeout(WORKER_TIMEOUT, open_worker(&worker, peer, local)).await {
            Ok(Ok((mut upstream, early))) => {
                tracing::info!(%peer, key = %routed.key, worker = %worker.name,
                    publish = routed.publish, "routed");
                note_routed(&backends, &worker.name, &routed.key, routed.publish);
                metrics::counter!("oryx_rtmp_lb_routed_total", "worker" => worker.name.clone())
                    .increment(1);
                metrics::counter!("oryx_rtmp_lb_relays_total", "worker" => worker.name.clone())
                    .increment(1);
                upstream.write_all(&routed.replay).await?;
                client.write_all(&early).await?;
                client.flush().await?;
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut client,
                    &mut upstream,
                    RELAY_BUFFER,
                    RELAY_BUFFER,
                )
                .await;
                return Ok(());
            }
            Ok(Err(err)) => {
                tracing::warn!(worker = %worker.name, "cannot reach worker: {err:#}");
                backends.mark_down(&worker.name);
            }
            Err(_) => {
                tracing::warn!(worker = %worker.name, "worker did not handshake in {WORKER_TIMEOUT:?}");
                backends.mark_down(&worker.name);
            }
        }
        tried.push(worker.name);
    }
    anyhow::bail!("no worker serves {} (tried: {:?})", routed.key, tried)
}

/// Whether a worker took a handed-over client.
enum Taken {
    /// The worker owns the client now.
    Yes,
    /// The worker does not have the client (no handoff socket, refused, gone): relaying is safe.
    No(anyhow::Error),
}

/// Pass the client's socket, its address and the replay bytes to an embedded worker's handoff
/// socket. An error means the outcome is unknown (no answer in time): the client is dropped rather
/// than risk two processes serving it.
async fn hand_off(
    client: &TcpStream,
    peer: SocketAddr,
    replay: &Bytes,
    worker: &WorkerPlan,
) -> anyhow::Result<Taken> {
    let handoff = Handoff {
        client: peer,
        replay: replay.clone(),
    };
    let sent = async {
        let message = handoff::encode(&handoff)?;
        let mut stream = connect_handoff(worker.rtmp)?;
        handoff::check_holder(&stream, &handoff::socket_name(worker.rtmp))?;
        let first = stream
            .async_io(Interest::WRITABLE, || {
                handoff::send_with_fd(stream.as_raw_fd(), &message, client.as_raw_fd())
            })
            .await?;
        stream.write_all(&message[first..]).await?;
        anyhow::Ok(stream)
    };
    // A worker that did not get the whole message drops the socket when we close the connection.
    let mut stream = match tokio::time::timeout(WORKER_TIMEOUT, sent).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Ok(Taken::No(err)),
        Err(_) => {
            return Ok(Taken::No(anyhow::anyhow!(
                "handoff not sent in {WORKER_TIMEOUT:?}"
            )))
        }
    };
    let mut answer = [0u8; 1];
    match tokio::time::timeout(WORKER_TIMEOUT, stream.read(&mut answer)).await {
        Ok(Ok(1)) if answer[0] == handoff::ACK => Ok(Taken::Yes),
        Ok(Ok(0)) => Ok(Taken::No(anyhow::anyhow!("the worker refused the handoff"))),
        Ok(Err(err)) => Ok(Taken::No(anyhow::anyhow!("the worker went away: {err}"))),
        Ok(Ok(_)) => anyhow::bail!("worker {} answered the handoff with garbage", worker.name),
        Err(_) => anyhow::bail!(
            "worker {} did not answer the handoff in {WORKER_TIMEOUT:?}",
            worker.name
        ),
    }
}

/// Connect (without blocking) to the handoff socket of the embedded worker listening on `rtmp`.
fn connect_handoff(rtmp: SocketAddr) -> anyhow::Result<UnixStream> {
    let name = format!("\0{}", handoff::socket_name(rtmp));
    let addr = socket2::SockAddr::unix(&name)?;
    // socket2 opens it close-on-exec.
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    // Unix stream connects complete at once or fail (EAGAIN when the backlog is full).
    socket.connect(&addr)?;
    let std_stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket));
    Ok(UnixStream::from_std(std_stream)?)
}

/// Answer the client until it names its stream; returns the routing key and the bytes to replay.
/// What the client makes us hold is kept in `charge`; an error says why the client is dropped.
pub async fn read_route<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    charge: &mut Charge,
) -> anyhow::Result<Routed> {
    // 128 keeps the client's view of our chunk size at the protocol default, which is what the
    // worker's output (a fresh connection's) assumes.
    let mut session = ServerSession::new(128);
    session.set_input_budget(InputBudget {
        commands: MAX_PREAMBLE,
        publisher: MAX_PREAMBLE,
    });
    let mut received = BytesMut::with_capacity(8192);
    let mut buf = vec![0u8; 16 * 1024];
    let mut connect: Option<(String, String)> = None;
    loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            anyhow::bail!("client closed before publish/play");
        }
        if received.len() + n > MAX_PREAMBLE {
            anyhow::bail!("client sent over {MAX_PREAMBLE} bytes before publish/play");
        }
        received.extend_from_slice(&buf[..n]);
        let events = session
            .feed(&buf[..n])
            .map_err(|err| anyhow::anyhow!("bad RTMP from client before publish/play: {err}"))?;
        charge.set(received.len() + session.held_bytes())?;
        if session.has_output() {
            client.write_all(&session.take_output()).await?;
            // A TLS client's answer may sit in the session until flushed.
            client.flush().await?;
        }
        for event in events {
            let (publish, name) = match event {
                ServerEvent::Connected(info) => {
                    connect = Some((info.app, info.tc_url));
                    continue;
                }
                ServerEvent::Publish { name, .. } => (true, name),
                ServerEvent::Play { name, .. } => (false, name),
                _ => continue,
            };
            let (app, tc_url) = connect.clone().unwrap_or_default();
            let replay = received.split_off(CLIENT_HANDSHAKE_LEN.min(received.len()));
            return Ok(Routed {
                key: routing_key(&app, &tc_url, &name),
                publish,
                replay: replay.freeze(),
            });
        }
    }
}

/// The routing key of a session: the LBs' vhost rule (an explicit `?vhost=` in the stream name, the
/// app or the tcUrl; host names ignored), the app and stream without their queries.
pub fn routing_key(app: &str, tc_url: &str, stream: &str) -> String {
    StreamName::from_rtmp(VhostRule::ExplicitOnly, tc_url, app, stream).key()
}

/// Connect to `worker`, send the PROXY header if it wants one, handshake as a client. Returns the
/// stream and any worker bytes that arrived after the handshake (to pass on to the client).
async fn open_worker(
    worker: &WorkerPlan,
    peer: SocketAddr,
    local: SocketAddr,
) -> anyhow::Result<(TcpStream, Bytes)> {
    // In a pod, the worker's Service DNS name, resolved at each connection.
    let target = crate::net::pod::dial_addr(worker.rtmp).await?;
    let mut upstream = TcpStream::connect(target).await?;
    let _ = upstream.set_nodelay(true);
    // Only our own worker reads PROXY v2; nginx-rtmp and SRS speak v1 at most.
    if worker.proxy_protocol && worker.kind == WorkerKind::Embedded {
        upstream
            .write_all(&crate::proxy_protocol::encode_signed(
                peer,
                local,
                crate::net::pod::proxy_key(),
                crate::net::pod::unix_now(),
            ))
            .await?;
    }
    // Complex, like ClientSession: nginx-rtmp and SRS answer it, and a server that signs S1 is
    // checked to have seen our C1.
    let (mut handshake, c0c1) = ClientHandshake::start(true);
    upstream.write_all(&c0c1).await?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = upstream.read(&mut buf).await?;
        if n == 0 {
            anyhow::bail!("worker closed during the handshake");
        }
        let step = handshake
            .feed(&buf[..n])
            .map_err(|err| anyhow::anyhow!("worker handshake: {err}"))?;
        if !step.send.is_empty() {
            upstream.write_all(&step.send).await?;
        }
        if let Some(rest) = step.done {
            return Ok((upstream, rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_takes_an_explicit_vhost_from_anywhere() {
        let plain = routing_key("live", "rtmp://127.0.0.1:1935/live", "foo");
        assert_eq!(plain, "__defaultVhost__/live/foo");
        assert_eq!(
            routing_key("live", "rtmp://h/live?vhost=v1", "foo"),
            "v1/live/foo"
        );
        assert_eq!(
            routing_key("live?vhost=v2", "rtmp://h/live", "foo"),
            "v2/live/foo"
        );
        assert_eq!(
            routing_key("live", "rtmp://h/live", "foo?vhost=v3&token=x"),
            "v3/live/foo"
        );
        // The same stream named by another host still routes the same way.
        assert_eq!(routing_key("live", "rtmp://localhost/live", "foo"), plain);
    }

    #[test]
    fn workers_on_another_host_are_relayed_with_the_proxy_header() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/configs/multi-host.kdl");
        let plan = crate::compile::compile_path(&path, None).expect("the example compiles");
        let lb_host = plan.rtmp_lb.as_ref().and_then(|lb| lb.host.as_deref());
        assert_eq!(lb_host, Some("lb-1"));
        for worker in &plan.workers {
            assert!(
                !hands_off(worker, lb_host),
                "{} is on another host",
                worker.name
            );
            assert!(
                worker.proxy_protocol,
                "{} reads the client's address",
                worker.name
            );
            // The same worker seen from an LB on its own host is handed the socket.
            assert!(hands_off(worker, worker.host.as_deref()));
        }
        // Without hosts every embedded worker is local; external ones never take a socket.
        let mut local = plan.workers[0].clone();
        local.host = None;
        assert!(hands_off(&local, None) && hands_off(&local, Some("lb-1")));
        local.kind = WorkerKind::Srs;
        assert!(!hands_off(&local, None));
    }
}
