//! Enhanced RTMP (Veovera E-RTMP v1/v2) tag headers, sans-IO: the ExVideoTagHeader and
//! ExAudioTagHeader parsed from an FLV tag body (= RTMP message body) and written back. Packet types,
//! ModEx prefixes (read and skipped), multitrack (the first track is what the worker looks at) and
//! the FourCCs of the codecs. Bad input is an error, never a panic.

use std::ops::Range;
use thiserror::Error;

/// Bit 7 of a video tag's first byte: an ExVideoTagHeader follows.
pub const VIDEO_EX_HEADER_FLAG: u8 = 0x80;
/// The sound format (high nibble of an audio tag's first byte) that means ExAudioTagHeader.
pub const AUDIO_EX_HEADER_FORMAT: u8 = 9;
/// The video frame type of a command frame (no video data, a command byte instead).
pub const FRAME_TYPE_COMMAND: u8 = 5;
/// The video frame type of a key frame.
pub const FRAME_TYPE_KEY: u8 = 1;
/// The video frame type of an inter frame.
pub const FRAME_TYPE_INTER: u8 = 2;

/// Packet type values both headers use for their escapes.
const PACKET_MULTITRACK_VIDEO: u8 = 6;
const PACKET_MULTITRACK_AUDIO: u8 = 5;
const PACKET_MOD_EX: u8 = 7;

