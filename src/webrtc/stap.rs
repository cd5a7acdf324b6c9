//! Fewer RTP packets per H.264 frame: the small NAL units of an Annex-B access unit become STAP-A
//! aggregates (RFC 6184 §5.7.1) before the packetizer sees them. `str0m`'s packetizer sends every
//! NAL unit in a packet of its own (it aggregates only SPS+PPS), and encoders split frames into
//! slices (x264's `-tune zerolatency` makes one slice per thread), so a 1 200-byte frame of two
//! slices cost two datagrams where FFmpeg's and browsers' packetizers send one; SRTP and `sendto`
//! are paid per datagram, for every player. A STAP-A handed to the packetizer as one "NAL unit" (type
//! 24) goes out as a single-NAL-unit packet, which is exactly an RTP STAP-A packet.

/// The largest UDP payload the WHEP engine aims for: 1 200 bytes, libwebrtc's and FFmpeg's
/// `whip` default, below every usual path MTU (1 280-byte IPv6 minimum, tunnels, PPPoE) so that no
/// datagram is fragmented, yet large enough that a 250 kbit/s stream's frames mostly fit in one.
pub const DATAGRAM_MTU: usize = 1200;

/// The RTP payload budget `str0m` packetizes to for [`DATAGRAM_MTU`]: the MTU less its SRTP
/// overhead reserve (16 bytes), rounded down to the 16-byte SRTP block. An aggregate must not
/// exceed it: a larger one would be cut into FU-A fragments, which cannot carry a STAP-A.
pub const RTP_PAYLOAD_MAX: usize = (DATAGRAM_MTU - 16) / 16 * 16;

const NAL_STAP_A: u8 = 24;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;

/// Whether a unit may join an aggregate: not one the packetizer treats itself (SPS and PPS, which
/// it sends as its own STAP-A in front of the next unit; AUD and filler, which it drops).
fn aggregatable(unit: &[u8]) -> bool {
    unit.is_empty()
        || !matches!(
            unit[0] & 0x1f,
            NAL_SPS | NAL_PPS | NAL_AUD | NAL_FILLER | NAL_STAP_A
        )
}

/// One STAP-A of `units` (two or more): the highest NRI of them, then each unit with its 16-bit
/// size.
fn stap_a(units: &[&[u8]]) -> Option<Vec<u8>> {
    let nri = units.iter().map(|u| u[0] & 0x60).max().unwrap_or(0);
    let mut out = Vec::with_capacity(1 + units.iter().map(|u| u.len() + 2).sum::<usize>());
    out.push(nri | NAL_STAP_A);
    for unit in units {
        out.extend_from_slice(&u16::try_from(unit.len()).ok()?.to_be_bytes());
        out.extend_from_slice(unit);
    }
    Some(out)
}

/// Whether `unit` is safe inside a STAP-A the packetizer reads as Annex-B: its first and last
/// bytes are not zero, so no size field next to it forms a start code (`00 00 01`) that the
/// packetizer's scan would split the aggregate at (a size is never zero, so its two bytes are not
/// both zero). Valid NAL units always pass (a header byte has a non-zero type; the last byte
/// holds the RBSP stop bit or an emulation-prevention byte); checking the edges is O(1).
fn safe_inside(unit: &[u8]) -> bool {
    unit.first().is_some_and(|b| b & 0x1f != 0) && unit.last().is_some_and(|b| *b != 0)
}

/// The access unit `units` (NAL units without start codes) as Annex-B, with runs of consecutive
/// small units aggregated into STAP-As of at most `max` bytes: the units as they were when nothing
/// aggregates (one slice, or slices too large to share a packet).
pub fn aggregate(units: &[&[u8]], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.iter().map(|u| u.len() + 4).sum::<usize>() + 16);
    let mut run: Vec<&[u8]> = Vec::new();
    let mut run_size = 1;
    let flush = |run: &mut Vec<&[u8]>, out: &mut Vec<u8>| {
        let joined = (run.len() > 1).then(|| stap_a(run)).flatten();
        match joined {
            Some(stap) => push_unit(out, &stap),
            None => run.iter().for_each(|u| push_unit(out, u)),
        }
        run.clear();
    };
    for &unit in units {
        let fits = safe_inside(unit) && aggregatable(unit) && unit.len() + 2 < max; // header + size + unit
        if !fits {
            flush(&mut run, &mut out);
            run_size = 1;
            push_unit(&mut out, unit);
            continue;
        }
        if run_size + unit.len() + 2 > max {
            flush(&mut run, &mut out);
            run_size = 1;
        }
        run.push(unit);
        run_size += unit.len() + 2;
    }
    flush(&mut run, &mut out);
    out
}

