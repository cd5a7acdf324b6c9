//! The worker's bounds on what an RTMP connection sends: a budget for unfinished messages that fits
//! the connection's role (a player sends only small commands, a publisher up to the largest
//! message), the worker's budget per role over all its connections, and an idle deadline for a
//! connection that completes nothing. Every close they cause is logged with its reason.
//!
//! The session applies the per-connection budget and reports what it holds (sans-IO); this module
//! decides, after each read, whether the connection may go on.

use crate::memory_budget::{env_limit, env_value, Charge, MemoryBudget};
use crate::rtmp::chunk::MAX_PARTIAL_BYTES;
use crate::rtmp::server::{InputBudget, PeerRole, ServerEvent, ServerSession};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection that completes nothing for this long is closed: no handshake, no whole message
/// before `play`/`publish`, a publisher whose media stopped, a player stuck in a message.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Unfinished messages a connection may hold before it publishes, and as a player: commands and
/// control messages are a few hundred bytes.
pub const COMMANDS_BUDGET: usize = 64 * 1024;
/// Unfinished messages a publisher may hold: the largest message and then some.
pub const PUBLISHER_BUDGET: usize = MAX_PARTIAL_BYTES;
/// What all players (and connections not yet publishing) of a worker may hold together.
pub const PLAYERS_MEMORY: usize = 32 << 20;
/// What all publishers of a worker may hold together.
pub const PUBLISHERS_MEMORY: usize = 256 << 20;

/// Environment overrides (for tests and operators; the defaults above fit real clients).
pub const ENV_IDLE_TIMEOUT: &str = "ORYX_RTMP_IDLE_TIMEOUT";
pub const ENV_PLAYERS_MEMORY: &str = "ORYX_RTMP_PLAYERS_MEMORY";
pub const ENV_PUBLISHERS_MEMORY: &str = "ORYX_RTMP_PUBLISHERS_MEMORY";

/// The bounds every RTMP connection of one worker shares.
pub struct InputLimits {
    pub idle: Duration,
    pub per_connection: InputBudget,
    pub players: Arc<MemoryBudget>,
    pub publishers: Arc<MemoryBudget>,
}

impl InputLimits {
    pub fn new(idle: Duration, players: usize, publishers: usize) -> Arc<InputLimits> {
        Arc::new(InputLimits {
            idle,
            per_connection: InputBudget {
                commands: COMMANDS_BUDGET,
                publisher: PUBLISHER_BUDGET,
            },
            players: MemoryBudget::new("players", players),
            publishers: MemoryBudget::new("publishers", publishers),
        })
    }

    /// The defaults, with what the environment overrides.
    pub fn from_env() -> Arc<InputLimits> {
        // 0 would close every connection at once: it keeps the default.
        let idle = env_value(ENV_IDLE_TIMEOUT, crate::compile::units::parse_duration_ms)
            .filter(|ms| *ms > 0)
            .map_or(IDLE_TIMEOUT, Duration::from_millis);
        InputLimits::new(
            idle,
            env_limit(ENV_PLAYERS_MEMORY, PLAYERS_MEMORY),
            env_limit(ENV_PUBLISHERS_MEMORY, PUBLISHERS_MEMORY),
        )
    }
}

/// One connection under the worker's bounds.
pub struct ConnInput {
    limits: Arc<InputLimits>,
    who: String,
    cancel: CancellationToken,
    charge: Charge,
    role: PeerRole,
    progress: u64,
    last_progress: Instant,
}

impl ConnInput {
    /// Bound `session`'s input; `who` names the client in logs, `cancel` closes the connection when
    /// the worker's budget needs its memory back.
    pub fn new(
        limits: &Arc<InputLimits>,
        session: &mut ServerSession,
        who: String,
        cancel: CancellationToken,
    ) -> ConnInput {
        session.set_input_budget(limits.per_connection);
        ConnInput {
            charge: limits.players.charge(who.clone(), cancel.clone()),
            limits: limits.clone(),
            who,
            cancel,
            role: PeerRole::Unknown,
            progress: session.progress(),
            last_progress: Instant::now(),
        }
    }

    /// Feed received bytes to the session and check the bounds. An error closes the connection;
    /// its reason is logged here.
    pub fn feed(
        &mut self,
        session: &mut ServerSession,
        data: &[u8],
    ) -> anyhow::Result<Vec<ServerEvent>> {
        let events = session
            .feed(data)
            .map_err(|err| self.close(err.to_string()))?;
        if session.progress() != self.progress {
            self.progress = session.progress();
            self.last_progress = Instant::now();
        }
        if session.peer_role() == PeerRole::Publisher && self.role != PeerRole::Publisher {
            // Publishers hold more, and are counted apart, so players cannot crowd them out.
            self.charge = self
                .limits
                .publishers
                .charge(self.who.clone(), self.cancel.clone());
        }
        self.role = session.peer_role();
        if let Err(over) = self.charge.set(session.held_bytes()) {
            return Err(self.close(over.to_string()));
        }
        Ok(events)
    }

