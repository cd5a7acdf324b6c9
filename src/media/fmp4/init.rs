//! The fMP4 initialization segment: `ftyp` + `moov` (one `trak` per track with an empty sample
//! table, `mvex`/`trex` announcing that the samples come in fragments).

use super::boxes::BoxWriter;
use super::codec::{AudioCodec, AudioTrack, VideoCodec, VideoTrack};

/// Track ids are fixed, so fragments and the init segment agree whatever tracks exist.
pub const VIDEO_TRACK_ID: u32 = 1;
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video times are in 90 kHz ticks (what MPEG-TS and HLS use), audio in its sample rate.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// `mvhd`'s timescale (the movie has no duration: it is fragmented).
const MOVIE_TIMESCALE: u32 = 1000;

/// `ftyp` + `moov` for the tracks present.
pub fn init_segment(video: Option<&VideoTrack>, audio: Option<&AudioTrack>) -> Vec<u8> {
    let mut w = BoxWriter::new();
    w.begin(b"ftyp");
    w.bytes(b"iso5");
    w.u32(512);
    for brand in [b"iso5", b"iso6", b"mp41", b"avc1"] {
        w.bytes(brand);
    }
    w.end();
    w.begin(b"moov");
    mvhd(&mut w);
    if let Some(video) = video {
        trak(&mut w, Track::Video(video));
    }
    if let Some(audio) = audio {
        trak(&mut w, Track::Audio(audio));
    }
    w.begin(b"mvex");
    for id in [video.map(|_| VIDEO_TRACK_ID), audio.map(|_| AUDIO_TRACK_ID)]
        .into_iter()
        .flatten()
    {
        w.begin_full(b"trex", 0, 0);
        w.u32(id);
        w.u32(1); // default_sample_description_index
        w.u32(0); // default_sample_duration
        w.u32(0); // default_sample_size
        w.u32(0); // default_sample_flags
        w.end();
    }
    w.end();
    w.end();
    w.finish()
}

enum Track<'a> {
    Video(&'a VideoTrack),
    Audio(&'a AudioTrack),
}

fn mvhd(w: &mut BoxWriter) {
    w.begin_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(MOVIE_TIMESCALE);
    w.u32(0); // duration: unknown, the samples are in fragments
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.matrix();
    w.zeros(24); // pre_defined
    w.u32(AUDIO_TRACK_ID + 1); // next_track_ID
    w.end();
}

fn trak(w: &mut BoxWriter, track: Track<'_>) {
    let (id, timescale, handler, name): (u32, u32, &[u8; 4], &[u8]) = match &track {
        Track::Video(_) => (VIDEO_TRACK_ID, VIDEO_TIMESCALE, b"vide", b"VideoHandler\0"),
        Track::Audio(a) => (AUDIO_TRACK_ID, a.timescale(), b"soun", b"SoundHandler\0"),
    };
    w.begin(b"trak");
    w.begin_full(b"tkhd", 0, 3); // enabled, in movie
    w.u32(0);
    w.u32(0);
    w.u32(id);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if matches!(track, Track::Audio(_)) {
        0x0100
    } else {
        0
    });
    w.u16(0);
    w.matrix();
    let (width, height) = match &track {
        Track::Video(v) => (v.width.min(0xffff), v.height.min(0xffff)),
        Track::Audio(_) => (0, 0),
    };
    w.u32(width << 16);
    w.u32(height << 16);
    w.end();
    w.begin(b"mdia");
    w.begin_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(timescale);
    w.u32(0);
    w.u16(0x55c4); // language "und"
    w.u16(0);
    w.end();
    w.begin_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(handler);
    w.zeros(12);
    w.bytes(name);
    w.end();
    w.begin(b"minf");
    match &track {
        Track::Video(_) => {
            w.begin_full(b"vmhd", 0, 1);
            w.zeros(8);
            w.end();
        }
        Track::Audio(_) => {
            w.begin_full(b"smhd", 0, 0);
            w.zeros(4);
            w.end();
        }
    }
    w.begin(b"dinf");
    w.begin_full(b"dref", 0, 0);
    w.u32(1);
    w.begin_full(b"url ", 0, 1); // the media is in this file
    w.end();
    w.end();
    w.end();
    stbl(w, &track);
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak
}

fn stbl(w: &mut BoxWriter, track: &Track<'_>) {
    w.begin(b"stbl");
    w.begin_full(b"stsd", 0, 0);
    w.u32(1);
    match track {
        Track::Video(v) => visual_entry(w, v),
        Track::Audio(a) if a.codec == AudioCodec::Opus => opus_entry(w, a),
        Track::Audio(a) => mp4a(w, a),
    }
    w.end();
    for fourcc in [b"stts", b"stsc", b"stco"] {
        w.begin_full(fourcc, 0, 0);
        w.u32(0); // entry_count
        w.end();
    }
    w.begin_full(b"stsz", 0, 0);
    w.u32(0); // sample_size
    w.u32(0); // sample_count
    w.end();
    w.end();
}

