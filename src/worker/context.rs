//! What every connection of one worker shares: the hub, the live stream settings, the connection limit
//! and the hook calls made around publish and play.

use super::hooks::{HookAction, HookEvent, Hooks};
use super::hub::Hub;
use super::merge_clock::MergeClock;
use super::settings::LiveSettings;
use crate::compile::plan::{HookSettings, StreamSettings};
use crate::stream_name::StreamName;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct WorkerContext {
    pub hub: Arc<Hub>,
    /// The hub's settings, swapped by a reload; read them with [`WorkerContext::settings`].
    live: Arc<LiveSettings>,
    /// Ticks every `merge-write` window; players wait on it between their merged writes.
    pub merge_clock: Arc<MergeClock>,
    /// Accept a PROXY v2 header from loopback peers (an rtmp-lb fronts this worker).
    proxy_protocol: AtomicBool,
    /// Bounds on what RTMP connections make the worker hold, and for how long.
    pub rtmp_input: Arc<super::rtmp_input::InputLimits>,
    /// The hook client (timeout, on-error, TLS trust) and the settings it was built from; rebuilt
    /// at the first call after a reload changed them.
    hooks: std::sync::Mutex<(HookSettings, Arc<Hooks>)>,
    connections: AtomicUsize,
    /// AAC transcoded from Opus streams for their legacy RTMP/HTTP-FLV players, one per stream.
    pub legacy_audio: Arc<super::audio_legacy::LegacyAudio>,
}

/// Counts one open connection until dropped.
pub struct ConnectionSlot {
    ctx: Arc<WorkerContext>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.ctx.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Who a hook is about.
pub struct HookSubject<'a> {
    pub client_id: u64,
    pub ip: &'a str,
    pub name: &'a StreamName,
    pub tc_url: &'a str,
}

impl WorkerContext {
    pub fn new(settings: StreamSettings, proxy_protocol: bool) -> Arc<WorkerContext> {
        let hub = Hub::new(settings.clone());
        let live = hub.live().clone();
        let merge_clock = MergeClock::new(Duration::from_millis(settings.merge_write_ms));
        let clock = Arc::downgrade(&merge_clock);
        live.watch(move |s| {
            if let Some(clock) = clock.upgrade() {
                clock.set_window(Duration::from_millis(s.merge_write_ms));
            }
        });
        Arc::new(WorkerContext {
            hub,
            live,
            merge_clock,
            proxy_protocol: AtomicBool::new(proxy_protocol),
            rtmp_input: super::rtmp_input::InputLimits::from_env(),
            hooks: std::sync::Mutex::new((
                settings.hooks.clone(),
                Arc::new(Hooks::new(&settings.hooks)),
            )),
            connections: AtomicUsize::new(0),
            legacy_audio: Arc::default(),
        })
    }

    /// The stream settings in force now (a snapshot: read once per connection or boundary).
    pub fn settings(&self) -> Arc<StreamSettings> {
        self.live.get()
    }

    /// The live settings themselves, for the reload route and the parts that watch them.
    pub fn live(&self) -> &Arc<LiveSettings> {
        &self.live
    }

    pub fn proxy_protocol(&self) -> bool {
        self.proxy_protocol.load(Ordering::Relaxed)
    }

    /// Whether connections from now on may start with a PROXY v2 header (the rtmp-lb in front
    /// changed).
    pub fn set_proxy_protocol(&self, on: bool) {
        self.proxy_protocol.store(on, Ordering::Relaxed);
    }

    /// Take a connection slot, or `None` past `max_connections`.
    pub fn try_connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.settings().max_connections as usize;
        let previous = self.connections.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot { ctx: self.clone() };
        if max > 0 && previous >= max {
            return None;
        }
        Some(slot)
    }

    fn hook_urls(settings: &StreamSettings, action: HookAction) -> &[String] {
        let hooks = &settings.hooks;
        match action {
            HookAction::OnPublish => &hooks.on_publish,
            HookAction::OnUnpublish => &hooks.on_unpublish,
            HookAction::OnPlay => &hooks.on_play,
            HookAction::OnStop => &hooks.on_stop,
            HookAction::OnConnect | HookAction::OnClose => &[],
        }
    }

    /// Ask the hooks for `action`. A refusal is logged here with the hook that refused; `Err`
    /// carries only the generic reason a client may see (hook URLs hold secrets), so no caller can
    /// leak one. No hooks configured = allowed.
    pub async fn hook(&self, action: HookAction, who: &HookSubject<'_>) -> Result<(), String> {
        // The hooks in force when the call starts, even if a reload swaps them meanwhile.
        let settings = self.settings();
        let urls = Self::hook_urls(&settings, action);
        // The worker's own children are never reported (nor asked about: `admission`), so the
        // credential they carry never reaches a hook.
        if urls.is_empty() || super::internal::carries(&who.name.param) {
            return Ok(());
        }
        let event = HookEvent {
            action,
            client_id: who.client_id.to_string(),
            ip: who.ip.to_string(),
            vhost: who.name.vhost.clone(),
            app: who.name.app.clone(),
            stream: who.name.stream.clone(),
            param: super::internal::strip(&who.name.param),
            tc_url: who.tc_url.to_string(),
        };
        let hooks = self.hooks_for(&settings.hooks);
        hooks.call(urls, &event).await.map_err(|err| {
            tracing::info!(?action, stream = %who.name.key(), client = who.ip, %err, "hook refused");
            err.client_reason().to_string()
        })
    }

    /// The hook client for `settings` (timeout, on-error, TLS trust), rebuilt only when they changed.
    pub fn hooks_for(&self, settings: &HookSettings) -> Arc<Hooks> {
        let mut cached = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 != *settings {
            *cached = (settings.clone(), Arc::new(Hooks::new(settings)));
        }
        cached.1.clone()
    }

    /// Report an ending (`on_unpublish`, `on_stop`) without waiting for the answer.
    pub fn hook_after(self: &Arc<Self>, action: HookAction, who: &HookSubject<'_>) {
        if Self::hook_urls(&self.settings(), action).is_empty() {
            return;
        }
        let ctx = self.clone();
        let (id, ip, name, tc_url) = (
            who.client_id,
            who.ip.to_string(),
            who.name.clone(),
            who.tc_url.to_string(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let who = HookSubject {
                    client_id: id,
                    ip: &ip,
                    name: &name,
                    tc_url: &tc_url,
                };
                // The answer is not a decision; a failure is logged by `hook`.
                let _ = ctx.hook(action, &who).await;
            });
        }
    }
}
