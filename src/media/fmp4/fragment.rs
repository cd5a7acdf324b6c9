//! One fMP4 fragment: `moof` (`mfhd`, then per track a `traf` with `tfhd`, `tfdt` and a `trun`
//! listing every sample's duration, size, flags and composition offset) followed by its `mdat`.

use super::boxes::BoxWriter;
use bytes::Bytes;

/// `trun` flags: data-offset, then per sample duration, size, flags and composition offset.
const TRUN_DATA_OFFSET: u32 = 0x000001;
const TRUN_DURATION: u32 = 0x000100;
const TRUN_SIZE: u32 = 0x000200;
const TRUN_FLAGS: u32 = 0x000400;
const TRUN_COMPOSITION: u32 = 0x000800;
/// `tfhd`: offsets are relative to the start of the `moof`.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x020000;
/// `sample_flags` of a sync sample (depends on no other) and of a dependent, non-sync one.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One sample: its data (for H.264, length-prefixed NAL units as in `avcC`), decode duration in the
/// track's timescale, presentation offset and whether it is a sync sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub data: Bytes,
    pub duration: u32,
    pub composition_offset: i32,
    pub sync: bool,
}

/// The samples of one track in one fragment, starting at `base_decode_time`.
#[derive(Debug, Clone, Copy)]
pub struct TrackRun<'a> {
    pub track_id: u32,
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
    /// Video: per-sample flags and composition offsets are written; audio samples are all sync.
    pub video: bool,
}

/// `moof` + `mdat` for the runs with samples (an empty run is left out).
pub fn fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Vec<u8> {
    let runs: Vec<&TrackRun<'_>> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let mut w = BoxWriter::new();
    w.begin(b"moof");
    w.begin_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end();
    // Where each trun's data_offset goes, patched once the moof's size is known.
    let mut offset_slots = Vec::with_capacity(runs.len());
    for run in &runs {
        w.begin(b"traf");
        w.begin_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
        w.u32(run.track_id);
        w.end();
        w.begin_full(b"tfdt", 1, 0);
        w.u64(run.base_decode_time);
        w.end();
        let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE;
        if run.video {
            flags |= TRUN_FLAGS | TRUN_COMPOSITION;
        }
        // Version 1: signed composition offsets.
        w.begin_full(b"trun", 1, flags);
        w.u32(run.samples.len() as u32);
        offset_slots.push(w.position());
        w.i32(0);
        for sample in run.samples {
            w.u32(sample.duration);
            w.u32(sample.data.len() as u32);
            if run.video {
                w.u32(if sample.sync {
                    SYNC_SAMPLE
                } else {
                    NON_SYNC_SAMPLE
                });
                w.i32(sample.composition_offset);
            }
        }
        w.end();
        w.end();
    }
    w.end(); // moof
    let moof_len = w.position();
    let mut data_offset = moof_len + 8;
    for (run, slot) in runs.iter().zip(offset_slots) {
        w.patch_u32(slot, data_offset as u32);
        data_offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let mdat_len = data_offset - moof_len;
    w.buf.reserve(mdat_len);
    w.u32(mdat_len as u32);
    w.bytes(b"mdat");
    for run in &runs {
        for sample in run.samples {
            w.bytes(&sample.data);
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_offsets_point_into_the_mdat() {
        let video = [
            Sample {
                data: Bytes::from_static(b"KEYF"),
                duration: 3600,
                composition_offset: 0,
                sync: true,
            },
            Sample {
                data: Bytes::from_static(b"P"),
                duration: 3600,
                composition_offset: -10,
                sync: false,
            },
        ];
        let audio = [Sample {
            data: Bytes::from_static(b"AA"),
            duration: 1024,
            composition_offset: 0,
            sync: true,
        }];
        let out = fragment(
            7,
            &[
                TrackRun {
                    track_id: 1,
                    base_decode_time: 0,
                    samples: &video,
                    video: true,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: 5,
                    samples: &audio,
                    video: false,
                },
            ],
        );
        let moof_len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(&out[4..8], b"moof");
        assert_eq!(&out[moof_len + 4..moof_len + 8], b"mdat");
        assert_eq!(&out[moof_len + 8..], b"KEYFPAA");
        // The trun data offsets, in order: video's then audio's.
        let truns: Vec<usize> = out
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"trun")
            .map(|(i, _)| i)
            .collect();
        let offset = |trun: usize| {
            u32::from_be_bytes(out[trun + 12..trun + 16].try_into().unwrap()) as usize
        };
        assert_eq!(offset(truns[0]), moof_len + 8);
        assert_eq!(offset(truns[1]), moof_len + 8 + 5);
    }
}
