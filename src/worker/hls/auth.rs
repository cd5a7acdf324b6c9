//! HLS play auth, SRS's `hls_ctx` way: with `on-play` hooks set, a playlist request asks the hooks
//! once per session (with the query the player came with) and opens a session; the playlist's URIs
//! carry it, and a segment is served only with a live session of its stream. Without `on-play`
//! there is no gate and URLs stay session-free.

use super::session::{self, Player, Sessions, SESSION_KEY};
use crate::stream_name::{query, StreamName};
use crate::worker::context::{HookSubject, WorkerContext};
use crate::worker::hooks::HookAction;
use crate::worker::http::FileRequest;
use crate::worker::hub::ClientKind;
use axum::http::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Queries longer than this are refused on a gated worker: a session remembers its player's query,
/// so the table's memory stays bounded by [`session::MAX_SESSIONS`] times this.
pub const MAX_QUERY_LEN: usize = 1024;

/// Why the gate turned a request away: the status to answer and a line for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// The `on-play` gate in front of a worker's HLS files.
pub struct PlayGate {
    ctx: Arc<WorkerContext>,
    sessions: Mutex<Sessions>,
}

impl PlayGate {
    /// The gate of a worker with `on-play` hooks; `None` without them (HLS stays session-free).
    pub fn new(ctx: &Arc<WorkerContext>) -> Option<Arc<PlayGate>> {
        PlayGate::with_capacity(ctx, session::MAX_SESSIONS)
    }

    fn with_capacity(ctx: &Arc<WorkerContext>, capacity: usize) -> Option<Arc<PlayGate>> {
        if ctx.settings().hooks.on_play.is_empty() {
            return None;
        }
        Some(PlayGate::always(ctx, capacity))
    }

    /// A gate whatever the settings are now: a reload may add `on-play` to a running worker, and
    /// [`PlayGate::active`] reads the settings in force at each request.
    pub fn always(ctx: &Arc<WorkerContext>, capacity: usize) -> Arc<PlayGate> {
        Arc::new(PlayGate {
            ctx: ctx.clone(),
            sessions: Mutex::new(Sessions::new(capacity)),
        })
    }

    /// Whether `on-play` hooks are set now (without them HLS is session-free).
    pub fn active(&self) -> bool {
        !self.ctx.settings().hooks.on_play.is_empty()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `/metrics` shows how full the table is.
    fn report(&self, count: usize) {
        metrics::gauge!("oryx_hls_sessions").set(count as f64);
    }

    /// The session a playlist request plays under: the one its URL names, else the one this player
    /// already has, else a new one if the hooks allow it. `Err` is the answer to send instead.
    /// `stream` is the stream the request resolved to (`None`: no such stream, 404 once allowed).
    pub async fn playlist(
        &self,
        request: &FileRequest,
        stream: Option<&StreamName>,
        idle: Duration,
    ) -> Result<String, Refusal> {
        let (token, param) = split_session(&request.name.param);
        if param.len() > MAX_QUERY_LEN {
            return Err(refuse(StatusCode::BAD_REQUEST, "query too long\n"));
        }
        if let Some(stream) = stream {
            let now = Instant::now();
            let mut sessions = self.sessions();
            if let Some(found) = token.and_then(|t| sessions.touch(t, stream, now, idle)) {
                return Ok(found.token.clone());
            }
            let player = Player {
                ip: request.ip.clone(),
                stream: stream.clone(),
                param: param.clone(),
            };
            if let Some(found) = sessions.touch_player(&player, now, idle) {
                return Ok(found.token.clone());
            }
        }
        // The stream found (its vhost may differ from the host's), else the one asked for.
        let name = stream.unwrap_or(&request.name).with_param(&param);
        // An id from the hub's counter, so `on_play`/`on_stop` never share one with an RTMP or
        // HTTP-FLV client; the entry itself is dropped at once (an HLS session is no connection).
        let client_id = self
            .ctx
            .hub
            .register_client(&request.ip, ClientKind::FlvPlay)
            .entry
            .id;
        let who = HookSubject {
            client_id,
            ip: &request.ip,
            name: &name,
            tc_url: "",
        };
        if let Err(err) = self.ctx.hook(HookAction::OnPlay, &who).await {
            return Err(refuse(StatusCode::FORBIDDEN, format!("refused: {err}\n")));
        }
        let Some(stream) = stream else {
            return Err(refuse(StatusCode::NOT_FOUND, "no such stream\n"));
        };
        let player = Player {
            ip: request.ip.clone(),
            stream: stream.clone(),
            param,
        };
        let opened = {
            let mut sessions = self.sessions();
            let opened = sessions
                .open(player, client_id, Instant::now(), idle)
                .map(|(session, expired)| (session.token.clone(), expired));
            self.report(sessions.len());
            opened
        };
        match opened {
            Ok((token, expired)) => {
                self.stopped(expired);
                Ok(token)
            }
            Err(session::Full) => {
                tracing::warn!(
                    limit = session::MAX_SESSIONS,
                    "HLS session table full; a player was turned away"
                );
                Err(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many HLS sessions\n",
                ))
            }
        }
    }

