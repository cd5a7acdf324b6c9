//! One RTMP client connection, playing or publishing: oryx's sans-IO [`ClientSession`] driven over a
//! TCP socket (an ingest's source and target, an edge's pull from its origin).
//!
//! Every method that may be raced in a `select!` ([`RtmpConn::next_tag`], [`RtmpConn::pump`]) keeps
//! its state in the struct and awaits only cancel-safe calls (`read`, `write_buf`), so losing a race
//! loses no byte.

use crate::media::flv::{FlvTag, TagKind};
use crate::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use crate::rtmp::message::MediaKind;
use anyhow::{bail, Context};
use bytes::{Buf, BytesMut};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for the TCP connection, the handshake and `NetStream.*.Start` together.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Media queued from one read before the caller takes it (a read is at most 64 KiB of chunks).
const READ_SIZE: usize = 64 * 1024;

pub struct RtmpConn {
    session: ClientSession,
    stream: TcpStream,
    /// Bytes the session produced that the socket has not taken yet.
    out: BytesMut,
    read_buf: Vec<u8>,
    /// Media received and not yet handed out (play mode).
    media: VecDeque<FlvTag>,
}

impl RtmpConn {
    /// Connect to `url` and play or publish; returns once the server said `NetStream.*.Start`.
    pub async fn start(url: &str, mode: ClientMode) -> anyhow::Result<RtmpConn> {
        let mut config = ClientConfig::from_url(url, mode).map_err(anyhow::Error::msg)?;
        if mode == ClientMode::Play {
            // A relay takes every codec as it is (E-RTMP's `*`): an oryx origin would otherwise
            // give a legacy player's AAC in place of an Opus stream's Opus.
            config.fourcc_list = Some(vec!["*".into()]);
        }
        let what = match mode {
            ClientMode::Play => "play",
            ClientMode::Publish => "publish",
        };
        tokio::time::timeout(START_TIMEOUT, Self::connect(config))
            .await
            .map_err(|_| anyhow::anyhow!("no {what} answer within {START_TIMEOUT:?}"))?
    }

    async fn connect(config: ClientConfig) -> anyhow::Result<RtmpConn> {
        let address = config.address.clone();
        let stream = TcpStream::connect(&address)
            .await
            .with_context(|| format!("cannot connect to {address}"))?;
        let _ = stream.set_nodelay(true);
        let mut conn = RtmpConn {
            session: ClientSession::new(config),
            stream,
            out: BytesMut::new(),
            read_buf: vec![0; READ_SIZE],
            media: VecDeque::new(),
        };
        loop {
            conn.flush().await?;
            let events = conn.read_events().await?;
            if events.iter().any(|e| matches!(e, ClientEvent::Started)) {
                return Ok(conn);
            }
        }
    }

    /// The next media message (play mode).
    pub async fn next_tag(&mut self) -> anyhow::Result<FlvTag> {
        loop {
            if let Some(tag) = self.media.pop_front() {
                return Ok(tag);
            }
            self.flush().await?;
            self.read_events().await?;
        }
    }

    /// Read what the server sends and answer it (acknowledgements): what a publisher does while it
    /// sends. Returns an error once the server closes or refuses the stream.
    pub async fn pump(&mut self) -> anyhow::Result<()> {
        self.flush().await?;
        self.read_events().await?;
        // Media a server sends to a publisher has no use.
        self.media.clear();
        self.flush().await
    }

    /// Send one tag (publish mode), timestamps as they came.
    pub async fn send(&mut self, tag: &FlvTag) -> anyhow::Result<()> {
        let kind = match tag.kind {
            TagKind::Audio => MediaKind::Audio,
            TagKind::Video => MediaKind::Video,
            TagKind::Script => MediaKind::Script,
        };
        self.session.send_media(kind, tag.timestamp, &tag.payload);
        self.flush().await
    }

    /// Write everything the session produced. Cancel-safe: unwritten bytes stay in `out`.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let produced = self.session.take_output();
        if !produced.is_empty() {
            self.out.extend_from_slice(&produced);
        }
        while self.out.has_remaining() {
            self.stream
                .write_buf(&mut self.out)
                .await
                .context("write failed")?;
        }
        Ok(())
    }

    /// One read, fed to the session: media is queued, a refusal or a close is an error.
    async fn read_events(&mut self) -> anyhow::Result<Vec<ClientEvent>> {
        let n = self
            .stream
            .read(&mut self.read_buf)
            .await
            .context("read failed")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        let events = self
            .session
            .feed(&self.read_buf[..n])
            .map_err(|err| anyhow::anyhow!("RTMP error: {err}"))?;
        for event in &events {
            match event {
                ClientEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => self.media.push_back(FlvTag {
                    kind: match kind {
                        MediaKind::Audio => TagKind::Audio,
                        MediaKind::Video => TagKind::Video,
                        MediaKind::Script => TagKind::Script,
                    },
                    timestamp: *timestamp,
                    payload: payload.clone(),
                }),
                ClientEvent::Status {
                    level,
                    code,
                    description,
                } if level == "error" => {
                    bail!("{code}: {description}")
                }
                ClientEvent::Status { code, .. }
                    if code == "NetStream.Play.Stop"
                        || code == "NetStream.Play.UnpublishNotify"
                        || code == "NetStream.Unpublish.Success" =>
                {
                    bail!("{code}: the stream ended")
                }
                ClientEvent::CommandError { description } => bail!("refused: {description}"),
                _ => {}
            }
        }
        Ok(events)
    }
}
