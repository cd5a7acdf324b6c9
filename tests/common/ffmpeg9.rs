//! FFmpeg 9 (the PyPI `imageio-ffmpeg` wheel's static build, with libx265, SVT-AV1, libvpx, libopus
//! and E-RTMP): found once, used to make E-RTMP test media, publish it and read streams back. It
//! ships no ffprobe, so codecs are read from `ffmpeg -i`'s stream lines.

use super::process::{run_tool, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `ORYX_FFMPEG9`, else the binary `scripts/test` installs under `target/tools/imageio-ffmpeg`.
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ORYX_FFMPEG9") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tools/imageio-ffmpeg/imageio_ffmpeg/binaries");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ffmpeg-linux-x86_64-v9"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The binary, or `None` after printing why the test is skipped.
pub fn require() -> Option<PathBuf> {
    let found = find();
    if found.is_none() {
        crate::skipped!(
            "no FFmpeg 9 (set ORYX_FFMPEG9 or run scripts/test, which installs imageio-ffmpeg)"
        );
    }
    found
}

/// Video and audio encoders for a clip.
#[derive(Debug, Clone, Copy)]
pub enum Clip {
    HevcAac,
    H264Opus,
    Av1Opus,
    Vp9Opus,
}

impl Clip {
    fn codec_args(self) -> &'static [&'static str] {
        match self {
            Clip::HevcAac => &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=error",
                "-c:a",
                "aac",
            ],
            Clip::H264Opus => &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus"],
            Clip::Av1Opus => &[
                "-c:v",
                "libsvtav1",
                "-preset",
                "12",
                "-svtav1-params",
                "lp=1",
                "-c:a",
                "libopus",
            ],
            Clip::Vp9Opus => &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-c:a",
                "libopus",
            ],
        }
    }
}

/// A `seconds`-long 160x96, 10 fps clip (a key frame every second) with a tone, as FLV (E-RTMP
/// tags for every codec but AAC) at `out`.
pub fn make_clip(ffmpeg: &Path, clip: Clip, seconds: u32, out: &Path) {
    let what = format!("{clip:?}");
    let mut codec = vec!["-g", "10"];
    codec.extend_from_slice(clip.codec_args());
    lavfi_clip(ffmpeg, "size=160x96:rate=10", seconds, &codec, out, &what);
}

/// A 6 s 320x240, 25 fps H.264 (no B-frames, a key frame a second) + stereo Opus clip as FLV
/// (E-RTMP Opus) at `out`: what FFmpeg's `whip` muxer and browsers take as it is.
pub fn make_whip_clip(ffmpeg: &Path, out: &Path) {
    let codec = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "25",
        "-bf",
        "0",
        "-c:a",
        "libopus",
        "-ac",
        "2",
    ];
    lavfi_clip(ffmpeg, "size=320x240:rate=25", 6, &codec, out, "H.264/Opus");
}

/// FFmpeg 9 encoding `seconds` of the test pattern (`picture`: its size and rate) and a 440 Hz
/// tone at 48 kHz with `codec` (encoders and their options) into FLV at `out`.
fn lavfi_clip(ffmpeg: &Path, picture: &str, seconds: u32, codec: &[&str], out: &Path, what: &str) {
    let source = format!("testsrc={picture}");
    let seconds = seconds.to_string();
    let mut args = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ];
    args.extend_from_slice(&[&source, "-f", "lavfi", "-i"]);
    args.extend_from_slice(&["sine=frequency=440:sample_rate=48000", "-t", &seconds]);
    args.extend_from_slice(&["-pix_fmt", "yuv420p"]);
    args.extend_from_slice(codec);
    let out_text = out.to_string_lossy().into_owned();
    args.extend_from_slice(&["-f", "flv", &out_text]);
    let (ok, _, err) = run_tool(&ffmpeg.to_string_lossy(), &args, Duration::from_secs(120));
    assert!(ok, "FFmpeg 9 could not make the {what} clip: {err}");
}

