//! SRT in the embedded worker with real clients: Debian's ffmpeg (libsrt) publishes MPEG-TS over
//! SRT with each stream-id convention; ffprobe plays the stream over RTMP, HTTP-FLV and HLS and
//! ffmpeg plays it back over SRT; with a passphrase, a caller with the wrong one is refused while
//! the right one keeps streaming; garbage UDP at the port changes nothing; FFmpeg 9 publishes HEVC
//! over SRT and reads it back over HTTP-FLV and RTMP.

mod common;

use common::ffmpeg9::{self, Clip};
use common::process::{run_tool, ChildGuard};
use common::wait::wait_for;
use common::worker::start_worker_with;
use common::{free_port, make_media, probe_codecs, settings, Worker};
use oryx::compile::plan::SrtListenPlan;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A worker with an SRT listener (and HLS on), `passphrase` in `SRT_PASSPHRASE` when given.
fn srt_worker(passphrase: Option<&str>) -> (Worker, SocketAddr) {
    let srt = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    srt_worker_at(srt, 120, passphrase)
}

/// [`srt_worker`] listening on `srt` with `latency_ms`.
fn srt_worker_at(
    srt: SocketAddr,
    latency_ms: u32,
    passphrase: Option<&str>,
) -> (Worker, SocketAddr) {
    let mut stream = settings();
    stream.hls.enabled = true;
    stream.hls.fragment_ms = 1000;
    let env: Vec<(&str, &str)> = passphrase
        .map(|p| ("SRT_PASSPHRASE", p))
        .into_iter()
        .collect();
    let worker = start_worker_with(
        stream,
        false,
        |w| {
            w.srt = Some(SrtListenPlan {
                listen: srt,
                latency_ms,
                passphrase_env: passphrase.map(|_| "SRT_PASSPHRASE".into()),
                pbkeylen: 16,
            })
        },
        &env,
    );
    (worker, srt)
}

