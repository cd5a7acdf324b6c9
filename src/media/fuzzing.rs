//! Entry points for the media parsers' fuzz targets (`fuzz/fuzz_targets/media_*.rs`), also driven by
//! `tests/media_fuzz_smoke.rs` on stable. Each must never panic, whatever the bytes.

use super::aac::AudioSpecificConfig;
use super::avc::{self, AvcConfig, SpsInfo};
use super::flv::{FlvReader, TagKind};
use super::fmp4::{Fmp4Muxer, Fmp4Output};
use super::hls::{HlsConfig, HlsSegmenter};

/// The FLV reader, fed in two pieces; every tag it returns re-encodes to the same bytes.
pub fn flv(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut reader = FlvReader::new();
    reader.push(&data[..split]);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = reader.next_tag() {
        tags.push(tag);
    }
    reader.push(&data[split..]);
    while let Ok(Some(tag)) = reader.next_tag() {
        tags.push(tag);
    }
    for tag in tags {
        let mut out = bytes::BytesMut::new();
        super::flv::write_tag(&mut out, tag.kind, tag.timestamp, &tag.payload)
            .expect("a tag that was read fits when written");
        assert_eq!(
            out.len(),
            super::flv::TAG_HEADER_LEN + tag.payload.len() + 4
        );
    }
}

/// The AVC configuration record, SPS parser and AVCC → Annex-B conversion.
pub fn avc(data: &[u8]) {
    if let Ok(config) = AvcConfig::parse(data) {
        if let Ok(info) = config.sps_info() {
            assert!(info.width > 0 && info.height > 0);
        }
    }
    let _ = SpsInfo::parse(data);
    for length_size in 1..=4u8 {
        let mut out = Vec::new();
        let _ = avc::avcc_to_annexb(data, length_size, &mut out);
        assert!(out.len() <= data.len() * 4 + 4);
    }
}

/// The AudioSpecificConfig parser and ADTS header builder.
pub fn aac(data: &[u8]) {
    if let Ok(config) = AudioSpecificConfig::parse(data) {
        let _ = config.profile_name();
        if let Ok(header) = config.adts_header(data.len()) {
            assert_eq!(&header[..2], &[0xff, 0xf1]);
        }
    }
}

/// The segmenter on a stream of frames: each frame is `kind (1) | timestamp (4) | length (2) | payload`.
/// Memory stays bounded, segments stay whole TS packets, the playlist stays well-formed.
pub fn hls_segmenter(data: &[u8]) {
    let mut segmenter = HlsSegmenter::new(HlsConfig {
        stream: "fuzz".into(),
        fragment_ms: 500,
        window: 3,
    });
    let mut rest = data;
    while rest.len() >= 7 {
        let kind = match rest[0] % 3 {
            0 => TagKind::Audio,
            1 => TagKind::Video,
            _ => TagKind::Script,
        };
        let timestamp = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]])).min(rest.len() - 7);
        let payload = &rest[7..7 + len];
        rest = &rest[7 + len..];
        let update = segmenter.push(kind, timestamp, payload);
        if let Some(segment) = update.completed {
            assert_eq!(segment.data.len() % super::ts::PACKET_LEN, 0);
        }
        if rest.first() == Some(&0xff) {
            segmenter.end_of_stream();
        }
    }
    segmenter.end_of_stream();
    assert!(segmenter.listed().len() <= 3);
    if let Some(playlist) = segmenter.playlist() {
        assert!(playlist.starts_with("#EXTM3U\n"));
    }
}

/// The recording containers (fMP4 muxer, TS and FLV file writers) and the LL-HLS fMP4 segmenter on
/// `hls_segmenter`'s frame encoding: no panic, TS output in whole packets, the fMP4 init segment
/// before any fragment, playlists that start right.
pub fn record_muxers(data: &[u8]) {
    let mut fmp4 = Fmp4Muxer::new(300);
    let mut cmaf = super::hls::cmaf::CmafSegmenter::new(super::hls::cmaf::CmafConfig {
        stream: "f".into(),
        fragment_ms: 1000,
        window: 3,
        part_ms: Some(200),
    });
    let mut ts = super::ts_file::TsFileWriter::new();
    let mut flv = super::flv_file::FlvFileWriter::new();
    let (mut outputs, mut ts_out, mut flv_out) = (Vec::new(), Vec::new(), Vec::new());
    let mut rest = data;
    while rest.len() >= 7 {
        let kind = match rest[0] % 3 {
            0 => TagKind::Audio,
            1 => TagKind::Video,
            _ => TagKind::Script,
        };
        let timestamp = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]])).min(rest.len() - 7);
        let payload = bytes::Bytes::copy_from_slice(&rest[7..7 + len]);
        rest = &rest[7 + len..];
        fmp4.push(kind, timestamp, &payload, &mut outputs);
        ts.push(kind, timestamp, &payload, &mut ts_out);
        flv.push(kind, timestamp, &payload, &mut flv_out);
        cmaf.push(kind, timestamp, &payload);
    }
    for skip in [false, true] {
        if let Some(playlist) = cmaf.live_playlist(skip) {
            assert!(playlist.starts_with("#EXTM3U\n"));
        }
    }
    fmp4.finish(&mut outputs);
    assert_eq!(ts_out.len() % super::ts::PACKET_LEN, 0);
    if let Some(first) = outputs.first() {
        assert!(matches!(first, Fmp4Output::Init(_)));
    }
}

/// The AAC decoder the WebRTC audio transcode uses: `AudioSpecificConfig (2) | (length (2) |
/// access unit)*`. Never panics; every output is at most one frame of the configured channels.
pub fn aac_decode(data: &[u8]) {
    let Some((config, mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok(asc) = AudioSpecificConfig::parse(config) else {
        return;
    };
    let Ok(mut decoder) = super::audio::AacDecoder::new(&asc) else {
        return;
    };
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        if let Ok(pcm) = decoder.decode(&tail[..len]) {
            assert!(pcm.len() <= 2048 * decoder.channels());
        }
        rest = &tail[len..];
    }
}
