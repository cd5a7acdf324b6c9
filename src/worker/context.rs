//! What every connection of one worker shares: the hub, the stream settings, the connection limit and
//! the hook calls made around publish and play.

use super::hooks::{HookAction, HookEvent, Hooks};
use super::hub::Hub;
use super::merge_clock::MergeClock;
use crate::compile::plan::StreamSettings;
use crate::rtmp::names::StreamName;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct WorkerContext {
    pub hub: Arc<Hub>,
    pub settings: StreamSettings,
    /// Ticks every `merge-write` window; players wait on it between their merged writes.
    pub merge_clock: Arc<MergeClock>,
    /// Accept a PROXY v2 header from loopback peers.
    pub proxy_protocol: bool,
    /// The hook client (timeout, on-error, TLS trust), set up once.
    hooks: Hooks,
    connections: AtomicUsize,
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
        Arc::new(WorkerContext {
            hub: Hub::new(settings.clone()),
            merge_clock: MergeClock::new(Duration::from_millis(settings.merge_write_ms)),
            hooks: Hooks::new(&settings.hooks),
            settings,
            proxy_protocol,
            connections: AtomicUsize::new(0),
        })
    }

    /// Take a connection slot, or `None` past `max_connections`.
    pub fn try_connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.settings.max_connections as usize;
        let previous = self.connections.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot { ctx: self.clone() };
        if max > 0 && previous >= max {
            return None;
        }
        Some(slot)
    }

    fn hook_urls(&self, action: HookAction) -> &[String] {
        let hooks = &self.settings.hooks;
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
        let urls = self.hook_urls(action);
        if urls.is_empty() {
            return Ok(());
        }
        let event = HookEvent {
            action,
            client_id: who.client_id.to_string(),
            ip: who.ip.to_string(),
            vhost: who.name.vhost.clone(),
            app: who.name.app.clone(),
            stream: who.name.stream.clone(),
            param: who.name.param.clone(),
            tc_url: who.tc_url.to_string(),
        };
        self.hooks.call(urls, &event).await.map_err(|err| {
            tracing::info!(?action, stream = %who.name.key(), client = who.ip, %err, "hook refused");
            err.client_reason().to_string()
        })
    }

    /// Report an ending (`on_unpublish`, `on_stop`) without waiting for the answer.
    pub fn hook_after(self: &Arc<Self>, action: HookAction, who: &HookSubject<'_>) {
        if self.hook_urls(action).is_empty() {
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