/// A four-character codec code as it travels on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const AVC1: FourCc = FourCc(*b"avc1");
    pub const HVC1: FourCc = FourCc(*b"hvc1");
    pub const AV01: FourCc = FourCc(*b"av01");
    pub const VP09: FourCc = FourCc(*b"vp09");
    pub const VP08: FourCc = FourCc(*b"vp08");
    pub const VVC1: FourCc = FourCc(*b"vvc1");
    pub const OPUS: FourCc = FourCc(*b"Opus");
    pub const MP4A: FourCc = FourCc(*b"mp4a");
    pub const AC3: FourCc = FourCc(*b"ac-3");
    pub const EC3: FourCc = FourCc(*b"ec-3");
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    pub const MP3: FourCc = FourCc(*b".mp3");

    /// Video codecs the spec defines (what a publisher may send).
    pub const VIDEO: [FourCc; 6] = [
        FourCc::AVC1,
        FourCc::HVC1,
        FourCc::AV01,
        FourCc::VP09,
        FourCc::VP08,
        FourCc::VVC1,
    ];
    /// Audio codecs the spec defines.
    pub const AUDIO: [FourCc; 6] = [
        FourCc::OPUS,
        FourCc::MP4A,
        FourCc::AC3,
        FourCc::EC3,
        FourCc::FLAC,
        FourCc::MP3,
    ];

    /// The code as text (lossy for non-ASCII bytes).
    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    fn read(data: &[u8], pos: &mut usize) -> Result<FourCc, ErtmpError> {
        let bytes = take(data, pos, 4)?;
        Ok(FourCc([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// What a video message carries (after ModEx and multitrack escapes are resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacketType {
    /// The codec's configuration record (hvcC, av1C, vpcC, avcC).
    SequenceStart,
    /// Coded frames; AVC, HEVC and VVC carry a composition time first.
    CodedFrames,
    SequenceEnd,
    /// Coded frames with a composition time of zero (not on the wire).
    CodedFramesX,
    /// AMF-encoded video metadata (`colorInfo`).
    Metadata,
    /// An AV1 video descriptor for carriage in MPEG-2 TS.
    Mpeg2TsSequenceStart,
}

impl VideoPacketType {
    fn from_nibble(value: u8) -> Result<VideoPacketType, ErtmpError> {
        Ok(match value {
            0 => VideoPacketType::SequenceStart,
            1 => VideoPacketType::CodedFrames,
            2 => VideoPacketType::SequenceEnd,
            3 => VideoPacketType::CodedFramesX,
            4 => VideoPacketType::Metadata,
            5 => VideoPacketType::Mpeg2TsSequenceStart,
            other => return Err(ErtmpError::ReservedPacketType(other)),
        })
    }

    fn nibble(self) -> u8 {
        match self {
            VideoPacketType::SequenceStart => 0,
            VideoPacketType::CodedFrames => 1,
            VideoPacketType::SequenceEnd => 2,
            VideoPacketType::CodedFramesX => 3,
            VideoPacketType::Metadata => 4,
            VideoPacketType::Mpeg2TsSequenceStart => 5,
        }
    }
}

/// What an audio message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPacketType {
    /// The codec's configuration (AudioSpecificConfig, OpusHead, FLAC STREAMINFO…).
    SequenceStart,
    CodedFrames,
    SequenceEnd,
    /// The channel order and count, for codecs that do not describe it themselves.
    MultichannelConfig,
}

impl AudioPacketType {
    fn from_nibble(value: u8) -> Result<AudioPacketType, ErtmpError> {
        Ok(match value {
            0 => AudioPacketType::SequenceStart,
            1 => AudioPacketType::CodedFrames,
            2 => AudioPacketType::SequenceEnd,
            4 => AudioPacketType::MultichannelConfig,
            other => return Err(ErtmpError::ReservedPacketType(other)),
        })
    }

    fn nibble(self) -> u8 {
        match self {
            AudioPacketType::SequenceStart => 0,
            AudioPacketType::CodedFrames => 1,
            AudioPacketType::SequenceEnd => 2,
            AudioPacketType::MultichannelConfig => 4,
        }
    }
}

/// How a multitrack message lays out its tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultitrackType {
    /// One track, no size field.
    OneTrack,
    /// Several tracks of one codec, each with a 24-bit size.
    ManyTracks,
    /// Several tracks, each with its own FourCC and size.
    ManyTracksManyCodecs,
}

impl MultitrackType {
    fn from_nibble(value: u8) -> Result<MultitrackType, ErtmpError> {
        Ok(match value {
            0 => MultitrackType::OneTrack,
            1 => MultitrackType::ManyTracks,
            2 => MultitrackType::ManyTracksManyCodecs,
            other => return Err(ErtmpError::ReservedMultitrackType(other)),
        })
    }

    fn nibble(self) -> u8 {
        match self {
            MultitrackType::OneTrack => 0,
            MultitrackType::ManyTracks => 1,
            MultitrackType::ManyTracksManyCodecs => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErtmpError {
    #[error("not an enhanced RTMP tag")]
    NotEnhanced,
    #[error("enhanced RTMP header is truncated")]
    Truncated,
    #[error("enhanced RTMP packet type {0} is reserved")]
    ReservedPacketType(u8),
    #[error("enhanced RTMP multitrack type {0} is reserved")]
    ReservedMultitrackType(u8),
    #[error("a multitrack message nests another multitrack")]
    NestedMultitrack,
    #[error("track size {size} exceeds the {available} bytes left")]
    TrackOverrun { size: usize, available: usize },
    #[error("FourCC {0:?} is not a codec of the enhanced RTMP spec")]
    UnknownFourCc(String),
}

/// A parsed ExVideoTagHeader, with where the first track's codec data lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExVideoHeader {
    pub frame_type: u8,
    pub packet_type: VideoPacketType,
    /// The first track's codec.
    pub fourcc: FourCc,
    pub multitrack: Option<MultitrackType>,
    /// The first track's id (0 without multitrack).
    pub track_id: u8,
    /// Milliseconds; zero for CodedFramesX and codecs without the field.
    pub composition_time: i32,
    /// The command byte of a command frame (which has no FourCC or body).
    pub command: Option<u8>,
    /// The first track's codec data (after its composition time), as a range of the tag body.
    pub body: Range<usize>,
}

/// A parsed ExAudioTagHeader, with where the first track's codec data lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExAudioHeader {
    pub packet_type: AudioPacketType,
    pub fourcc: FourCc,
    pub multitrack: Option<MultitrackType>,
    pub track_id: u8,
    pub body: Range<usize>,
}

/// Whether a video tag body uses the ExVideoTagHeader.
pub fn is_ex_video(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b| b & VIDEO_EX_HEADER_FLAG != 0)
}

/// Whether an audio tag body uses the ExAudioTagHeader.
pub fn is_ex_audio(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b| b >> 4 == AUDIO_EX_HEADER_FORMAT)
}

fn take<'a>(data: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], ErtmpError> {
    let end = pos
        .checked_add(len)
        .filter(|end| *end <= data.len())
        .ok_or(ErtmpError::Truncated)?;
    let slice = &data[*pos..end];
    *pos = end;
    Ok(slice)
}

fn byte(data: &[u8], pos: &mut usize) -> Result<u8, ErtmpError> {
    Ok(take(data, pos, 1)?[0])
}

/// Skips ModEx prefixes (their data, e.g. a nanosecond timestamp offset, is not needed to pass a
/// message on) and returns the packet type that follows them.
fn skip_mod_ex(data: &[u8], pos: &mut usize, mut packet_type: u8) -> Result<u8, ErtmpError> {
    while packet_type == PACKET_MOD_EX {
        let mut size = usize::from(byte(data, pos)?) + 1;
        if size == 256 {
            let wide = take(data, pos, 2)?;
            size = usize::from(u16::from_be_bytes([wide[0], wide[1]])) + 1;
        }
        take(data, pos, size)?;
        packet_type = byte(data, pos)? & 0x0f;
    }
    Ok(packet_type)
}