/// FFmpeg 9 publishing `media` (see [`make_whip_clip`]) in a loop, in real time, streams copied,
/// with its `whip` muxer to the WHIP endpoint `url`.
pub fn publish_whip(ffmpeg: &Path, media: &Path, url: &str) -> ChildGuard {
    let child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(media)
        .args(["-c", "copy", "-f", "whip"])
        .arg(url)
        .stdin(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 whip starts");
    ChildGuard(child)
}

/// FFmpeg 9 publishing `media` to `url` in a loop, in real time, streams copied.
pub fn publish(ffmpeg: &Path, media: &Path, url: &str) -> ChildGuard {
    publish_announcing(ffmpeg, media, url, None)
}

/// [`publish`], announcing `codecs` (`hvc1,mp4a`) as its E-RTMP `fourCcList` in `connect`.
pub fn publish_announcing(
    ffmpeg: &Path,
    media: &Path,
    url: &str,
    codecs: Option<&str>,
) -> ChildGuard {
    let mut command = Command::new(ffmpeg);
    command
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(media)
        .args(["-c", "copy", "-f", "flv"]);
    if let Some(codecs) = codecs {
        command.args(["-rtmp_enhanced_codecs", codecs]);
    }
    let child = command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 publisher starts");
    ChildGuard(child)
}

/// What FFmpeg 9 made of a stream it read and decoded for `seconds`.
#[derive(Debug)]
pub struct Read {
    pub ok: bool,
    /// `video: hevc`, `audio: opus`… from its stream lines.
    pub codecs: Vec<String>,
    /// Lines that report decoding trouble.
    pub errors: Vec<String>,
    pub log: String,
}

/// Every E-RTMP codec FFmpeg 9 reads, as its `-rtmp_enhanced_codecs` takes them.
pub const DECODES: &str = "avc1,hvc1,av01,vp09,Opus,mp4a,.mp3,fLaC,ac-3,ec-3";

/// `ffmpeg -i URL -t SECONDS -f null -`: the codecs of the input and any decoding error. Over RTMP
/// it announces the codecs it decodes (`fourCcList`), over HTTP-FLV it lists Opus in the query
/// (`?fourCcList=Opus`), so a worker sends it Opus rather than the AAC legacy players get.
pub fn read(ffmpeg: &Path, url: &str, seconds: u32) -> Read {
    let seconds = seconds.to_string();
    let url = if url.starts_with("http") && url.contains(".flv") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}fourCcList=Opus")
    } else {
        url.to_string()
    };
    let announce: &[&str] = if url.starts_with("rtmp") {
        &["-rtmp_enhanced_codecs", DECODES]
    } else {
        &[]
    };
    let mut args: Vec<&str> = vec!["-hide_banner", "-nostats", "-rw_timeout", "10000000"];
    args.extend_from_slice(announce);
    args.extend_from_slice(&["-i", &url, "-t", &seconds, "-f", "null", "-"]);
    let (ok, _, log) = run_tool(&ffmpeg.to_string_lossy(), &args, Duration::from_secs(40));
    Read {
        ok,
        codecs: stream_codecs(&log),
        errors: log
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.contains("invalid") || l.contains("missing")
            })
            .map(str::to_string)
            .collect(),
        log,
    }
}

impl Read {
    /// Asserts FFmpeg 9 read `url` without a decoding error and found each of `codecs`
    /// (`video: hevc`, `audio: opus`) among its streams.
    pub fn assert_clean_with(&self, url: &str, codecs: &[&str]) {
        assert!(self.ok, "{url}: {}", self.log);
        assert!(
            self.errors.is_empty(),
            "{url}: {:?}\n{}",
            self.errors,
            self.log
        );
        for codec in codecs {
            assert!(
                self.codecs.iter().any(|c| c == codec),
                "{url}: no {codec} in {:?}",
                self.codecs
            );
        }
    }
}

/// [`read`], asserting FFmpeg 9 decoded it without an error and found each of `codecs`.
pub fn read_clean(ffmpeg: &Path, url: &str, seconds: u32, codecs: &[&str]) -> Read {
    let read = read(ffmpeg, url, seconds);
    read.assert_clean_with(url, codecs);
    read
}

/// `Stream #0:1: Audio: opus, 48000 Hz…` → `audio: opus`, for the input's streams only.
pub fn stream_codecs(log: &str) -> Vec<String> {
    let input = log.split("Output #0").next().unwrap_or(log);
    let mut codecs: Vec<String> = input
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Stream #"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(": ")?;
            let (kind, rest) = rest.split_once(": ")?;
            let codec = rest.split([',', ' ']).next()?;
            Some(format!("{}: {codec}", kind.to_ascii_lowercase()))
        })
        .collect();
    codecs.sort();
    codecs
}
