//! The push task of one forward: dial the target (TLS for `rtmps://`), publish with oryx's own RTMP
//! client session, send the headers and then the queued frames; on any failure log it once, count it
//! and retry with exponential backoff until the publisher leaves, then end the publish politely.

use super::audio::ForwardAudio;
use super::status::{Forward, State};
use super::target::Target;
use crate::rtmp::client::{ClientEvent, ClientSession};
use crate::worker::audio_legacy::LegacyAudio;
use crate::worker::frame_kind::media_kind;
use crate::worker::hub::Frame;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long was stable: the next failure waits [`FIRST_BACKOFF`] again.
const STABLE: Duration = Duration::from_secs(60);
/// Bound on dialing, the TLS handshake, and the RTMP exchange up to `NetStream.Publish.Start`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A target that accepts no byte for this long is given up on (and redialed).
const WRITE_TIMEOUT: Duration = crate::net::write_deadline::WRITE_TIMEOUT;

/// How one forward reaches its target.
pub struct Push {
    pub forward: Arc<Forward>,
    pub target: Target,
    /// PEM file of a private CA for `rtmps://`.
    pub ca: Option<String>,
    /// `vhost/app/stream`, for the log.
    pub stream: String,
    /// The worker's Opus→AAC transcoders, for a target that does not take Opus.
    pub legacy: Arc<LegacyAudio>,
}

/// A connection to a target, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Push {
    /// Push until the publisher leaves.
    pub async fn run(self) {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u64;
        loop {
            if attempts > 0 {
                self.forward.count_reconnect();
            }
            attempts += 1;
            self.forward.set_state(State::Connecting);
            let mut connected_at = None;
            // Connecting gives way to the publisher leaving; once publishing, the pump ends the
            // publish itself.
            let connecting = tokio::select! {
                result = self.connect() => result,
                () = ended(&self.forward) => break,
            };
            let result = match connecting {
                Ok((session, io)) => self.pump(session, io, &mut connected_at).await,
                Err(reason) => Err(reason),
            };
            self.forward.queue().close();
            let Err(reason) = result else { break };
            if self.forward.queue().ended() {
                break;
            }
            if connected_at.is_some_and(|at: Instant| at.elapsed() >= STABLE) {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(stream = %self.stream, url = %self.forward.url, error = %reason,
                retry_in = ?backoff, "forward failed");
            self.forward.set_error(reason);
            self.forward.set_state(State::Backoff);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = ended(&self.forward) => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.forward.queue().close();
        tracing::debug!(stream = %self.stream, url = %self.forward.url, "forward stopped");
    }

    /// Dial (and TLS), then the RTMP exchange up to `NetStream.Publish.Start`.
    async fn connect(&self) -> Result<(ClientSession, Box<dyn Io>), String> {
        let mut io = self.dial().await?;
        let mut session = ClientSession::new(self.target.config.clone());
        let mut buf = vec![0u8; 4096];
        tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                self.flush(&mut session, &mut io).await?;
                if read(&mut io, &mut session, &mut buf).await? {
                    return Ok::<(), String>(());
                }
            }
        })
        .await
        .map_err(|_| format!("no NetStream.Publish.Start within {CONNECT_TIMEOUT:?}"))??;
        Ok((session, io))
    }

    async fn dial(&self) -> Result<Box<dyn Io>, String> {
        let address = &self.target.address;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| format!("connecting to {address} timed out"))?
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let Some(name) = &self.target.tls_name else {
            return Ok(Box::new(tcp));
        };
        let config = tls_config(self.ca.as_deref())?;
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| format!("{name:?} is not a valid TLS server name"))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(server_name, tcp))
            .await
            .map_err(|_| "the TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS: {e}"))?;
        Ok(Box::new(tls))
    }

    /// Publishing: the headers, then every queued frame as it comes. `Ok` when the publisher left
    /// and the publish was ended.
    async fn pump(
        &self,
        mut session: ClientSession,
        io: Box<dyn Io>,
        connected_at: &mut Option<Instant>,
    ) -> Result<(), String> {
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut buf = vec![0u8; 4096];
        let (headers, stream) = {
            let mut queue = self.forward.queue();
            (queue.open(), queue.stream())
        };
        // Joined (when converting) for this connection only: a backoff runs no transcoder.
        let mut audio = ForwardAudio::new(session.server_caps(), &self.legacy, stream);
        send(&mut session, audio.headers(headers));
        self.forward.set_state(State::Connected);
        *connected_at = Some(Instant::now());
        tracing::info!(stream = %self.stream, url = %self.forward.url, "forward publishing");
        loop {
            let (frames, ended) = {
                let mut queue = self.forward.queue();
                (queue.take(), queue.ended())
            };
            send(&mut session, audio.frames(frames));
            if ended {
                session.unpublish();
                self.flush(&mut session, &mut wr).await?;
                let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
                return Ok(());
            }
            self.flush(&mut session, &mut wr).await?;
            tokio::select! {
                () = self.forward.wake.notified() => {}
                result = read(&mut rd, &mut session, &mut buf) => { result?; }
            }
        }
    }

    /// Write what the session has to send; a target that takes nothing for [`WRITE_TIMEOUT`] fails.
    async fn flush<W: AsyncWrite + Unpin>(
        &self,
        session: &mut ClientSession,
        wr: &mut W,
    ) -> Result<(), String> {
        let out = session.take_output();
        let mut sent = 0;
        while sent < out.len() {
            let n = tokio::time::timeout(WRITE_TIMEOUT, wr.write(&out[sent..]))
                .await
                .map_err(|_| format!("the target accepted nothing for {WRITE_TIMEOUT:?}"))?
                .map_err(|e| format!("writing: {e}"))?;
            if n == 0 {
                return Err("the target closed the connection".into());
            }
            sent += n;
            self.forward.add_bytes(n);
        }
        Ok(())
    }
}