/// Reads a multitrack prefix; returns the layout, the packet type of every track and the shared
/// FourCC (none for many codecs).
fn multitrack_prefix(
    data: &[u8],
    pos: &mut usize,
    multitrack_packet: u8,
) -> Result<(MultitrackType, u8, Option<FourCc>), ErtmpError> {
    let b = byte(data, pos)?;
    let layout = MultitrackType::from_nibble(b >> 4)?;
    let packet_type = b & 0x0f;
    if packet_type == multitrack_packet {
        return Err(ErtmpError::NestedMultitrack);
    }
    let shared = match layout {
        MultitrackType::ManyTracksManyCodecs => None,
        _ => Some(FourCc::read(data, pos)?),
    };
    Ok((layout, packet_type, shared))
}

/// Reads the first track's own header; returns its FourCC, id and where its data ends.
fn first_track(
    data: &[u8],
    pos: &mut usize,
    layout: MultitrackType,
    shared: Option<FourCc>,
) -> Result<(FourCc, u8, usize), ErtmpError> {
    let fourcc = match shared {
        Some(fourcc) => fourcc,
        None => FourCc::read(data, pos)?,
    };
    let track_id = byte(data, pos)?;
    let end = if layout == MultitrackType::OneTrack {
        data.len()
    } else {
        let size = take(data, pos, 3)?;
        let size = usize::from(size[0]) << 16 | usize::from(size[1]) << 8 | usize::from(size[2]);
        let available = data.len() - *pos;
        if size > available {
            return Err(ErtmpError::TrackOverrun { size, available });
        }
        *pos + size
    };
    Ok((fourcc, track_id, end))
}

fn check_fourcc(fourcc: FourCc, known: &[FourCc]) -> Result<FourCc, ErtmpError> {
    if known.contains(&fourcc) {
        Ok(fourcc)
    } else {
        Err(ErtmpError::UnknownFourCc(fourcc.as_str()))
    }
}

/// Whether coded frames of `fourcc` start with a 24-bit composition time.
fn has_composition_time(fourcc: FourCc) -> bool {
    matches!(fourcc, FourCc::AVC1 | FourCc::HVC1 | FourCc::VVC1)
}

/// Parses the ExVideoTagHeader of a video tag body.
pub fn parse_video(payload: &[u8]) -> Result<ExVideoHeader, ErtmpError> {
    let first = *payload.first().ok_or(ErtmpError::Truncated)?;
    if first & VIDEO_EX_HEADER_FLAG == 0 {
        return Err(ErtmpError::NotEnhanced);
    }
    let frame_type = (first >> 4) & 0x07;
    let mut pos = 1;
    let mut packet = skip_mod_ex(payload, &mut pos, first & 0x0f)?;
    if packet != 4 && frame_type == FRAME_TYPE_COMMAND {
        let command = byte(payload, &mut pos)?;
        return Ok(ExVideoHeader {
            frame_type,
            packet_type: VideoPacketType::from_nibble(packet)
                .unwrap_or(VideoPacketType::CodedFrames),
            fourcc: FourCc([0; 4]),
            multitrack: None,
            track_id: 0,
            composition_time: 0,
            command: Some(command),
            body: pos..pos,
        });
    }
    let (multitrack, fourcc, track_id, end) = if packet == PACKET_MULTITRACK_VIDEO {
        let (layout, inner, shared) =
            multitrack_prefix(payload, &mut pos, PACKET_MULTITRACK_VIDEO)?;
        packet = inner;
        let (fourcc, id, end) = first_track(payload, &mut pos, layout, shared)?;
        (Some(layout), fourcc, id, end)
    } else {
        (None, FourCc::read(payload, &mut pos)?, 0, payload.len())
    };
    let fourcc = check_fourcc(fourcc, &FourCc::VIDEO)?;
    let packet_type = VideoPacketType::from_nibble(packet)?;
    let mut composition_time = 0;
    if packet_type == VideoPacketType::CodedFrames && has_composition_time(fourcc) {
        let ct = take(&payload[..end], &mut pos, 3)?;
        // SI24: sign-extend from bit 23.
        composition_time =
            (i32::from(ct[0]) << 24 | i32::from(ct[1]) << 16 | i32::from(ct[2]) << 8) >> 8;
    }
    Ok(ExVideoHeader {
        frame_type,
        packet_type,
        fourcc,
        multitrack,
        track_id,
        composition_time,
        command: None,
        body: pos..end,
    })
}

