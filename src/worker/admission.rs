//! The admission step every protocol shares: the hook, then the hub (publish or play), then the
//! client's description in the registry. Protocols map a refusal to their own words (an RTMP
//! status, an HTTP code) and log it themselves.
//!
//! The worker's own children (a transcode's ffmpeg, an exec playing `{url}`) carry the internal
//! credential (`super::internal`): they are admitted without asking the hooks, and what the hub
//! and its sinks see of their query has the credential stripped.

use super::context::{HookSubject, WorkerContext};
use super::hooks::HookAction;
use super::hub::{ClientEntry, ClientKind, Player, PublishError, Publisher};
use crate::stream_name::StreamName;

/// Why a publish was not admitted.
pub enum PublishRefused {
    /// The `on_publish` hook said no (its reason).
    Hook(String),
    /// The hub refused (another publisher holds the stream).
    Hub(PublishError),
}

/// Admit `who` as the publisher of its stream.
pub async fn publish(
    ctx: &WorkerContext,
    who: &HookSubject<'_>,
    entry: &ClientEntry,
) -> Result<Publisher, PublishRefused> {
    let internal = super::internal::carries(&who.name.param);
    if let (Some(origin), false) = (ctx.hub.edge_origin(), internal) {
        return Err(PublishRefused::Hub(PublishError::Edge(origin.to_string())));
    }
    if !internal {
        ctx.hook(HookAction::OnPublish, who)
            .await
            .map_err(PublishRefused::Hook)?;
    }
    let publisher = ctx
        .hub
        .publish_as(
            &without_credential(who.name),
            who.tc_url,
            who.client_id,
            internal,
        )
        .map_err(PublishRefused::Hub)?;
    entry.describe(
        ClientKind::FmlePublish,
        who.tc_url,
        Some(who.name),
        Some(publisher.stream_id()),
    );
    Ok(publisher)
}

/// Admit `who` as a player of its stream (published or not yet); `Err` is the hook's reason.
pub async fn play(
    ctx: &WorkerContext,
    who: &HookSubject<'_>,
    entry: &ClientEntry,
    kind: ClientKind,
) -> Result<Player, String> {
    // An edge pulling from this worker proves it with a credential of its stream: its players
    // passed the edge's own hooks.
    let edge_pull = super::internal::carries_edge_pull(who.name);
    if !super::internal::carries(&who.name.param) && !edge_pull {
        ctx.hook(HookAction::OnPlay, who).await?;
    }
    let player = ctx.hub.play(&without_credential(who.name));
    entry.describe(kind, who.tc_url, Some(who.name), Some(player.stream().id));
    Ok(player)
}

/// `name` as the hub may keep it: its query without the internal credential.
fn without_credential(name: &StreamName) -> StreamName {
    StreamName {
        param: super::internal::strip(&name.param),
        ..name.clone()
    }
}
