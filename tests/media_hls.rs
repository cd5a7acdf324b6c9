//! The HLS segmenter against real tools: ffmpeg makes an FLV, our reader and segmenter turn it into
//! segments and a playlist on disk, and ffprobe/ffmpeg must accept them.

use oryx::media::flv::{self, TagKind};
use oryx::media::hls::{HlsConfig, HlsSegmenter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FRAGMENT_MS: u64 = 2000;
const GOP_MS: u64 = 1000;

/// Inputs for ffmpeg: which lavfi sources to mux into the FLV.
#[derive(Clone, Copy)]
enum Media {
    AudioVideo,
    /// High profile with B-frames: composition time offsets, PTS ≠ DTS.
    AudioVideoBFrames,
    AudioOnly,
    VideoOnly,
}

fn make_flv(dir: &Path, media: Media) -> Vec<u8> {
    let path = dir.join("input.flv");
    let mut args: Vec<&str> = vec!["-hide_banner", "-loglevel", "error", "-y"];
    let video = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"];
    let audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"];
    let video_codec = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"];
    let audio_codec = ["-c:a", "aac"];
    match media {
        Media::AudioVideo => {
            args.extend(video);
            args.extend(audio);
            args.extend(video_codec);
            args.extend(audio_codec);
        }
        Media::AudioVideoBFrames => {
            args.extend(video);
            args.extend(audio);
            args.extend(["-c:v", "libx264", "-preset", "fast", "-profile:v", "high"]);
            args.extend(["-bf", "3", "-g", "25"]);
            args.extend(audio_codec);
        }
        Media::AudioOnly => {
            args.extend(audio);
            args.extend(audio_codec);
        }
        Media::VideoOnly => {
            args.extend(video);
            args.extend(video_codec);
        }
    }
    args.extend(["-t", "6", "-f", "flv"]);
    let status = Command::new("ffmpeg")
        .args(&args)
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg failed to make the test FLV");
    std::fs::read(&path).expect("FLV written")
}

/// Segments the FLV, writes segments and a closed playlist, returns the playlist path and durations.
fn segment_to_dir(dir: &Path, data: &[u8]) -> (PathBuf, Vec<u64>) {
    let tags = flv::read_all(data).expect("ffmpeg's FLV parses");
    assert!(tags.iter().any(|tag| tag.kind == TagKind::Script));
    let mut segmenter = HlsSegmenter::new(HlsConfig {
        stream: "cam".to_string(),
        fragment_ms: FRAGMENT_MS,
        window: 10,
    });
    for tag in &tags {
        segmenter.push(tag.kind, tag.timestamp, &tag.payload);
    }
    segmenter.end_of_stream();
    // Only audio that precedes the first video keyframe may be dropped (a segment opens on a keyframe).
    assert!(
        segmenter.stats().dropped_frames <= 2,
        "{:?}",
        segmenter.stats()
    );
    let listed = segmenter.listed();
    for segment in &listed {
        let name = segmenter.segment_name(segment.sequence);
        std::fs::write(dir.join(name), &segment.data).unwrap();
    }
    // A finished file for ffmpeg: without ENDLIST it would wait for the live playlist to grow.
    let playlist = segmenter.playlist().expect("segments exist") + "#EXT-X-ENDLIST\n";
    let path = dir.join("cam.m3u8");
    std::fs::write(&path, &playlist).unwrap();
    // Container overhead stays modest: TS headers, PES headers, ADTS, AUD, SPS/PPS and stuffing.
    let media_bytes: usize = tags
        .iter()
        .filter(|tag| tag.kind != TagKind::Script)
        .map(|tag| tag.payload.len())
        .sum();
    let ts_bytes: usize = listed.iter().map(|s| s.data.len()).sum();
    assert!(
        ts_bytes * 100 <= media_bytes * 125,
        "TS is {ts_bytes} bytes for {media_bytes} bytes of media"
    );
    (path, listed.iter().map(|s| s.duration_ms).collect())
}

fn probe_codecs(playlist: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(playlist)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut codecs: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    codecs.sort();
    // ffprobe lists each stream under its program too.
    codecs.dedup();
    codecs
}

/// Decodes everything; ffmpeg at `-v warning` prints nothing for a clean stream (no timestamp or
/// continuity complaints either).
fn decode_errors(playlist: &Path) -> String {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "warning", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn total_duration_secs(playlist: &Path) -> f64 {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(playlist)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a duration")
}

#[test]
fn audio_and_video_segments_decode_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_flv(dir.path(), Media::AudioVideo);
    let (playlist, durations) = segment_to_dir(dir.path(), &data);
    assert!(durations.len() >= 2, "{durations:?}");
    for duration in &durations {
        assert!(*duration <= FRAGMENT_MS + GOP_MS, "{durations:?}");
    }
    // Every segment but the last reaches the fragment.
    for duration in &durations[..durations.len() - 1] {
        assert!(*duration >= FRAGMENT_MS, "{durations:?}");
    }
    assert_eq!(probe_codecs(&playlist), vec!["aac", "h264"]);
    assert_eq!(decode_errors(&playlist), "");
    let total = total_duration_secs(&playlist);
    assert!((5.5..=6.5).contains(&total), "{total}");
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"), "{text}");
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    let target: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|value| value.parse().ok())
        .expect("a target duration");
    for line in text
        .lines()
        .filter_map(|line| line.strip_prefix("#EXTINF:"))
    {
        let extinf: f64 = line.trim_end_matches(',').parse().unwrap();
        assert!(extinf <= target, "{text}");
    }
}

