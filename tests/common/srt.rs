//! SRT test vocabulary: plans with an srt-lb in front of SRT listeners, the srt-lb as a guarded
//! role, FFmpeg (Debian's, with libsrt) as caller and listener, and raw SRT peers built from
//! `oryx::srt::handshake` for what FFmpeg cannot be made to do (floods, silence, exact bytes).

use super::cluster::{http, oryx_bin, wait_for, write_plan, Proc};
use super::control::with_secret;
use oryx::compile::plan::{Plan, SrtListenPlan, WorkerKind, WorkerPlan};
use oryx::srt::handshake::{self, Handshake, HandshakeKind};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `worker` with an SRT listener on `srt` (no passphrase).
pub fn with_srt(mut worker: WorkerPlan, srt: SocketAddr) -> WorkerPlan {
    worker.srt = Some(SrtListenPlan {
        listen: srt,
        latency_ms: 120,
        passphrase_env: None,
        pbkeylen: 16,
    });
    worker
}

/// Embedded workers named `names`, each with an SRT listener on a free loopback port.
pub fn srt_workers(names: &[&str]) -> Vec<WorkerPlan> {
    names
        .iter()
        .map(|name| {
            let worker = super::cluster::worker(name, WorkerKind::Embedded, None);
            with_srt(worker, super::net::free_addr())
        })
        .collect()
}

/// The srt-lb of `plan`, logging to `dir/srt-lb.log`; ready.
pub fn start_srt_lb(plan: &Plan, dir: &Path) -> Proc {
    let file = dir.join("srt-lb.json");
    write_plan(&file, plan);
    let mut command = Command::new(oryx_bin());
    command
        .args(["role", "srt-lb", "srt-lb", "--plan"])
        .arg(&file)
        .env("RUST_LOG", "info");
    with_secret(&mut command);
    let proc = Proc::spawn(command, dir.join("srt-lb.log"));
    let control = plan.srt_lb.as_ref().unwrap().control;
    wait_for(Duration::from_secs(20), "the srt-lb to be ready", || {
        matches!(http(control, "GET", "/readyz"), Ok((200, _))).then_some(())
    });
    proc
}

/// A stream name under `live/` that rendezvous hashing gives to `worker` among `workers`.
pub fn stream_for(worker: &str, workers: &[&str], prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|name| {
            let key = oryx::stream_name::stream_key("", "live", name);
            oryx::route::rank(&key, workers)[0] == worker
        })
        .unwrap()
}

/// The flows the srt-lb lists (`GET /api/v1/flows`).
pub fn flows(control: SocketAddr) -> Vec<serde_json::Value> {
    let (_, body) = super::control::control(control, "GET", "/api/v1/flows").unwrap();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["flows"].as_array().cloned().unwrap_or_default()
}

/// The srt-lb's `/metrics` text.
pub fn metrics(control: SocketAddr) -> String {
    super::control::control(control, "GET", "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

/// FFmpeg as an SRT listener on `port` writing what it receives to `out` (MPEG-TS); returns once
/// its socket is bound (an srt-lb marks a worker that does not answer at once as down).
pub fn ffmpeg_listener(port: u16, options: &str, out: &Path, log: &Path) -> Proc {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "info", "-y", "-i"])
        .arg(format!("srt://127.0.0.1:{port}?mode=listener{options}"))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(out);
    let proc = Proc::spawn(command, log.to_path_buf());
    wait_udp_bound(port);
    proc
}

/// Waits until some process has a UDP socket bound to `port` (read from `/proc/net/udp`, so the
/// check never takes the port itself).
pub fn wait_udp_bound(port: u16) {
    let needle = format!(":{port:04X} ");
    wait_for(Duration::from_secs(20), "the SRT listener to bind", || {
        let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
        table
            .lines()
            .skip(1)
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| format!("{a} ").ends_with(&needle))
            })
            .then_some(())
    });
}

/// FFmpeg publishing `media` once, in real time, as MPEG-TS to `url`.
pub fn ffmpeg_publish(media: &Path, url: &str, log: &Path) -> Proc {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "info", "-re", "-i"])
        .arg(media)
        .args(["-c", "copy", "-f", "mpegts", url]);
    Proc::spawn(command, log.to_path_buf())
}