fn send(session: &mut ClientSession, frames: impl IntoIterator<Item = Frame>) {
    for frame in frames {
        session.send_media(media_kind(frame.kind), frame.timestamp, &frame.payload);
    }
}

/// Read once and feed the session; true once the target said `NetStream.Publish.Start`, an error
/// when it refused or closed.
async fn read<R: AsyncRead + Unpin>(
    rd: &mut R,
    session: &mut ClientSession,
    buf: &mut [u8],
) -> Result<bool, String> {
    let n = rd.read(buf).await.map_err(|e| format!("reading: {e}"))?;
    if n == 0 {
        return Err("the target closed the connection".into());
    }
    let events = session.feed(&buf[..n]).map_err(|e| format!("RTMP: {e}"))?;
    let mut started = false;
    for event in events {
        match event {
            ClientEvent::Started => started = true,
            ClientEvent::Status {
                level,
                code,
                description,
            } if level == "error" => {
                return Err(format!("the target refused: {code} {description}"));
            }
            ClientEvent::CommandError { description } => {
                return Err(format!("the target refused: {description}"));
            }
            _ => {}
        }
    }
    Ok(started)
}

/// Resolves once the publisher has left.
async fn ended(forward: &Forward) {
    loop {
        let notified = forward.done.notified();
        if forward.queue().ended() {
            return;
        }
        notified.await;
    }
}