#[test]
fn audio_only_segments_decode_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_flv(dir.path(), Media::AudioOnly);
    let (playlist, durations) = segment_to_dir(dir.path(), &data);
    assert!(durations.len() >= 2, "{durations:?}");
    for duration in &durations {
        assert!(*duration <= FRAGMENT_MS + 100, "{durations:?}");
    }
    assert_eq!(probe_codecs(&playlist), vec!["aac"]);
    assert_eq!(decode_errors(&playlist), "");
}

#[test]
fn video_only_segments_decode_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_flv(dir.path(), Media::VideoOnly);
    let (playlist, durations) = segment_to_dir(dir.path(), &data);
    assert!(durations.len() >= 2, "{durations:?}");
    for duration in &durations {
        assert!(*duration <= FRAGMENT_MS + GOP_MS, "{durations:?}");
    }
    assert_eq!(probe_codecs(&playlist), vec!["h264"]);
    assert_eq!(decode_errors(&playlist), "");
}

#[test]
fn the_reader_survives_every_truncation_of_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_flv(dir.path(), Media::AudioOnly);
    let mut segmenter = HlsSegmenter::new(HlsConfig {
        stream: "cut".to_string(),
        fragment_ms: FRAGMENT_MS,
        window: 3,
    });
    for len in (0..data.len()).step_by(997) {
        let mut reader = flv::FlvReader::new();
        reader.push(&data[..len]);
        while let Ok(Some(tag)) = reader.next_tag() {
            segmenter.push(tag.kind, tag.timestamp, &tag.payload);
        }
        assert!(reader.buffered() <= len);
    }
}

#[test]
fn b_frames_keep_their_composition_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_flv(dir.path(), Media::AudioVideoBFrames);
    let (playlist, durations) = segment_to_dir(dir.path(), &data);
    assert!(durations.len() >= 2, "{durations:?}");
    assert_eq!(probe_codecs(&playlist), vec!["aac", "h264"]);
    assert_eq!(decode_errors(&playlist), "");
    // PTS differs from DTS on some frames: the composition offsets made it into the PES headers.
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts,dts",
            "-of",
            "csv=p=0",
        ])
        .arg(&playlist)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let reordered = text
        .lines()
        .filter_map(|line| line.split_once(','))
        .filter(|(pts, dts)| pts != dts)
        .count();
    assert!(reordered > 10, "{text}");
}