    /// When the connection is closed for saying nothing useful, if it stays silent.
    pub fn deadline(&self) -> Instant {
        self.last_progress + self.limits.idle
    }

    /// For a connection that may rightly stay silent (a player): the deadline only while it is in
    /// the middle of a message.
    pub fn stall_deadline(&self, session: &ServerSession) -> Option<Instant> {
        session.has_partial().then(|| self.deadline())
    }

    /// The error (logged) that closes a connection past its deadline.
    pub fn idle_error(&self) -> anyhow::Error {
        self.close(format!(
            "no whole message for {:?} (idle timeout)",
            self.limits.idle
        ))
    }

    fn close(&self, reason: String) -> anyhow::Error {
        tracing::info!(client = %self.who, "closing the RTMP connection: {reason}");
        anyhow::anyhow!(reason)
    }
}

/// Sleep until `deadline`, or forever without one.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::client::{ClientConfig, ClientMode, ClientSession};
    use crate::rtmp::message::MediaKind;

    /// A client and a server session past connect and publish/play, the server under `limits`.
    fn connected(
        limits: &Arc<InputLimits>,
        mode: ClientMode,
    ) -> (ClientSession, ServerSession, ConnInput) {
        let config = ClientConfig::from_url("rtmp://127.0.0.1/live/s", mode).unwrap();
        let mut client = ClientSession::new(config);
        let mut server = ServerSession::new(4096);
        let mut input =
            ConnInput::new(limits, &mut server, "test".into(), CancellationToken::new());
        for _ in 0..10 {
            input.feed(&mut server, &client.take_output()).unwrap();
            client.feed(&server.take_output()).unwrap();
        }
        (client, server, input)
    }

    #[test]
    fn publishers_and_players_count_against_their_own_budgets() {
        let limits = InputLimits::new(IDLE_TIMEOUT, 1 << 20, 1 << 20);
        let (mut publisher, mut server, mut input) = connected(&limits, ClientMode::Publish);
        assert_eq!(server.peer_role(), PeerRole::Publisher);
        let frame = publisher_frame(&mut publisher, 300_000);
        input.feed(&mut server, &frame[..200_000]).unwrap();
        assert!(limits.publishers.used() >= 190_000);
        assert_eq!(limits.players.used(), 0);
        input.feed(&mut server, &frame[200_000..]).unwrap();
        assert_eq!(limits.publishers.used(), 0);

        let (mut player, mut server, mut input) = connected(&limits, ClientMode::Play);
        assert_eq!(server.peer_role(), PeerRole::Player);
        let frame = publisher_frame(&mut player, 300_000);
        let err = input.feed(&mut server, &frame).unwrap_err();
        assert!(err.to_string().contains("65536-byte budget"), "{err}");
    }

    #[test]
    fn the_worker_budget_closes_the_connection_that_holds_the_most() {
        let limits = InputLimits::new(IDLE_TIMEOUT, 1 << 20, 100_000);
        let (mut publisher, mut server, mut input) = connected(&limits, ClientMode::Publish);
        let frame = publisher_frame(&mut publisher, 300_000);
        let err = input.feed(&mut server, &frame[..150_000]).unwrap_err();
        assert!(err.to_string().contains("publishers budget"), "{err}");
    }

    #[test]
    fn the_deadline_moves_with_whole_messages_only() {
        let limits = InputLimits::new(Duration::from_secs(5), 1 << 20, 1 << 20);
        let (mut publisher, mut server, mut input) = connected(&limits, ClientMode::Publish);
        let first = input.deadline();
        assert!(input.stall_deadline(&server).is_none());
        // The clock is monotonic: after this, "now" is later than when `first` was set.
        std::thread::sleep(Duration::from_millis(5));
        let frame = publisher_frame(&mut publisher, 10_000);
        input.feed(&mut server, &frame[..5000]).unwrap();
        assert_eq!(
            input.deadline(),
            first,
            "a part of a message is not progress"
        );
        assert_eq!(input.stall_deadline(&server), Some(first));
        input.feed(&mut server, &frame[5000..]).unwrap();
        assert!(input.deadline() > first);
        assert!(input.idle_error().to_string().contains("idle timeout"));
    }

    fn publisher_frame(client: &mut ClientSession, len: usize) -> bytes::Bytes {
        let _ = client.take_output();
        client.send_media(MediaKind::Video, 40, &vec![0x17; len]);
        client.take_output()
    }
}