/// The Web PKI roots plus the private `ca`, as every `rtmps://` client of oryx trusts.
fn tls_config(ca: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    crate::net::https_client::rtmps_client_config(ca).map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::message::MediaKind;
    use crate::rtmp::server::{ServerEvent, ServerSession};
    use crate::worker::hub::FrameKind;
    use bytes::Bytes;
    use tokio::net::TcpListener;

    fn frame(kind: FrameKind, timestamp: u32, payload: &[u8]) -> Frame {
        Frame {
            kind,
            timestamp,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// A target on oryx's own server session: accepts the publish and records every event until
    /// the client closes.
    async fn target(listener: TcpListener) -> Vec<ServerEvent> {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut server = ServerSession::new(4096);
        let (mut events, mut buf) = (Vec::new(), vec![0u8; 65536]);
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            if n == 0 {
                return events;
            }
            for event in server.feed(&buf[..n]).unwrap() {
                if let ServerEvent::Publish { stream_id, name } = &event {
                    server.accept_publish(*stream_id, name);
                }
                events.push(event);
            }
            sock.write_all(&server.take_output()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_push_sends_headers_then_frames_from_a_keyframe_and_ends_the_publish() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(target(listener));
        let forward = Arc::new(Forward::new("test".into(), 1 << 20));
        let avc = frame(FrameKind::Video, 0, &[0x17, 0, 0, 0, 0, 1]);
        let aac = frame(FrameKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
        for f in [&avc, &aac, &frame(FrameKind::Video, 0, &[0x17, 1, 0, 0, 0])] {
            forward.queue().push(f);
        }
        let push = Push {
            forward: forward.clone(),
            target: Target::parse(&format!("rtmp://{addr}/live/s?k=v")).unwrap(),
            ca: None,
            stream: "test".into(),
            legacy: Arc::default(),
        };
        let task = tokio::spawn(push.run());
        tokio::time::timeout(Duration::from_secs(5), async {
            while forward.snapshot().state != State::Connected {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("connected");
        for f in [
            frame(FrameKind::Video, 40, &[0x27, 1, 0, 0, 0]),
            frame(FrameKind::Video, 80, &[0x17, 1, 0, 0, 0]),
            frame(FrameKind::Audio, 90, &[0xaf, 1, 7]),
        ] {
            if forward.queue().push(&f) {
                forward.wake.notify_one();
            }
        }
        forward.end();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ends with the publish")
            .unwrap();
        let events = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the target sees the close")
            .unwrap();
        assert!(
            matches!(&events[1], ServerEvent::Publish { name, .. } if name == "s?k=v"),
            "{events:?}"
        );
        let media: Vec<(MediaKind, u32, u8)> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => Some((*kind, *timestamp, payload[1])),
                _ => None,
            })
            .collect();
        assert_eq!(
            media,
            [
                (MediaKind::Video, 0, 0),
                (MediaKind::Audio, 0, 0),
                (MediaKind::Video, 80, 1),
                (MediaKind::Audio, 90, 1)
            ]
        );
        assert!(
            matches!(events.last(), Some(ServerEvent::CloseStream { .. })),
            "{events:?}"
        );
        let done = forward.snapshot();
        assert_eq!((done.reconnects, done.last_error), (0, None));
        assert!(done.bytes > 0);
    }

    #[tokio::test]
    async fn a_refused_publish_is_an_error_with_the_targets_reason_then_a_backoff() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut server = ServerSession::new(4096);
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                for event in server.feed(&buf[..n]).unwrap() {
                    if let ServerEvent::Publish { stream_id, .. } = event {
                        server.reject_publish(stream_id, "NetStream.Publish.BadName", "taken");
                    }
                }
                let _ = sock.write_all(&server.take_output()).await;
            }
        });
        let forward = Arc::new(Forward::new("test".into(), 1 << 20));
        let push = Push {
            forward: forward.clone(),
            target: Target::parse(&format!("rtmp://{addr}/live/s")).unwrap(),
            ca: None,
            stream: "test".into(),
            legacy: Arc::default(),
        };
        let task = tokio::spawn(push.run());
        let failed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let s = forward.snapshot();
                if s.state == State::Backoff {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("backoff");
        let error = failed.last_error.unwrap();
        assert!(error.contains("NetStream.Publish.BadName"), "{error}");
        forward.end();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("a backoff gives way to the end of the publish")
            .unwrap();
    }
}