/// A raw SRT caller: one UDP socket facing the LB.
pub struct RawCaller {
    pub socket: UdpSocket,
    pub socket_id: u32,
}

impl RawCaller {
    pub fn new(lb: SocketAddr, socket_id: u32) -> RawCaller {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(lb).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        RawCaller { socket, socket_id }
    }

    /// The handshake libsrt's caller starts with.
    pub fn induction(&self) -> Handshake {
        Handshake {
            timestamp: 1,
            dest_socket: 0,
            version: 4,
            encryption: 0,
            extension: handshake::UDT_DGRAM,
            isn: 0x1000,
            mtu: 1500,
            flow_window: 8192,
            kind: HandshakeKind::Induction,
            socket_id: self.socket_id,
            cookie: 0,
            peer_ip: [0; 16],
            extensions: Vec::new(),
        }
    }

    /// The conclusion with `cookie` and `stream_id` (and an HSREQ like libsrt's).
    pub fn conclusion(&self, cookie: u32, stream_id: &str) -> Handshake {
        let hsreq = handshake::Extension {
            kind: handshake::ext::HSREQ,
            body: vec![0, 1, 5, 1, 0, 0, 0, 0xbf, 0, 0x78, 0, 0],
        };
        Handshake {
            version: 5,
            extension: 5,
            kind: HandshakeKind::Conclusion,
            cookie,
            extensions: vec![hsreq, handshake::sid_extension(stream_id).unwrap()],
            ..self.induction()
        }
    }

    pub fn send(&self, packet: &[u8]) {
        let _ = self.socket.send(packet);
    }

    /// The next datagram, if one comes within the read timeout.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        let len = self.socket.recv(&mut buf).ok()?;
        buf.truncate(len);
        Some(buf)
    }

    /// The LB's cookie for this caller.
    pub fn cookie(&self) -> u32 {
        self.send(&self.induction().encode());
        let answer = Handshake::parse(&self.recv().expect("an induction answer")).unwrap();
        assert_eq!(answer.kind, HandshakeKind::Induction);
        assert_eq!(answer.extension, handshake::SRT_MAGIC);
        answer.cookie
    }

    /// Induction, then the conclusion naming `stream_id`: the answer to the conclusion.
    pub fn connect(&self, stream_id: &str) -> Option<Handshake> {
        let cookie = self.cookie();
        self.send(&self.conclusion(cookie, stream_id).encode());
        Handshake::parse(&self.recv()?).ok()
    }
}

/// Cookie the raw worker hands out.
pub const RAW_WORKER_COOKIE: u32 = 0x5555_aaaa;
/// Socket id the raw worker answers conclusions with.
pub const RAW_WORKER_SOCKET: u32 = 0x0777_0777;

/// A raw SRT "listener" standing in for a worker: answers inductions with [`RAW_WORKER_COOKIE`],
/// conclusions with a conclusion from [`RAW_WORKER_SOCKET`], and echoes every other datagram back;
/// it records everything it received.
pub struct RawWorker {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Vec<u8>>>>,
    _socket: Arc<UdpSocket>,
}

impl RawWorker {
    pub fn start() -> RawWorker {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr = socket.local_addr().unwrap();
        // The thread ends once nothing came for a minute (the test is over).
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (thread_socket, log) = (socket.clone(), received.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok((len, peer)) = thread_socket.recv_from(&mut buf) {
                let packet = buf[..len].to_vec();
                log.lock().unwrap().push(packet.clone());
                let answer = match Handshake::parse(&packet) {
                    Ok(hs) if hs.kind == HandshakeKind::Induction => {
                        hs.induction_answer(RAW_WORKER_COOKIE, 0, 0).encode()
                    }
                    Ok(hs) if hs.kind == HandshakeKind::Conclusion => Handshake {
                        dest_socket: hs.socket_id,
                        socket_id: RAW_WORKER_SOCKET,
                        extensions: Vec::new(),
                        ..hs
                    }
                    .encode(),
                    _ => packet,
                };
                let _ = thread_socket.send_to(&answer, peer);
            }
        });
        RawWorker {
            addr,
            received,
            _socket: socket,
        }
    }

    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}
