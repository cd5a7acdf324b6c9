//! Stream affinity: rendezvous (highest random weight) hashing of `vhost/app/stream` over workers.
//!
//! Every LB process and `oryx plan --route` compute the same ranking from the same inputs, with no
//! shared state; adding or removing a worker moves only the streams whose top choice changed (~1/N).

/// The key is the stream identity's (`crate::stream_name`); named here too for the callers that
/// rank streams.
pub use crate::stream_name::{stream_key, DEFAULT_VHOST};

/// Parse `VHOST/APP/STREAM` or `APP/STREAM` (default vhost) into a routing key.
pub fn parse_route(spec: &str) -> Option<String> {
    let parts: Vec<&str> = spec.split('/').collect();
    match parts.as_slice() {
        [app, stream] if !app.is_empty() && !stream.is_empty() => {
            Some(stream_key(DEFAULT_VHOST, app, stream))
        }
        [vhost, app, stream] if !app.is_empty() && !stream.is_empty() => {
            Some(stream_key(vhost, app, stream))
        }
        _ => None,
    }
}

/// The weight of `worker` for `key`: a stable 64-bit hash (FNV-1a, then a splitmix64 finaliser for
/// avalanche), identical across processes, platforms and releases.
pub fn weight(worker: &str, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in worker.bytes().chain([0u8]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Workers ranked for `key`, best first: the first healthy one serves, the rest are the fallback order.
pub fn rank<'a, S: AsRef<str>>(key: &str, workers: &'a [S]) -> Vec<&'a str> {
    let mut ranked: Vec<&str> = workers.iter().map(AsRef::as_ref).collect();
    // Ties are astronomically unlikely; break them by name so the order is still total.
    ranked.sort_by(|a, b| weight(b, key).cmp(&weight(a, key)).then_with(|| a.cmp(b)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_is_deterministic_and_complete() {
        let workers = ["live-0", "live-1", "live-2"];
        let key = stream_key("", "live", "foo");
        assert_eq!(key, "__defaultVhost__/live/foo");
        let a = rank(&key, &workers);
        let b = rank(&key, &workers);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, workers);
    }

    #[test]
    fn adding_a_worker_moves_about_one_in_n_streams() {
        let three = ["w-0", "w-1", "w-2"];
        let four = ["w-0", "w-1", "w-2", "w-3"];
        let keys: Vec<String> = (0..4000)
            .map(|i| stream_key("", "live", &format!("s{i}")))
            .collect();
        let moved = keys
            .iter()
            .filter(|k| rank(k, &three)[0] != rank(k, &four)[0])
            .count();
        // Only streams whose new top choice is w-3 move: ~1/4 of them.
        assert!((800..1200).contains(&moved), "moved {moved}");
        for k in &keys {
            let new_top = rank(k, &four)[0];
            if new_top != rank(k, &three)[0] {
                assert_eq!(new_top, "w-3");
            }
        }
    }

    #[test]
    fn spread_is_even() {
        let workers = ["a", "b", "c"];
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            let top = rank(&format!("v/live/{i}"), &workers)[0];
            counts[workers.iter().position(|w| *w == top).unwrap()] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }

    #[test]
    fn parses_route_specs() {
        assert_eq!(
            parse_route("live/foo").unwrap(),
            "__defaultVhost__/live/foo"
        );
        assert_eq!(
            parse_route("v.example/live/foo?x=1").unwrap(),
            "v.example/live/foo"
        );
        assert!(parse_route("foo").is_none());
        assert!(parse_route("a//b").is_none());
    }
}
