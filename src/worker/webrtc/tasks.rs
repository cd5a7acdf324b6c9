//! A session's life after its answer: wait for the browser to connect (or reap it, saying which
//! candidates it was offered), then play (WHEP) or publish (WHIP) until DELETE, the browser going
//! quiet past the ICE timeout, a kick from the API, or the stream's end; then unregister and tell
//! the hooks.

use super::audio::AudioPath;
use super::play::WhepSink;
use super::{SessionHandle, WebRtc};
use crate::stream_name::StreamName;
use crate::worker::context::{ConnectionSlot, HookSubject};
use crate::worker::hooks::HookAction;
use crate::worker::hub::{ClientGuard, Player};
use crate::worker::merge_clock::MergeClock;
use crate::worker::playback::Playback;
use std::sync::Arc;
use std::time::Duration;

/// What a session's task owns besides the session.
pub struct Owned {
    pub guard: ClientGuard,
    pub _slot: ConnectionSlot,
    pub name: StreamName,
    pub ip: String,
}

/// Service the engine's timers until the browser connects; false when the session ends first.
async fn connected(service: &WebRtc, handle: &SessionHandle, owned: &Owned) -> bool {
    loop {
        {
            let mut session = handle.lock();
            session.tick(&service.socket);
            if session.closed.is_some() {
                return false;
            }
            if session.connected {
                return true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(handle.next_wake()) => {}
            _ = handle.wake.notified() => {}
            _ = owned.guard.entry.cancel.cancelled() => handle.close("kicked"),
        }
    }
}

/// WHEP: play `player` to the browser.
pub async fn play(service: Arc<WebRtc>, handle: Arc<SessionHandle>, owned: Owned, player: Player) {
    let mut outcome = Ok(());
    if connected(&service, &handle, &owned).await {
        let gap = Duration::from_millis(service.ctx.settings().play_wait_ms);
        // WebRTC paces nothing by merging: each frame goes out when it comes.
        let clock = MergeClock::new(Duration::ZERO);
        let audio = AudioPath::new(service.transcoders.clone(), player.stream().id);
        let codec = handle.lock().video_codecs.first().copied();
        let codec = codec.unwrap_or(crate::webrtc::video::VideoCodec::H264);
        let mut sink = WhepSink::new(handle.clone(), service.socket.clone(), audio, gap, codec);
        let mut player = Some(player);
        loop {
            let next = player
                .take()
                .unwrap_or_else(|| service.ctx.hub.play(&owned.name));
            // The browser shows frames as they come: a burst of a merged read is partly dropped
            // by its renderer, so the publisher reads unmerged while this session plays.
            let _prompt = next.stream().prompt_demand().hold();
            let give_up = tokio::time::Instant::now() + gap;
            let mut playback = Playback::new(next, &owned.guard.entry, &clock, Some(give_up));
            outcome = playback.run(&mut sink).await;
            if !sink.restart || outcome.is_err() {
                break;
            }
            sink.continue_clock();
        }
    }
    finish(&service, &handle, &owned, HookAction::OnStop, outcome);
}

/// WHIP: the publisher's media reaches the hub from the socket's task; this one keeps the timers
/// and the reaper.
pub async fn publish(service: Arc<WebRtc>, handle: Arc<SessionHandle>, owned: Owned) {
    if connected(&service, &handle, &owned).await {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(handle.next_wake()) => {}
                _ = handle.wake.notified() => {}
                _ = owned.guard.entry.cancel.cancelled() => handle.close("kicked"),
            }
            let mut session = handle.lock();
            session.tick(&service.socket);
            if session.closed.is_some() {
                break;
            }
        }
    }
    finish(&service, &handle, &owned, HookAction::OnUnpublish, Ok(()));
}

fn finish(
    service: &WebRtc,
    handle: &SessionHandle,
    owned: &Owned,
    hook: HookAction,
    outcome: anyhow::Result<()>,
) {
    service.unregister(handle.id);
    let (reason, sent, received) = {
        let mut session = handle.lock();
        // The publisher goes now (unpublish), not when the last reference to the session does.
        session.ingest = None;
        let reason = match (&session.closed, &outcome) {
            (Some(reason), _) => reason.clone(),
            (None, Err(err)) => err.to_string(),
            (None, Ok(())) => "ended".to_string(),
        };
        session.rtc().disconnect();
        (reason, session.sent_bytes, session.received_bytes)
    };
    tracing::info!(
        action = handle.action.as_str(),
        stream = %owned.name.key(),
        client = %owned.ip,
        sent,
        received,
        "WebRTC session ended: {reason}"
    );
    release_memory_soon();
    let tc_url = String::new();
    service.ctx.hook_after(
        hook,
        &HookSubject {
            client_id: owned.guard.entry.id,
            ip: &owned.ip,
            name: &owned.name,
            tc_url: &tc_url,
        },
    );
}

/// Hand the freed session memory back to the system a second after sessions end (once for a
/// crowd leaving together). Each session frees its resend ring and engine, but glibc keeps freed
/// chunks in the arena of the thread that freed them: without a trim, RSS stays at the crowd's
/// peak after it has gone, which looks like a leak to whoever watches the process.
fn release_memory_soon() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static PENDING: AtomicBool = AtomicBool::new(false);
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        PENDING.store(false, Ordering::Release);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
    });
}
