//! HLS play sessions (`hls_ctx`, as SRS names them): the `on_play` hook's yes, remembered for one
//! player of one stream, so the hook is asked once per session rather than once per request, and a
//! segment is served only to a session that passed it.
//!
//! The table is bounded ([`MAX_SESSIONS`]): a client with a good token cannot grow it without limit,
//! and a session no request touched for a few target durations is forgotten. Time is passed in, so
//! the rules are tested without sleeping.

use super::StreamName;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The query key that carries a session on playlist and segment URIs.
pub const SESSION_KEY: &str = "hls_ctx";
/// Sessions one worker holds at most; past it a new player gets 503 until some expire.
pub const MAX_SESSIONS: usize = 10_000;
/// A session expires after this many target durations without a request (a player reloads the
/// playlist about once per target duration, so a live player never gets near it).
pub const IDLE_TARGET_DURATIONS: u32 = 3;
/// ... but never sooner than this, so a player on a slow network or a busy machine keeps its session.
pub const MIN_IDLE: Duration = Duration::from_secs(10);

/// How long a session of a stream with this target duration may stay without a request.
pub fn idle_limit(target_duration_ms: u64) -> Duration {
    (Duration::from_millis(target_duration_ms) * IDLE_TARGET_DURATIONS).max(MIN_IDLE)
}

/// One player of one stream, as the hook saw it: its address, the stream and the query it came
/// with (its session key left out). A player reloading the playlist at the URL it was given comes
/// back as the same player, and keeps its session without asking the hook again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Player {
    pub ip: String,
    /// The stream, without a query (the player's is `param`).
    pub stream: StreamName,
    /// The query with its `?` (`?token=abc`), or empty.
    pub param: String,
}

/// A session the hook allowed.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    /// The id the `on_play` hook was given; `on_stop` reports the same one.
    pub client_id: u64,
    pub player: Player,
    last_seen: Instant,
    idle_limit: Duration,
}

impl Session {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) > self.idle_limit
    }
}

/// No room for another session.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Live sessions by token, and the token of each player.
pub struct Sessions {
    by_token: HashMap<String, Session>,
    by_player: HashMap<Player, String>,
    max: usize,
}

impl Sessions {
    pub fn new(max: usize) -> Sessions {
        Sessions {
            by_token: HashMap::new(),
            by_player: HashMap::new(),
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// The session `token` if it is live and belongs to `stream`; a request renews it for
    /// `idle_limit` more.
    pub fn touch(
        &mut self,
        token: &str,
        stream: &StreamName,
        now: Instant,
        idle_limit: Duration,
    ) -> Option<&Session> {
        let session = self.by_token.get_mut(token)?;
        if session.expired(now) || session.player.stream != *stream {
            return None;
        }
        session.last_seen = now;
        session.idle_limit = idle_limit;
        Some(session)
    }

    /// The live session of `player`, renewed like [`Sessions::touch`].
    pub fn touch_player(
        &mut self,
        player: &Player,
        now: Instant,
        idle_limit: Duration,
    ) -> Option<&Session> {
        let token = self.by_player.get(player)?.clone();
        self.touch(&token, &player.stream, now, idle_limit)
    }

    /// A new session for `player` (the hook allowed it), or its live one when a concurrent request
    /// opened it first. Expired sessions make room first; `Full` when every slot is live.
    pub fn open(
        &mut self,
        player: Player,
        client_id: u64,
        now: Instant,
        idle_limit: Duration,
    ) -> Result<(&Session, Vec<Session>), Full> {
        let mut expired = Vec::new();
        if let Some(token) = self.by_player.get(&player).cloned() {
            if self.by_token.get(&token).is_some_and(|s| !s.expired(now)) {
                let session = self.touch(&token, &player.stream, now, idle_limit);
                return session.map(|s| (s, expired)).ok_or(Full);
            }
            expired.extend(self.remove(&token));
        }
        if self.by_token.len() >= self.max {
            expired.extend(self.expire(now));
            if self.by_token.len() >= self.max {
                return Err(Full);
            }
        }
        let token = new_token();
        self.by_player.insert(player.clone(), token.clone());
        let session = Session {
            token: token.clone(),
            client_id,
            player,
            last_seen: now,
            idle_limit,
        };
        Ok((self.by_token.entry(token).or_insert(session), expired))
    }

    /// Forgets every session idle past its limit, returning them (their players have stopped).
    pub fn expire(&mut self, now: Instant) -> Vec<Session> {
        let stale: Vec<String> = self
            .by_token
            .values()
            .filter(|session| session.expired(now))
            .map(|session| session.token.clone())
            .collect();
        stale
            .iter()
            .filter_map(|token| self.remove(token))
            .collect()
    }

    fn remove(&mut self, token: &str) -> Option<Session> {
        let session = self.by_token.remove(token)?;
        if self.by_player.get(&session.player).map(String::as_str) == Some(token) {
            self.by_player.remove(&session.player);
        }
        Some(session)
    }
}

/// 128 random bits in hex: a session cannot be guessed, only handed out by a playlist.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(ip: &str, stream: &str, param: &str) -> Player {
        Player {
            ip: ip.into(),
            stream: StreamName::new(super::super::DEFAULT_VHOST, "live", stream),
            param: param.into(),
        }
    }