/// The visual sample entry of `video`'s codec around its configuration record.
fn visual_entry(w: &mut BoxWriter, video: &VideoTrack) {
    let (entry, config) = match video.codec {
        VideoCodec::Avc => (b"avc1", b"avcC"),
        VideoCodec::Hevc => (b"hvc1", b"hvcC"),
        VideoCodec::Av1 => (b"av01", b"av1C"),
        // E-RTMP's vp09 record is the whole vpcC body, version and flags included.
        VideoCodec::Vp9 => (b"vp09", b"vpcC"),
    };
    w.begin(entry);
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved
    w.u16(video.width.min(0xffff) as u16);
    w.u16(video.height.min(0xffff) as u16);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined -1
    w.begin(config);
    w.bytes(&video.config);
    w.end();
    w.end();
}

fn mp4a(w: &mut BoxWriter, audio: &AudioTrack) {
    w.begin(b"mp4a");
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(audio.channels.max(1));
    w.u16(16); // samplesize
    w.u16(0);
    w.u16(0);
    // 16.16 fixed point; rates above 65535 Hz do not fit and are left to the ASC.
    w.u32(if audio.sample_rate <= 0xffff {
        audio.sample_rate << 16
    } else {
        0
    });
    esds(w, audio);
    w.end();
}

/// `Opus` + `dOps` (the Opus-in-ISOBMFF mapping): the OpusHead's fields, big-endian.
fn opus_entry(w: &mut BoxWriter, audio: &AudioTrack) {
    w.begin(b"Opus");
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(audio.channels.max(1));
    w.u16(16);
    w.u16(0);
    w.u16(0);
    w.u32(48_000 << 16);
    // A head short of its 19 fixed bytes (never from the muxer, which checks it) reads as zeros.
    let mut head = audio.config.to_vec();
    if head.len() < 19 {
        head.resize(19, 0);
    }
    let le16 = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
    w.begin(b"dOps");
    w.bytes(&[0, head[9]]); // version, OutputChannelCount
    w.u16(le16(10)); // PreSkip
    w.u32(u32::from_le_bytes([head[12], head[13], head[14], head[15]]));
    w.u16(le16(16)); // OutputGain
    w.bytes(&[head[18]]); // ChannelMappingFamily
    if head[18] != 0 {
        // StreamCount, CoupledCount, ChannelMapping: as the OpusHead has them (when complete).
        let table = 19..(21 + usize::from(head[9])).min(head.len());
        w.bytes(&head[table]);
    }
    w.end();
    w.end();
}

/// The MPEG-4 elementary stream descriptor around the AudioSpecificConfig.
fn esds(w: &mut BoxWriter, audio: &AudioTrack) {
    let asc = &audio.config[..audio.config.len().min(0xff)];
    let decoder_specific = descriptor(5, asc);
    let mut config = vec![0x40, 0x15]; // MPEG-4 audio; audio stream, upstream 0, reserved 1
    config.extend_from_slice(&[0, 0, 0]); // bufferSizeDB
    config.extend_from_slice(&0u32.to_be_bytes()); // maxBitrate
    config.extend_from_slice(&0u32.to_be_bytes()); // avgBitrate
    config.extend_from_slice(&decoder_specific);
    let mut es = AUDIO_TRACK_ID.to_be_bytes()[2..].to_vec(); // ES_ID
    es.push(0); // flags
    es.extend_from_slice(&descriptor(4, &config));
    es.extend_from_slice(&descriptor(6, &[0x02])); // SLConfig: predefined MP4
    w.begin_full(b"esds", 0, 0);
    w.bytes(&descriptor(3, &es));
    w.end();
}

/// A descriptor: tag, the length in the 7-bits-per-byte form, the body.
fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![tag];
    let mut shift = 21;
    while shift > 0 && len >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.push(0x80 | (len >> shift) as u8 & 0x7f);
        shift -= 7;
    }
    out.push(len as u8 & 0x7f);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn descriptor_lengths_use_seven_bit_groups() {
        assert_eq!(descriptor(5, &[1, 2]), vec![5, 2, 1, 2]);
        let long = descriptor(4, &[0; 200]);
        assert_eq!(&long[..3], &[4, 0x81, 0x48]);
        assert_eq!(long.len(), 203);
    }

    #[test]
    fn init_has_a_trak_per_track_and_a_trex_each() {
        let video = VideoTrack {
            codec: VideoCodec::Avc,
            config: Bytes::from_static(&[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0]),
            width: 320,
            height: 240,
        };
        let audio = AudioTrack {
            codec: AudioCodec::Aac,
            config: Bytes::from_static(&[0x12, 0x10]),
            sample_rate: 44_100,
            channels: 2,
        };
        let both = init_segment(Some(&video), Some(&audio));
        let count = |data: &[u8], fourcc: &[u8]| data.windows(4).filter(|w| *w == fourcc).count();
        assert_eq!(&both[4..8], b"ftyp");
        assert_eq!(count(&both, b"trak"), 2);
        assert_eq!(count(&both, b"trex"), 2);
        assert_eq!(count(&both, b"avcC"), 1);
        assert_eq!(count(&both, b"esds"), 1);
        let audio_only = init_segment(None, Some(&audio));
        assert_eq!(count(&audio_only, b"trak"), 1);
        assert_eq!(count(&audio_only, b"avcC"), 0);
    }
}