fn push_unit(out: &mut Vec<u8>, unit: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(unit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webrtc::h264::split_annexb as annexb_units;

    fn annexb(units: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for u in units {
            push_unit(&mut out, u);
        }
        out
    }

    fn slice(nal_header: u8, len: usize) -> Vec<u8> {
        let mut unit = vec![nal_header];
        unit.extend((1..len).map(|i| (i % 200) as u8 + 2));
        unit
    }

    #[test]
    fn two_small_slices_become_one_stap_a() {
        let a = slice(0x41, 500);
        let b = slice(0x01, 600);
        let out = aggregate(&[&a, &b], RTP_PAYLOAD_MAX);
        let units = annexb_units(&out);
        assert_eq!(units.len(), 1);
        let stap = units[0];
        assert_eq!(stap[0], 0x40 | 24, "highest NRI of the two, type 24");
        assert_eq!(usize::from(u16::from_be_bytes([stap[1], stap[2]])), 500);
        assert_eq!(&stap[3..503], &a[..]);
        assert_eq!(usize::from(u16::from_be_bytes([stap[503], stap[504]])), 600);
        assert_eq!(&stap[505..], &b[..]);
        assert!(stap.len() <= RTP_PAYLOAD_MAX);
    }

    #[test]
    fn slices_too_large_together_stay_apart_and_parameter_sets_pass() {
        let sps = [0x67, 0x42, 0xc0, 0x1e];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let a = slice(0x65, 700);
        let b = slice(0x65, 700);
        let c = slice(0x65, 300);
        let out = aggregate(&[&sps, &pps, &a, &b, &c], RTP_PAYLOAD_MAX);
        let units = annexb_units(&out);
        assert_eq!(units.len(), 4, "SPS, PPS, a alone, b+c aggregated");
        assert_eq!(units[0], &sps[..]);
        assert_eq!(units[1], &pps[..]);
        assert_eq!(units[2], &a[..]);
        assert_eq!(units[3][0] & 0x1f, 24);
        assert_eq!(units[3].len(), 1 + 2 + 700 + 2 + 300);
    }

    #[test]
    fn one_slice_and_large_slices_are_unchanged() {
        let a = slice(0x41, 3000);
        assert_eq!(aggregate(&[&a], RTP_PAYLOAD_MAX), annexb(&[&a]));
        let b = slice(0x41, 2000);
        assert_eq!(aggregate(&[&a, &b], RTP_PAYLOAD_MAX), annexb(&[&a, &b]));
    }

    #[test]
    fn units_with_zero_edges_are_not_aggregated() {
        let mut a = slice(0x41, 100);
        *a.last_mut().unwrap() = 0;
        let b = slice(0x41, 256);
        let out = aggregate(&[&a, &b], RTP_PAYLOAD_MAX);
        assert_eq!(out, annexb(&[&a, &b]));
        let c = [0x00, 1, 2];
        assert_eq!(aggregate(&[&b, &c], RTP_PAYLOAD_MAX), annexb(&[&b, &c]));
    }

    #[test]
    fn an_aggregate_holds_no_start_code() {
        // Sizes whose bytes are 0x01 and 0x00 next to units with small edge bytes.
        let a = slice(0x01, 256);
        let mut b = slice(0x01, 257);
        *b.last_mut().unwrap() = 1;
        let out = aggregate(&[&a, &b, &a], RTP_PAYLOAD_MAX);
        let units = annexb_units(&out);
        assert_eq!(units.len(), 1);
        assert!(!units[0]
            .windows(3)
            .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 1));
    }

    #[test]
    fn empty_and_tiny_units_never_panic() {
        let units: [&[u8]; 4] = [&[], &[0], &[0x41], &[0, 0, 1]];
        for max in [0, 1, 3, RTP_PAYLOAD_MAX] {
            let _ = aggregate(&units, max);
            let _ = aggregate(&[], max);
        }
    }
}
