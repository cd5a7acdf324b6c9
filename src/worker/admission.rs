//! The admission step every protocol shares: the hook, then the hub (publish or play), then the
//! client's description in the registry. Protocols map a refusal to their own words (an RTMP
//! status, an HTTP code) and log it themselves.

use super::context::{HookSubject, WorkerContext};
use super::hooks::HookAction;
use super::hub::{ClientEntry, ClientKind, Player, PublishError, Publisher};

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
    ctx.hook(HookAction::OnPublish, who)
        .await
        .map_err(PublishRefused::Hook)?;
    let publisher = ctx
        .hub
        .publish(who.name, who.tc_url, who.client_id)
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
    ctx.hook(HookAction::OnPlay, who).await?;
    let player = ctx.hub.play(who.name);
    entry.describe(kind, who.tc_url, Some(who.name), Some(player.stream().id));
    Ok(player)
}