    /// The session a segment request plays under: only a live one of its stream; `Err` is the 403.
    pub fn segment(
        &self,
        request: &FileRequest,
        stream: Option<&StreamName>,
        idle: Duration,
    ) -> Result<String, Refusal> {
        let (token, _) = split_session(&request.name.param);
        let live = match (token, stream) {
            (Some(token), Some(stream)) => self
                .sessions()
                .touch(token, stream, Instant::now(), idle)
                .map(|session| session.token.clone()),
            _ => None,
        };
        live.ok_or_else(|| {
            refuse(
                StatusCode::FORBIDDEN,
                "no valid HLS session: load the playlist first\n",
            )
        })
    }

    /// The live session of `source` that a request for one of its renditions names, renewed: a
    /// master playlist's player plays every variant under the session the master opened (its URIs
    /// carry only `hls_ctx`, not the query the hooks judged).
    pub fn covered_by(
        &self,
        request: &FileRequest,
        source: &StreamName,
        idle: Duration,
    ) -> Option<String> {
        let (token, _) = split_session(&request.name.param);
        self.sessions()
            .touch(token?, source, Instant::now(), idle)
            .map(|session| session.token.clone())
    }

    /// Forgets idle sessions and reports their players' `on_stop`.
    pub fn expire(&self) {
        let (expired, count) = {
            let mut sessions = self.sessions();
            (sessions.expire(Instant::now()), sessions.len())
        };
        self.report(count);
        self.stopped(expired);
    }

    /// Sessions held now.
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    fn stopped(&self, sessions: Vec<session::Session>) {
        for session in sessions {
            let player = &session.player;
            let name = player.stream.with_param(&player.param);
            let who = HookSubject {
                client_id: session.client_id,
                ip: &player.ip,
                name: &name,
                tc_url: "",
            };
            self.ctx.hook_after(HookAction::OnStop, &who);
        }
    }
}