/// A loopback port free for TCP (the pool's rule) and for UDP.
fn free_udp_port() -> u16 {
    loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// ffmpeg publishing `media` in a loop as MPEG-TS to `srt://ADDR?streamid=ID[&extra]`.
fn publish_srt(ffmpeg: &str, media: &Path, srt: SocketAddr, id: &str, extra: &str) -> ChildGuard {
    let url = format!("srt://{srt}?streamid={id}{extra}");
    let child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(media)
        .args(["-c", "copy", "-f", "mpegts", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publishes over SRT");
    ChildGuard(child)
}

/// The codecs ffprobe finds at `url` (each once: an HLS playlist lists its program's too).
fn codecs(url: &str) -> Vec<String> {
    let mut codecs = probe_codecs(url);
    codecs.dedup();
    codecs
}

/// [`codecs`], once it finds both H.264 and AAC (or what it last found).
fn codecs_when_ready(url: &str) -> Vec<String> {
    let want = vec!["aac".to_string(), "h264".to_string()];
    wait_for(Duration::from_secs(20), || {
        let found = codecs(url);
        (found == want).then_some(found)
    })
    .unwrap_or_else(|| codecs(url))
}

/// `ffmpeg -i srt://…?streamid=ID -t 3 -f null -`: (succeeded, log).
fn play_srt(srt: SocketAddr, id: &str, extra: &str) -> (bool, String) {
    let url = format!("srt://{srt}?streamid={id}{extra}");
    let (ok, _, log) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-i",
            &url,
            "-t",
            "3",
            "-f",
            "null",
            "-",
        ],
        Duration::from_secs(30),
    );
    (ok, log)
}

#[test]
fn srt_publish_plays_over_rtmp_http_flv_hls_and_srt_in_both_conventions() {
    let (worker, srt) = srt_worker(None);
    let media = make_media(worker.dir.path(), 4);
    let _srs = publish_srt("ffmpeg", &media, srt, "#!::r=live/cam,m=publish", "");
    let _mtx = publish_srt("ffmpeg", &media, srt, "publish:live/mtx", "");

    let want = ["aac", "h264"];
    assert_eq!(
        codecs_when_ready(&worker.rtmp_url("live/cam")),
        want,
        "RTMP"
    );
    assert_eq!(
        codecs_when_ready(&worker.http_url("live/cam.flv")),
        want,
        "HTTP-FLV"
    );
    assert_eq!(
        codecs_when_ready(&worker.http_url("live/mtx.flv")),
        want,
        "HTTP-FLV (MediaMTX id)"
    );
    assert_eq!(
        codecs_when_ready(&worker.http_url("live/cam.m3u8")),
        want,
        "HLS"
    );

    for id in ["#!::r=live/cam,m=request", "read:live/mtx"] {
        let (ok, log) = play_srt(srt, id, "");
        assert!(ok, "SRT playback of {id}: {log}");
        assert!(
            log.contains("Video: h264") && log.contains("Audio: aac"),
            "{log}"
        );
    }
    // A second publisher of a published stream is refused; the first goes on.
    let (ok, _) = play_srt(srt, "#!::r=live/cam,m=request", "");
    assert!(ok);
}

#[test]
fn a_wrong_passphrase_is_refused_while_the_right_one_streams() {
    let secret = "correct-horse-battery";
    let (worker, srt) = srt_worker(Some(secret));
    let media = make_media(worker.dir.path(), 4);
    let good = format!("&passphrase={}&pbkeylen=16", secret);
    let _publisher = publish_srt("ffmpeg", &media, srt, "#!::r=live/enc,m=publish", &good);
    assert_eq!(
        codecs_when_ready(&worker.rtmp_url("live/enc")),
        ["aac", "h264"]
    );

    let (ok, log) = play_srt(
        srt,
        "#!::r=live/enc,m=request",
        "&passphrase=wrong-passphrase",
    );
    assert!(!ok, "a wrong passphrase must be refused: {log}");
    let (ok, log) = play_srt(srt, "#!::r=live/enc,m=request", "");
    assert!(!ok, "no passphrase must be refused: {log}");
    // The encrypted publisher was not disturbed, and the right passphrase plays.
    assert_eq!(codecs(&worker.rtmp_url("live/enc")), ["aac", "h264"]);
    let (ok, log) = play_srt(srt, "#!::r=live/enc,m=request", &good);
    assert!(ok, "the right passphrase plays: {log}");
}

#[test]
fn garbage_udp_is_refused_and_publishers_go_on() {
    let (worker, srt) = srt_worker(None);
    let media = make_media(worker.dir.path(), 4);
    let _publisher = publish_srt("ffmpeg", &media, srt, "#!::r=live/g,m=publish", "");
    assert_eq!(
        codecs_when_ready(&worker.rtmp_url("live/g")),
        ["aac", "h264"]
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..2000u32 {
        let len = (i * 37 % 1400) as usize + 1;
        let junk: Vec<u8> = (0..len).map(|j| (i as usize * 131 + j * 7) as u8).collect();
        let _ = socket.send_to(&junk, srt);
    }
    // A handshake-shaped packet with a bogus version and a bad stream id caller as well.
    let (ok, _) = play_srt(srt, "#!::r=,m=bogus", "");
    assert!(!ok, "a bad stream id is refused");
    assert_eq!(codecs(&worker.rtmp_url("live/g")), ["aac", "h264"]);
    assert!(common::process::alive(worker.child.pid() as i32));
}

#[test]
fn ffmpeg9_publishes_hevc_over_srt_and_reads_it_as_enhanced_rtmp() {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    let (worker, srt) = srt_worker(None);
    let clip = worker.dir.path().join("hevc.flv");
    ffmpeg9::make_clip(&ffmpeg, Clip::HevcAac, 3, &clip);
    let _publisher = publish_srt(
        &ffmpeg.to_string_lossy(),
        &clip,
        srt,
        "publish:live/hevc",
        "",
    );
    for url in [
        worker.http_url("live/hevc.flv"),
        worker.rtmp_url("live/hevc"),
    ] {
        let read = wait_for(Duration::from_secs(30), || {
            let read = ffmpeg9::read(&ffmpeg, &url, 2);
            (read.ok && read.codecs.iter().any(|c| c == "video: hevc")).then_some(read)
        })
        .unwrap_or_else(|| ffmpeg9::read(&ffmpeg, &url, 2));
        read.assert_clean_with(&url, &["video: hevc", "audio: aac"]);
    }
}

/// This test's thread in a network namespace of its own (loopback only) where nftables drops
/// `percent` % of the UDP datagrams to and from `port`, each way: loss made by the kernel
/// (`tc netem` would be closer, but kernels without `sch_netem` are common in VMs, this one
/// included). Processes the thread starts from now on live there too; dropping this takes the
/// thread back, and the namespace goes with its last process.
struct KernelLoss {
    home: std::fs::File,
}

impl KernelLoss {
    fn enter(port: u16, percent: u8) -> Result<KernelLoss, String> {
        // SAFETY: plain syscalls on this thread.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root for netns".into());
        }
        let (ok, _, err) = run_tool("nft", &["--version"], Duration::from_secs(10));
        if !ok {
            return Err(format!("no nft ({err})"));
        }
        let home = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
        // SAFETY: affects only the calling thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        let loss = KernelLoss { home };
        let chance = format!("numgen random mod 100 < {percent}");
        let steps = [
            "ip link set lo up".to_string(),
            "nft add table inet oryx_loss".into(),
            "nft add chain inet oryx_loss out { type filter hook output priority 0 ; }".into(),
            format!("nft add rule inet oryx_loss out udp dport {port} {chance} counter drop"),
            format!("nft add rule inet oryx_loss out udp sport {port} {chance} counter drop"),
        ];
        for step in steps {
            let words: Vec<&str> = step.split(' ').collect();
            let (ok, _, err) = run_tool(words[0], &words[1..], Duration::from_secs(10));
            if !ok {
                return Err(format!("{step}: {err}"));
            }
        }
        Ok(loss)
    }

    /// Datagrams the rules dropped so far.
    fn dropped(&self) -> u64 {
        let (_, out, _) = run_tool(
            "nft",
            &["list", "table", "inet", "oryx_loss"],
            Duration::from_secs(10),
        );
        out.split("packets ")
            .skip(1)
            .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for KernelLoss {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: back to the namespace this thread came from.
        unsafe { libc::setns(self.home.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}

/// A UDP relay for one caller that drops `percent` of the datagrams each way: the loss when the
/// kernel has no netem (a VM without `sch_netem`). Stops when dropped.
struct LossyRelay {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LossyRelay {
    fn start(target: SocketAddr, percent: u64) -> LossyRelay {
        use std::sync::atomic::{AtomicBool, Ordering};
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(target).unwrap();
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        let addr = front.local_addr().unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let caller = std::sync::Arc::new(std::sync::Mutex::new(None::<SocketAddr>));
        let (front2, back2) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let drops = move |seed: &mut u64| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % 100 < percent
        };
        let (stop1, caller1) = (stop.clone(), caller.clone());
        std::thread::spawn(move || {
            let (mut buf, mut seed) = ([0u8; 2048], 0x9e37_79b9_7f4a_7c15u64);
            while !stop1.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    *caller1.lock().unwrap() = Some(from);
                    if !drops(&mut seed) {
                        let _ = back.send(&buf[..n]);
                    }
                }
            }
        });
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let (mut buf, mut seed) = ([0u8; 2048], 0x2545_f491_4f6c_dd1du64);
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(n) = back2.recv(&mut buf) {
                    let to = *caller.lock().unwrap();
                    if let (Some(to), false) = (to, drops(&mut seed)) {
                        let _ = front2.send_to(&buf[..n], to);
                    }
                }
            }
        });
        LossyRelay { addr, stop }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Decoding trouble in an ffmpeg log.
fn decode_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error")
                || l.contains("invalid")
                || l.contains("corrupt")
                || l.contains("concealing")
        })
        .collect()
}

