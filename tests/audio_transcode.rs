//! The WebRTC audio transcoders on real audio: Debian's ffmpeg encodes a sine to AAC, `AacToOpus`
//! turns it into Opus (decoded back by libopus, and by ffmpeg from an Ogg file we write), `OpusToAac`
//! turns that back into AAC that ffmpeg decodes without an error; the sine's frequency and the
//! duration survive.

mod common;

use std::path::Path;
use std::process::Command;

use common::fuzz::Rng;
use oryx::media::aac::AudioSpecificConfig;
use oryx::media::audio::libopus::OpusDecoder;
use oryx::media::audio::{AacToOpus, OpusFrame, OpusToAac};
use oryx::media::fuzzing;

/// A sine of `freq` Hz, `seconds` long, as AAC-LC in ADTS made by ffmpeg.
fn make_aac(dir: &Path, rate: u32, channels: u32, freq: u32, seconds: u32) -> Vec<u8> {
    let out = dir.join(format!("sine-{rate}-{channels}.aac"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={freq}:sample_rate={rate}:duration={seconds}"
        ))
        .args([
            "-ac",
            &channels.to_string(),
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "adts",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// ADTS frames → (AudioSpecificConfig, raw access units).
fn split_adts(data: &[u8]) -> (AudioSpecificConfig, Vec<Vec<u8>>) {
    let (mut frames, mut rest, mut config) = (Vec::new(), data, None);
    while rest.len() >= 7 {
        assert_eq!((rest[0], rest[1] & 0xf0), (0xff, 0xf0), "ADTS sync");
        let header = if rest[1] & 1 == 1 { 7 } else { 9 };
        let profile = (rest[2] >> 6) + 1;
        let sfi = (rest[2] >> 2) & 0x0f;
        let channels = ((rest[2] & 1) << 2) | (rest[3] >> 6);
        let len = (usize::from(rest[3] & 3) << 11)
            | (usize::from(rest[4]) << 3)
            | usize::from(rest[5] >> 5);
        let asc = (u16::from(profile) << 11) | (u16::from(sfi) << 7) | (u16::from(channels) << 3);
        config.get_or_insert(asc.to_be_bytes());
        frames.push(rest[header..len].to_vec());
        rest = &rest[len..];
    }
    (
        AudioSpecificConfig::parse(&config.unwrap()).unwrap(),
        frames,
    )
}

/// Upward zero crossings per second of one channel of interleaved samples.
fn frequency(samples: &[f32], channels: usize, rate: f64) -> f64 {
    let mono: Vec<f32> = samples.iter().step_by(channels).copied().collect();
    let ups = mono
        .windows(2)
        .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
        .count();
    ups as f64 * rate / mono.len() as f64
}

fn aac_to_opus(rate: u32, channels: u32) -> (Vec<OpusFrame>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (asc, frames) = split_adts(&make_aac(dir.path(), rate, channels, 1_000, 2));
    let mut transcoder = AacToOpus::new(&asc).expect("libopus and the AAC decoder load");
    assert_eq!(transcoder.channels(), channels as usize);
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let ts = 5_000 + i as u64 * 1024 * 1000 / u64::from(rate);
        out.extend(
            transcoder
                .push(frame, ts)
                .expect("a real AAC frame decodes"),
        );
    }
    (out, channels as usize)
}

/// The Opus frames decode with libopus to ~2 s of the 1 kHz sine, 20 ms each, timestamps in step.
fn check_opus(frames: &[OpusFrame], channels: usize) -> Vec<f32> {
    // 2 s of AAC (plus the encoder's priming frame) is about 100 frames of 20 ms.
    assert!(
        (98..=106).contains(&frames.len()),
        "{} Opus frames",
        frames.len()
    );
    assert_eq!(frames[0].ts_ms, 5_000);
    for pair in frames.windows(2) {
        assert_eq!(pair[1].ts_ms - pair[0].ts_ms, 20);
        assert_eq!(pair[0].duration_ms, 20);
    }
    let mut decoder = OpusDecoder::new(channels).unwrap();
    let mut pcm = Vec::new();
    for frame in frames {
        pcm.extend_from_slice(
            decoder
                .decode(&frame.data)
                .expect("libopus decodes our Opus"),
        );
    }
    assert_eq!(pcm.len(), frames.len() * 960 * channels);
    // Skip the codecs' start-up (priming, the encoder's look-ahead) and the tail.
    let steady = &pcm[9_600 * channels..pcm.len() - 4_800 * channels];
    let f = frequency(steady, channels, 48_000.0);
    assert!((f - 1_000.0).abs() < 10.0, "{f} Hz after AAC → Opus");
    let peak = steady.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.05, "the sine is audible: peak {peak}");
    pcm
}

/// Ogg's CRC-32 (polynomial 0x04c11db7, not reflected, RFC 3533).
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for byte in data {
        crc ^= u32::from(*byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One Ogg page holding one packet (RFC 3533; packets here are far below 255 × 255 bytes).
fn ogg_page(out: &mut Vec<u8>, packet: &[u8], granule: u64, sequence: u32, flags: u8) {
    let start = out.len();
    out.extend_from_slice(b"OggS\0");
    out.push(flags);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&0x0ea7_u32.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    out.extend_from_slice(packet);
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// Our Opus frames in an Ogg Opus file (RFC 7845), for ffmpeg/ffprobe to judge.
fn ogg_opus(frames: &[OpusFrame], channels: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut head = b"OpusHead\x01".to_vec();
    head.push(channels);
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]); // gain, mapping family 0
    ogg_page(&mut out, &head, 0, 0, 2);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"oryx");
    tags.extend_from_slice(&0u32.to_le_bytes());
    ogg_page(&mut out, &tags, 0, 1, 0);
    for (i, frame) in frames.iter().enumerate() {
        let last = i + 1 == frames.len();
        let granule = (i as u64 + 1) * 960;
        ogg_page(
            &mut out,
            &frame.data,
            granule,
            i as u32 + 2,
            if last { 4 } else { 0 },
        );
    }
    out
}

#[test]
fn aac_44k1_stereo_becomes_opus_and_back() {
    let (opus, channels) = aac_to_opus(44_100, 2);
    check_opus(&opus, channels);

    // FFmpeg decodes the Opus too (its own decoder), with no complaint and the right duration.
    let dir = tempfile::tempdir().unwrap();
    let ogg = dir.path().join("out.opus");
    std::fs::write(&ogg, ogg_opus(&opus, 2)).unwrap();
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-c:a", "opus", "-i"])
        .arg(&ogg)
        .args(["-f", "f32le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert!(
        decoded.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let pcm: Vec<f32> = decoded
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(pcm.len(), opus.len() * 960, "ffmpeg's Opus duration");
    let f = frequency(&pcm[9_600..pcm.len() - 4_800], 1, 48_000.0);
    assert!(
        (f - 1_000.0).abs() < 10.0,
        "{f} Hz in ffmpeg's decode of our Opus"
    );

    let mut back = OpusToAac::new(2, 128_000).unwrap();
    let asc = AudioSpecificConfig::parse(&back.audio_specific_config()).unwrap();
    assert_eq!(
        (asc.object_type, asc.sample_rate, asc.channel_config),
        (2, 48_000, 2)
    );
    let mut adts = Vec::new();
    let mut last_ts = None;
    for frame in &opus {
        for aac in back.push(&frame.data, frame.ts_ms).unwrap() {
            if let Some(last) = last_ts {
                assert!(aac.ts_ms > last);
            }
            last_ts = Some(aac.ts_ms);
            adts.extend_from_slice(&asc.adts_header(aac.data.len()).unwrap());
            adts.extend_from_slice(&aac.data);
        }
    }
    let file = dir.path().join("back.aac");
    std::fs::write(&file, &adts).unwrap();
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "f32le", "-ac", "1", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert!(
        decoded.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let pcm: Vec<f32> = decoded
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let seconds = pcm.len() as f64 / 48_000.0;
    assert!((1.9..2.2).contains(&seconds), "{seconds} s of AAC back");
    let f = frequency(&pcm[9_600..pcm.len() - 4_800], 1, 48_000.0);
    assert!((f - 1_000.0).abs() < 10.0, "{f} Hz after Opus → AAC");
}

/// The worker keeps one transcoder per stream in tasks that may move between threads.
#[test]
fn transcoders_are_send() {
    fn send<T: Send>() {}
    send::<AacToOpus>();
    send::<OpusToAac>();
}

#[test]
fn aac_32k_mono_becomes_opus() {
    let (opus, channels) = aac_to_opus(32_000, 1);
    check_opus(&opus, channels);
}

#[test]
fn garbage_leaves_the_transcoders_usable() {
    let dir = tempfile::tempdir().unwrap();
    let (asc, frames) = split_adts(&make_aac(dir.path(), 48_000, 2, 440, 1));
    let mut transcoder = AacToOpus::new(&asc).unwrap();
    let mut rng = Rng(0x5eed_a0d1);
    for i in 0..300 {
        let len = rng.below(3_000);
        let junk = if i % 2 == 0 {
            rng.bytes(len)
        } else {
            rng.mutate(&frames[i % frames.len()])
        };
        let _ = transcoder.push(&junk, i as u64 * 21);
    }
    // Still transcodes real frames afterwards.
    let mut produced = 0;
    for (i, frame) in frames.iter().enumerate() {
        produced += transcoder
            .push(frame, 100_000 + i as u64 * 21)
            .unwrap()
            .len();
    }
    assert!(produced >= 40, "{produced} frames after the garbage");

    let mut back = OpusToAac::new(2, 96_000).unwrap();
    for _ in 0..300 {
        let len = rng.below(1_500);
        let _ = back.push(&rng.bytes(len), 0);
    }

    // The decoder's fuzz entry on real frames, mutated.
    let mut seed = vec![0x11, 0x90]; // AAC-LC 48 kHz stereo
    for frame in frames.iter().take(8) {
        seed.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        seed.extend_from_slice(frame);
    }
    fuzzing::aac_decode(&seed);
    for _ in 0..100 {
        fuzzing::aac_decode(&rng.mutate(&seed));
    }
}
