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

/// Players one edge takes of one stream before the stream spreads to the next edge (`P`), when
/// its group sets no `edge-share`.
pub const DEFAULT_EDGE_SHARE: u32 = 500;

/// How many of a stream's ranked edges its players use (DESIGN.md "Edge spreading"): enough for
/// `players` at `share` each (`k = ceil(players / share)`, at least 1, at most `edges`), grown at
/// once but shrunk from `current` only when the audience fell below 75 % of the smaller set's
/// capacity, so a set at its edge does not flap.
pub fn spread(players: u32, share: u32, edges: usize, current: usize) -> usize {
    spread_over(players, &vec![share; edges], current)
}

/// [`spread`] with each edge's own share (`shares` in the stream's rendezvous order: edges of
/// groups with different `edge-share` behind one LB): the smallest top `k` whose shares add up
/// to `players`, with the same hysteresis on the smaller set's summed shares.
pub fn spread_over(players: u32, shares: &[u32], current: usize) -> usize {
    let edges = shares.len();
    if edges == 0 {
        return 0;
    }
    let capacity = |k: usize| -> u64 { shares[..k].iter().map(|s| u64::from((*s).max(1))).sum() };
    let players = u64::from(players);
    let needed = (1..=edges)
        .find(|k| capacity(*k) >= players)
        .unwrap_or(edges);
    let mut k = needed;
    let current = current.clamp(1, edges);
    // Shrink one step at a time, and only while the audience fits well within the smaller set.
    if k < current {
        k = current;
        while k > needed && players * 4 < capacity(k - 1) * 3 {
            k -= 1;
        }
    }
    k
}

/// The edges for a new player of `key`, best first: the top `k` of `edges` by rendezvous (the
/// stream's set; sets for growing k are nested, so growing never moves a player), the least
/// loaded of them first (`edges` pairs a name with its players of this stream), then the others
/// of the set by load, then every other edge in rendezvous order (fallbacks).
pub fn pick_edges<'a>(key: &str, edges: &[(&'a str, u32)], k: usize) -> Vec<&'a str> {
    let mut ranked: Vec<(&'a str, u32)> = edges.to_vec();
    // The order `rank` gives, kept with the caller's borrow.
    ranked.sort_by(|(a, _), (b, _)| weight(b, key).cmp(&weight(a, key)).then_with(|| a.cmp(b)));
    let k = k.min(ranked.len());
    let (top, rest) = ranked.split_at(k);
    let mut top: Vec<(usize, (&'a str, u32))> = top.iter().copied().enumerate().collect();
    // Stable by rank among equals: every LB breaks ties alike.
    top.sort_by_key(|(position, (_, load))| (*load, *position));
    top.into_iter()
        .map(|(_, (name, _))| name)
        .chain(rest.iter().map(|(name, _)| *name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_grows_with_players_and_is_bounded_by_the_edges() {
        assert_eq!(spread(0, 500, 4, 1), 1);
        assert_eq!(spread(1, 500, 4, 1), 1);
        assert_eq!(spread(500, 500, 4, 1), 1);
        assert_eq!(spread(501, 500, 4, 1), 2);
        assert_eq!(spread(1600, 500, 4, 1), 4);
        assert_eq!(spread(99_999, 500, 4, 2), 4);
        assert_eq!(spread(10, 500, 0, 1), 0);
        assert_eq!(spread(10, 0, 3, 1), 3);
    }

    #[test]
    fn k_shrinks_only_below_three_quarters_of_the_smaller_set() {
        // Three edges in use; two hold 1000: stay at 3 until the audience is under 750.
        assert_eq!(spread(900, 500, 4, 3), 3);
        assert_eq!(spread(751, 500, 4, 3), 3);
        assert_eq!(spread(749, 500, 4, 3), 2);
        // Far below: several steps at once, never under what is needed.
        assert_eq!(spread(10, 500, 4, 4), 1);
        assert_eq!(spread(600, 500, 4, 4), 2);
        // Flapping around a boundary does not move k.
        let mut k = 1;
        for players in [499, 501, 499, 520, 480, 501] {
            k = spread(players, 500, 4, k);
        }
        assert_eq!(k, 2);
    }

    #[test]
    fn each_edge_counts_with_its_own_share() {
        // A first edge of 100 and two of 500: 100 players fit the first, 101 need two, 601 three.
        let shares = [100, 500, 500];
        assert_eq!(spread_over(100, &shares, 1), 1);
        assert_eq!(spread_over(101, &shares, 1), 2);
        assert_eq!(spread_over(600, &shares, 1), 2);
        assert_eq!(spread_over(601, &shares, 1), 3);
        assert_eq!(spread_over(5000, &shares, 1), 3);
        // Shrinking from three: only under 75 % of the first two's 600.
        assert_eq!(spread_over(451, &shares, 3), 3);
        assert_eq!(spread_over(449, &shares, 3), 2);
        // Uniform shares are `spread`.
        for players in [0, 1, 499, 500, 501, 1499, 1501, 9000] {
            for current in 1..=4 {
                assert_eq!(
                    spread_over(players, &[500; 4], current),
                    spread(players, 500, 4, current)
                );
            }
        }
    }

    #[test]
    fn edge_sets_are_nested_and_the_least_loaded_of_the_set_goes_first() {
        let names = ["e-0", "e-1", "e-2", "e-3"];
        let key = stream_key("", "live", "hot");
        let ranked = rank(&key, &names);
        let idle: Vec<(&str, u32)> = names.iter().map(|n| (*n, 0)).collect();
        for k in 1..=4 {
            let picked = pick_edges(&key, &idle, k);
            assert_eq!(picked.len(), 4);
            // The first k are the top k by rendezvous; k+1's set contains k's.
            let mut set: Vec<&str> = picked[..k].to_vec();
            set.sort();
            let mut top: Vec<&str> = ranked[..k].to_vec();
            top.sort();
            assert_eq!(set, top);
        }
        // Load decides inside the set, never outside it.
        let loaded: Vec<(&str, u32)> = names
            .iter()
            .map(|n| {
                (
                    *n,
                    if *n == ranked[0] {
                        9
                    } else if *n == ranked[3] {
                        0
                    } else {
                        5
                    },
                )
            })
            .collect();
        assert_eq!(pick_edges(&key, &loaded, 2)[0], ranked[1]);
        assert_eq!(pick_edges(&key, &loaded, 1)[0], ranked[0]);
        assert_eq!(pick_edges(&key, &loaded, 4)[0], ranked[3]);
    }

    #[test]
    fn a_cold_stream_uses_one_edge_and_streams_spread_over_edges() {
        let names = ["e-0", "e-1", "e-2"];
        let idle: Vec<(&str, u32)> = names.iter().map(|n| (*n, 0)).collect();
        let mut firsts = std::collections::HashSet::new();
        for i in 0..50 {
            let key = stream_key("", "live", &format!("s{i}"));
            firsts.insert(pick_edges(&key, &idle, spread(3, 500, 3, 1))[0]);
        }
        assert_eq!(firsts.len(), 3);
    }

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