/// 5 % loss each way between the SRT publisher and the worker, made by the kernel (nftables in
/// a network namespace of the test's own, [`KernelLoss`]), or without root or nft, by a relay
/// that drops as much. The stream still plays over RTMP without a decode error.
#[test]
fn five_percent_loss_still_plays_without_decode_errors_over_rtmp() {
    let port = free_udp_port();
    // Entered before the worker starts, so that the worker, ffmpeg and ffprobe all live there.
    let loss = KernelLoss::enter(port, 5)
        .map_err(|err| crate::skipped!("kernel loss ({err}): 5 % loss from a relay instead"))
        .ok();
    let (worker, srt) = srt_worker_at(SocketAddr::from(([127, 0, 0, 1], port)), 400, None);
    let media = make_media(worker.dir.path(), 4);
    let relay = loss.is_none().then(|| LossyRelay::start(srt, 5));
    let target = relay.as_ref().map_or(srt, |r| r.addr);
    let url = format!("srt://{target}?streamid=publish:live/lossy&latency=400000");
    let _publisher = ChildGuard(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args(["-stream_loop", "-1", "-i"])
            .arg(&media)
            .args(["-c", "copy", "-f", "mpegts", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg publishes over the lossy path"),
    );
    let rtmp = worker.rtmp_url("live/lossy");
    assert_eq!(codecs_when_ready(&rtmp), ["aac", "h264"]);
    let (ok, _, log) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-i",
            &rtmp,
            "-t",
            "6",
            "-f",
            "null",
            "-",
        ],
        Duration::from_secs(40),
    );
    assert!(ok, "{log}");
    assert!(log.contains("Video: h264"), "{log}");
    assert!(
        decode_errors(&log).is_empty(),
        "decode errors under loss: {:?}",
        decode_errors(&log)
    );
    if let Some(loss) = &loss {
        assert!(loss.dropped() > 0, "the kernel dropped nothing");
    }
}
