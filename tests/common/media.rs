//! Test media made with ffmpeg in the test, ffmpeg publishers and players, and ffprobe checks.

use super::process::{ChildGuard, Proc};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Writes an H.264 + AAC FLV of `seconds` seconds at `size` (WxH, 25 fps) with a keyframe every
/// `gop` frames to `out`.
pub fn make_flv(out: &Path, size: &str, seconds: u32, gop: u32) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=25"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            &gop.to_string(),
        ])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(out)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make test media");
}

/// An H.264 + AAC FLV of `seconds` seconds at 320x240, GOP 1 s, in `dir`.
pub fn make_media(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join(format!("test-{seconds}s.flv"));
    make_flv(&out, "320x240", seconds, 25);
    out
}

/// `ffmpeg -re -i MEDIA -c copy -f flv URL`, looping when `looped`.
fn publish_command(media: &Path, url: &str, looped: bool) -> Command {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error"]);
    if looped {
        command.args(["-stream_loop", "-1"]);
    }
    command
        .arg("-re")
        .arg("-i")
        .arg(media)
        .args(["-c", "copy", "-f", "flv", url]);
    command
}

/// ffmpeg publishing `media` to `url` in real time (looping when `looped`); errors go to a pipe.
pub fn publish(media: &Path, url: &str, looped: bool) -> ChildGuard {
    let mut command = publish_command(media, url, looped);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    ChildGuard(command.spawn().expect("ffmpeg publisher starts"))
}

/// ffmpeg publishing `media` in a loop to `url`, in real time, logging to `log`.
pub fn publish_logged(media: &Path, url: &str, log: PathBuf) -> Proc {
    Proc::spawn(publish_command(media, url, true), log)
}

/// ffmpeg playing `url` and decoding it to nothing until killed, its output discarded.
pub fn play_to_null(url: &str) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", url])
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg player starts");
    ChildGuard(child)
}

/// ffmpeg playing `url` into `out` (copy, FLV) until killed.
pub fn play_to_file(url: &str, out: &Path, log: PathBuf) -> Proc {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error"])
        .args(["-rw_timeout", "10000000", "-i", url])
        .args(["-c", "copy", "-flush_packets", "1", "-f", "flv", "-y"])
        .arg(out);
    Proc::spawn(command, log)
}

/// `ffprobe` a URL: its stream codec names.
pub fn probe_codecs(url: &str) -> Vec<String> {
    let output = Command::new("timeout")
        .args(["20", "ffprobe", "-v", "error"])
        .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0", url])
        .output()
        .expect("ffprobe runs");
    let mut codecs: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    codecs.sort();
    codecs
}

/// The codec names Debian's ffprobe reports for `url`, sorted, each once (an HLS input lists its
/// streams once more under its program); a stalled read gives up after 10 s.
pub fn probe_codec_set(url: &str) -> Vec<String> {
    let args = ["-v", "error", "-rw_timeout", "10000000"];
    let show = ["-show_entries", "stream=codec_name", "-of", "csv=p=0", url];
    let (_, out, _) = super::process::run_tool(
        "/usr/bin/ffprobe",
        &[&args[..], &show[..]].concat(),
        Duration::from_secs(30),
    );
    let mut codecs: Vec<String> = out
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    codecs.sort();
    codecs.dedup();
    codecs
}

/// Debian's ffprobe finds H.264 and AAC at `url`, and its ffmpeg decodes `seconds` of it without
/// a word on stderr (`-v error`).
pub fn assert_plays_cleanly(url: &str, seconds: u32) {
    let codecs = probe_codecs(url);
    assert!(
        codecs.iter().any(|c| c == "h264") && codecs.iter().any(|c| c == "aac"),
        "ffprobe {url}: {codecs:?}"
    );
    let seconds = seconds.to_string();
    let args = ["-hide_banner", "-v", "error", "-i", url, "-t", &seconds];
    let (ok, _, stderr) = super::process::run_tool(
        "ffmpeg",
        &[&args[..], &["-f", "null", "-"]].concat(),
        Duration::from_secs(30),
    );
    assert!(ok, "ffmpeg failed on {url}: {stderr}");
    assert_eq!(stderr.trim(), "", "ffmpeg reported errors decoding {url}");
}

/// ffprobe finds a video stream at `url` within 15 s.
pub fn probe(url: &str) -> bool {
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-rw_timeout", "10000000"])
        .args(["-show_entries", "stream=codec_type", "-of", "csv=p=0", url]);
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let log = std::env::temp_dir().join(format!("oryx-probe-{}-{n}.log", std::process::id()));
    let mut proc = Proc::spawn(command, log);
    let status = proc.wait_exit(Duration::from_secs(15));
    let out = proc.log_text();
    matches!(status, Some(s) if s.success()) && out.contains("video")
}

/// The size of the file at `path` (0 when it is not there yet).
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Video DTS values (ms) of an FLV file, as ffprobe reads them.
#[allow(dead_code)]
pub fn video_dts(file: &Path) -> Vec<i64> {
    let (ok, out, err) = super::process::run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=dts",
            "-of",
            "csv=p=0",
            &file.display().to_string(),
        ],
        Duration::from_secs(20),
    );
    assert!(ok, "ffprobe failed: {err}");
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// 10 s of 160x120 H.264 at 10 fps and ~64 kbit/s (no B-frames, a key frame every `gop` frames,
/// no audio) as FLV at `dir/name`: small enough for many players of a debug worker on a small
/// machine. `x264_params` (e.g. `slices=4`) shapes the frames.
pub fn tiny_h264_clip(dir: &Path, name: &str, gop: u32, x264_params: Option<&str>) -> PathBuf {
    let out = dir.join(name);
    let out_text = out.to_string_lossy().into_owned();
    let gop = gop.to_string();
    let mut args = vec!["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"];
    args.extend_from_slice(&["-i", "testsrc=size=160x120:rate=10", "-t", "10"]);
    args.extend_from_slice(&[
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast",
    ]);
    if let Some(params) = x264_params {
        args.extend_from_slice(&["-x264-params", params]);
    }
    args.extend_from_slice(&[
        "-b:v", "64k", "-g", &gop, "-bf", "0", "-f", "flv", &out_text,
    ]);
    let (ok, _, err) = super::process::run_tool("ffmpeg", &args, Duration::from_secs(60));
    assert!(ok, "ffmpeg makes the clip: {err}");
    out
}