/// A query with its `?` split into the session it names (the last `hls_ctx=`, if any) and the rest,
/// with its `?` again (empty when nothing is left): the rest is what the hooks see.
pub fn split_session(param: &str) -> (Option<&str>, String) {
    query::take(param, SESSION_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_name::{parse_path, VhostRule};
    use axum::http::HeaderMap;

    /// A hook that allows params holding `token=good` and counts the actions it saw.
    async fn hook_server(seen: Arc<Mutex<Vec<String>>>) -> String {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    let action = body["action"].as_str().unwrap_or("").to_string();
                    seen.lock().unwrap().push(action);
                    let allowed = body["param"].as_str().unwrap_or("").contains("token=good");
                    if allowed {
                        "0"
                    } else {
                        "1"
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn request(ip: &str, path: &str, query: Option<&str>) -> FileRequest {
        let target = parse_path(path).unwrap();
        FileRequest {
            name: StreamName::from_http(VhostRule::HostName, "127.0.0.1", &target, query),
            path: path.to_string(),
            ip: ip.to_string(),
            headers: HeaderMap::new(),
        }
    }

    fn cam() -> StreamName {
        StreamName::new(super::super::DEFAULT_VHOST, "live", "cam")
    }

    #[tokio::test]
    async fn the_hook_opens_sessions_up_to_the_table_size() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut settings = crate::worker::hub::tests::settings();
        settings.hooks.on_play = vec![hook_server(seen.clone()).await];
        settings.hooks.timeout_ms = 5000;
        let ctx = WorkerContext::new(settings.clone(), false);
        let gate = PlayGate::with_capacity(&ctx, 2).unwrap();
        let idle = Duration::from_secs(10);
        let stream = cam();
        let ask = |ip: &'static str, query: String, stream: Option<StreamName>| {
            let gate = gate.clone();
            async move {
                let request = request(ip, "/live/cam.m3u8", Some(&query));
                let answer = gate.playlist(&request, stream.as_ref(), idle).await;
                answer.map_err(|refusal| refusal.status)
            }
        };
        let some = || Some(cam());
        let good = || "token=good".to_string();

        let refused = ask("1.1.1.1", "token=bad".into(), some()).await;
        assert_eq!(refused, Err(StatusCode::FORBIDDEN));
        let first = ask("1.1.1.1", good(), some()).await.unwrap();
        // The same player again: its session, no second hook call.
        assert_eq!(ask("1.1.1.1", good(), some()).await, Ok(first.clone()));
        assert_eq!(seen.lock().unwrap().len(), 2);
        let second = ask("2.2.2.2", good(), some()).await.unwrap();
        assert_ne!(second, first);
        // The table is full: a third player is turned away, and nothing grows.
        let third = ask("3.3.3.3", good(), some()).await;
        assert_eq!(third, Err(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(gate.session_count(), 2);
        // A stream that does not exist: 404 once allowed, 403 before.
        assert_eq!(
            ask("1.1.1.1", good(), None).await,
            Err(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            ask("1.1.1.1", String::new(), None).await,
            Err(StatusCode::FORBIDDEN)
        );
        // An overlong query is refused before the hook is asked.
        let long = format!("token=good&pad={}", "x".repeat(MAX_QUERY_LEN));
        assert_eq!(
            ask("4.4.4.4", long, some()).await,
            Err(StatusCode::BAD_REQUEST)
        );

        // Segments: only with a session of their stream.
        let segment = |query: &str| request("9.9.9.9", "/live/cam-3.ts", Some(query));
        let with_session = format!("hls_ctx={first}");
        assert_eq!(
            gate.segment(&segment(&with_session), Some(&stream), idle)
                .map_err(|r| r.status),
            Ok(first.clone())
        );
        let other = StreamName {
            stream: "other".into(),
            ..cam()
        };
        for (query, stream) in [
            ("token=good", Some(&stream)),
            ("hls_ctx=nope", Some(&stream)),
            (with_session.as_str(), Some(&other)),
            (with_session.as_str(), None),
        ] {
            let answer = gate.segment(&segment(query), stream, idle);
            assert_eq!(
                answer.map_err(|r| r.status),
                Err(StatusCode::FORBIDDEN),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn an_expired_session_is_forgotten_and_reports_on_stop() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook = hook_server(seen.clone()).await;
        let mut settings = crate::worker::hub::tests::settings();
        settings.hooks.on_play = vec![hook.clone()];
        settings.hooks.on_stop = vec![hook];
        settings.hooks.timeout_ms = 5000;
        let ctx = WorkerContext::new(settings, false);
        let gate = PlayGate::new(&ctx).unwrap();
        let playlist = request("1.1.1.1", "/live/cam.m3u8", Some("token=good"));
        // An idle limit of zero: the session is stale as soon as any time passed.
        let token = gate.playlist(&playlist, Some(&cam()), Duration::ZERO).await;
        let token = token.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        gate.expire();
        assert_eq!(gate.session_count(), 0);
        let segment = request(
            "1.1.1.1",
            "/live/cam-1.ts",
            Some(&format!("hls_ctx={token}")),
        );
        let answer = gate.segment(&segment, Some(&cam()), Duration::from_secs(10));
        assert_eq!(answer.map_err(|r| r.status), Err(StatusCode::FORBIDDEN));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen.lock().unwrap().iter().any(|a| a == "on_stop") {
            assert!(Instant::now() < deadline, "no on_stop: {:?}", seen.lock());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn splits_the_session_from_the_query() {
        assert_eq!(split_session(""), (None, String::new()));
        assert_eq!(split_session("?token=a"), (None, "?token=a".to_string()));
        assert_eq!(
            split_session("?token=a&hls_ctx=abc&vhost=b"),
            (Some("abc"), "?token=a&vhost=b".to_string())
        );
        assert_eq!(split_session("?hls_ctx=abc"), (Some("abc"), String::new()));
        assert_eq!(split_session("?hls_ctx=&x=1"), (None, "?x=1".to_string()));
        assert_eq!(split_session("?hls_ctx"), (None, String::new()));
        assert_eq!(
            split_session("?hls_ctxx=1"),
            (None, "?hls_ctxx=1".to_string())
        );
    }
}