/// Parses the ExAudioTagHeader of an audio tag body.
pub fn parse_audio(payload: &[u8]) -> Result<ExAudioHeader, ErtmpError> {
    let first = *payload.first().ok_or(ErtmpError::Truncated)?;
    if first >> 4 != AUDIO_EX_HEADER_FORMAT {
        return Err(ErtmpError::NotEnhanced);
    }
    let mut pos = 1;
    let mut packet = skip_mod_ex(payload, &mut pos, first & 0x0f)?;
    let (multitrack, fourcc, track_id, end) = if packet == PACKET_MULTITRACK_AUDIO {
        let (layout, inner, shared) =
            multitrack_prefix(payload, &mut pos, PACKET_MULTITRACK_AUDIO)?;
        packet = inner;
        let (fourcc, id, end) = first_track(payload, &mut pos, layout, shared)?;
        (Some(layout), fourcc, id, end)
    } else {
        (None, FourCc::read(payload, &mut pos)?, 0, payload.len())
    };
    Ok(ExAudioHeader {
        packet_type: AudioPacketType::from_nibble(packet)?,
        fourcc: check_fourcc(fourcc, &FourCc::AUDIO)?,
        multitrack,
        track_id,
        body: pos..end,
    })
}

/// Checks a video tag body: legacy tags pass, an E-RTMP header must parse (known FourCC, defined
/// packet type, tracks within the message).
pub fn check_video(payload: &[u8]) -> Result<(), ErtmpError> {
    if is_ex_video(payload) {
        parse_video(payload)?;
    }
    Ok(())
}

/// Checks an audio tag body: legacy tags pass, an E-RTMP header must parse.
pub fn check_audio(payload: &[u8]) -> Result<(), ErtmpError> {
    if is_ex_audio(payload) {
        parse_audio(payload)?;
    }
    Ok(())
}

/// Appends a single-track ExVideoTagHeader (and the composition time where the codec has one)
/// followed by `body`.
pub fn write_video(
    out: &mut Vec<u8>,
    frame_type: u8,
    packet_type: VideoPacketType,
    fourcc: FourCc,
    composition_time: i32,
    body: &[u8],
) {
    out.push(VIDEO_EX_HEADER_FLAG | (frame_type & 0x07) << 4 | packet_type.nibble());
    out.extend_from_slice(&fourcc.0);
    if packet_type == VideoPacketType::CodedFrames && has_composition_time(fourcc) {
        out.extend_from_slice(&composition_time.to_be_bytes()[1..]);
    }
    out.extend_from_slice(body);
}

/// Appends a multitrack video message with one codec for every track: `(track id, codec data)`
/// (the data of coded frames includes its composition time where the codec has one).
pub fn write_video_multitrack(
    out: &mut Vec<u8>,
    frame_type: u8,
    packet_type: VideoPacketType,
    fourcc: FourCc,
    tracks: &[(u8, &[u8])],
) {
    let layout = if tracks.len() == 1 {
        MultitrackType::OneTrack
    } else {
        MultitrackType::ManyTracks
    };
    out.push(VIDEO_EX_HEADER_FLAG | (frame_type & 0x07) << 4 | PACKET_MULTITRACK_VIDEO);
    out.push(layout.nibble() << 4 | packet_type.nibble());
    out.extend_from_slice(&fourcc.0);
    write_tracks(out, layout, tracks);
}

/// Appends a single-track ExAudioTagHeader followed by `body`.
pub fn write_audio(out: &mut Vec<u8>, packet_type: AudioPacketType, fourcc: FourCc, body: &[u8]) {
    out.push(AUDIO_EX_HEADER_FORMAT << 4 | packet_type.nibble());
    out.extend_from_slice(&fourcc.0);
    out.extend_from_slice(body);
}

/// Appends a multitrack audio message with one codec for every track.
pub fn write_audio_multitrack(
    out: &mut Vec<u8>,
    packet_type: AudioPacketType,
    fourcc: FourCc,
    tracks: &[(u8, &[u8])],
) {
    let layout = if tracks.len() == 1 {
        MultitrackType::OneTrack
    } else {
        MultitrackType::ManyTracks
    };
    out.push(AUDIO_EX_HEADER_FORMAT << 4 | PACKET_MULTITRACK_AUDIO);
    out.push(layout.nibble() << 4 | packet_type.nibble());
    out.extend_from_slice(&fourcc.0);
    write_tracks(out, layout, tracks);
}

fn write_tracks(out: &mut Vec<u8>, layout: MultitrackType, tracks: &[(u8, &[u8])]) {
    for (id, data) in tracks {
        out.push(*id);
        if layout != MultitrackType::OneTrack {
            let size = (data.len().min(0x00ff_ffff) as u32).to_be_bytes();
            out.extend_from_slice(&size[1..]);
        }
        out.extend_from_slice(data);
    }
}

#[cfg(test)]
#[path = "ertmp_tests.rs"]
mod tests;