    const IDLE: Duration = Duration::from_secs(10);

    #[test]
    fn a_session_belongs_to_its_stream_and_expires_when_idle() {
        let mut sessions = Sessions::new(10);
        let start = Instant::now();
        let cam = player("1.2.3.4", "cam", "?token=a");
        let (session, _) = sessions.open(cam.clone(), 7, start, IDLE).unwrap();
        let token = session.token.clone();
        assert_eq!(token.len(), 32);
        assert_eq!(session.client_id, 7);

        // Requests within the limit renew it, from any address.
        let later = start + IDLE - Duration::from_secs(1);
        assert!(sessions.touch(&token, &cam.stream, later, IDLE).is_some());
        let much_later = later + IDLE - Duration::from_secs(1);
        assert!(sessions
            .touch(&token, &cam.stream, much_later, IDLE)
            .is_some());
        // Another stream, another token, a made-up token: none.
        let other = player("1.2.3.4", "other", "?token=a");
        assert!(sessions
            .touch(&token, &other.stream, much_later, IDLE)
            .is_none());
        assert!(sessions
            .touch(&"0".repeat(32), &cam.stream, much_later, IDLE)
            .is_none());
        // The same player (address, stream, query) finds its session without a token.
        assert_eq!(
            sessions
                .touch_player(&cam, much_later, IDLE)
                .map(|s| s.token.clone()),
            Some(token.clone())
        );
        assert!(sessions
            .touch_player(&player("1.2.3.4", "cam", "?token=b"), much_later, IDLE)
            .is_none());

        // Idle past the limit: gone, and reported once.
        let expired_at = much_later + IDLE + Duration::from_millis(1);
        assert!(sessions
            .touch(&token, &cam.stream, expired_at, IDLE)
            .is_none());
        let expired = sessions.expire(expired_at);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].client_id, 7);
        assert!(sessions.is_empty());
        assert!(sessions.expire(expired_at).is_empty());
        assert!(sessions.touch_player(&cam, expired_at, IDLE).is_none());
    }

    #[test]
    fn the_table_is_bounded_and_expired_sessions_make_room() {
        let mut sessions = Sessions::new(3);
        let start = Instant::now();
        for i in 0..3 {
            let who = player(&format!("10.0.0.{i}"), "cam", "?token=good");
            sessions.open(who, i, start, IDLE).unwrap();
        }
        // A fourth player while all three are live: refused, and nothing grows.
        let fourth = player("10.0.0.9", "cam", "?token=good");
        assert_eq!(
            sessions.open(fourth.clone(), 9, start, IDLE).err(),
            Some(Full)
        );
        assert_eq!(sessions.len(), 3);
        // The same player again reuses its session rather than taking a slot.
        let again = sessions
            .open(player("10.0.0.1", "cam", "?token=good"), 99, start, IDLE)
            .unwrap();
        assert_eq!(again.0.client_id, 1);
        // Once they idle out, the fourth gets in and the expired ones are handed back.
        let later = start + IDLE + Duration::from_secs(1);
        let (session, expired) = sessions.open(fourth, 9, later, IDLE).unwrap();
        assert_eq!(session.client_id, 9);
        assert_eq!(expired.len(), 3);
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn idle_limit_is_a_few_target_durations_with_a_floor() {
        assert_eq!(idle_limit(1000), MIN_IDLE);
        assert_eq!(idle_limit(6000), Duration::from_secs(18));
    }
}
