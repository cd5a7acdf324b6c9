//! Stream settings: the defaults every worker starts from, and how `defaults` and a worker's own
//! settings override them.

use super::super::decode::StreamOverrides;
use super::super::plan::*;

/// Default stream settings (DESIGN.md §4).
pub fn default_stream() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 60000,
        // SRS's default (mw_latency 350): fan-out CPU is paid per write call, so merging 350 ms of
        // frames per write costs ~1/3 of 100 ms. New players get the GOP cache at once regardless.
        merge_write_ms: 350,
        // One wakeup reads ~100 ms of a publisher's media instead of one TCP segment, which cuts the
        // fixed per-stream CPU; every player of the stream sees at most 100 ms more latency, on top of
        // merge-write's window, so this one is kept shorter.
        merge_read_ms: 100,
        play_wait_ms: DEFAULT_PLAY_WAIT_MS,
        player_queue_bytes: 4 << 20,
        max_connections: 10000,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 5000,
        },
        hls: HlsSettings {
            enabled: true,
            fragment_ms: 2000,
            window: 6,
            path: None,
            segment_format: Default::default(),
            low_latency: false,
            part_ms: None,
        },
        hooks: HookSettings {
            timeout_ms: 3000,
            ..HookSettings::default()
        },
        rules: Vec::new(),
    }
}

pub(super) fn apply_overrides(base: &mut StreamSettings, o: &StreamOverrides) {
    fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
        if let Some(v) = value {
            *slot = v.clone();
        }
    }
    set(&mut base.gop_cache, &o.gop_cache);
    set(&mut base.chunk_size, &o.chunk_size);
    set(&mut base.merge_write_ms, &o.merge_write_ms);
    set(&mut base.merge_read_ms, &o.merge_read_ms);
    set(&mut base.play_wait_ms, &o.play_wait_ms);
    set(&mut base.player_queue_bytes, &o.player_queue_bytes);
    set(&mut base.max_connections, &o.max_connections);
    set(&mut base.http_flv.enabled, &o.http_flv_enabled);
    set(&mut base.http_flv.wait_ms, &o.http_flv_wait_ms);
    set(&mut base.hls.enabled, &o.hls_enabled);
    set(&mut base.hls.fragment_ms, &o.hls_fragment_ms);
    set(&mut base.hls.window, &o.hls_window);
    set(&mut base.hls.segment_format, &o.hls_segment_format);
    set(&mut base.hls.low_latency, &o.hls_low_latency);
    if o.hls_part_ms.is_some() {
        base.hls.part_ms = o.hls_part_ms;
    }
    if o.hls_path.is_some() {
        base.hls.path = o.hls_path.clone();
    }
    set(&mut base.hooks.on_publish, &o.on_publish);
    set(&mut base.hooks.on_unpublish, &o.on_unpublish);
    set(&mut base.hooks.on_play, &o.on_play);
    set(&mut base.hooks.on_stop, &o.on_stop);
    set(&mut base.hooks.timeout_ms, &o.hooks_timeout_ms);
    set(&mut base.hooks.on_error, &o.hooks_on_error);
    if o.hooks_ca.is_some() {
        base.hooks.ca = o.hooks_ca.clone();
    }
}
