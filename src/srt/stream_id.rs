//! SRT stream ids → which stream and which direction, in the two conventions users already have:
//!
//! - SRS (and SRT's access-control recommendation): `#!::r=live/cam,m=publish,h=vhost` — `r` the
//!   resource (`app/stream`, a `?query` allowed), `m` the mode (`publish`, `request` = play, the
//!   default), `h` the vhost; every other key (`u=`, `s=`, `token=`…) is kept in the query, so it
//!   reaches the hooks like an RTMP client's `?token=`.
//! - MediaMTX: `publish:live/cam`, `read:live/cam`, optionally `:user:pass` after the path and a
//!   `?query` on the path.
//!
//! A bare `live/cam` (no prefix) plays, as SRS reads it. FFmpeg 5.1 does not URL-decode its
//! `streamid=` option, so a `%23!::` prefix (a `#` written URL-encoded) is read as `#!::`. The app
//! is everything before the last `/`, as in an HTTP path (`a/b/cam` is app `a/b`).

use crate::stream_name::{query, StreamName, DEFAULT_VHOST};

/// What the caller wants to do with the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtMode {
    Publish,
    Play,
}

/// A parsed stream id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtStreamId {
    pub mode: SrtMode,
    /// vhost (`h=`, else `?vhost=`, else the default one), app, stream and the query (`?…`).
    pub name: StreamName,
    /// MediaMTX's `:user:pass` (SRS's `u=` stays in the query).
    pub user: Option<String>,
    pub pass: Option<String>,
}

/// Why a stream id names no stream; the message says which convention was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream id {id:?}: {reason}")]
pub struct StreamIdError {
    pub id: String,
    pub reason: String,
}

/// What the conventions look like, for error messages.
const EXPECTED: &str = "expected `#!::r=app/stream,m=publish|request` (SRS) or \
                        `publish:app/stream` / `read:app/stream` (MediaMTX)";

/// Read a stream id in either convention.
pub fn parse(id: &str) -> Result<SrtStreamId, StreamIdError> {
    let fail = |reason: String| StreamIdError {
        id: id.chars().take(80).collect(),
        reason,
    };
    let srs = id
        .strip_prefix("#!::")
        .or_else(|| id.strip_prefix("%23!::"));
    if let Some(body) = srs {
        return parse_srs(body).map_err(|reason| {
            fail(format!(
                "{reason} (SRS convention: `#!::r=app/stream,m=publish|request,h=vhost`)"
            ))
        });
    }
    for (prefix, mode) in [("publish:", SrtMode::Publish), ("read:", SrtMode::Play)] {
        if let Some(body) = id.strip_prefix(prefix) {
            return parse_mediamtx(body, mode).map_err(|reason| {
                fail(format!(
                    "{reason} (MediaMTX convention: `{prefix}app/stream[:user:pass]`)"
                ))
            });
        }
    }
    if id.is_empty() {
        return Err(fail(format!("empty; {EXPECTED}")));
    }
    if id.contains([':', ',', '=']) && !id.contains('?') {
        return Err(fail(format!("unknown convention; {EXPECTED}")));
    }
    let name =
        resource(id, None, Vec::new()).map_err(|reason| fail(format!("{reason}; {EXPECTED}")))?;
    Ok(SrtStreamId {
        mode: SrtMode::Play,
        name,
        user: None,
        pass: None,
    })
}

fn parse_srs(body: &str) -> Result<SrtStreamId, String> {
    let mut resource_path = None;
    let mut mode = SrtMode::Play;
    let mut host = None;
    let mut extra = Vec::new();
    for pair in body.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        match key {
            "r" => resource_path = Some(value),
            "m" => {
                mode = match value {
                    "publish" => SrtMode::Publish,
                    "request" | "play" => SrtMode::Play,
                    other => {
                        return Err(format!("mode `m={other}` is neither publish nor request"))
                    }
                }
            }
            "h" => host = Some(value).filter(|h| !h.is_empty()),
            _ => extra.push(pair),
        }
    }
    let path = resource_path.ok_or("no `r=` resource")?;
    let name = resource(path, host, extra)?;
    Ok(SrtStreamId {
        mode,
        name,
        user: None,
        pass: None,
    })
}

fn parse_mediamtx(body: &str, mode: SrtMode) -> Result<SrtStreamId, String> {
    let (body, query_part) = match body.split_once('?') {
        Some((body, q)) => (body, Some(q)),
        None => (body, None),
    };
    let mut parts = body.splitn(3, ':');
    let path = parts.next().unwrap_or("");
    let user = parts.next().map(str::to_string);
    let pass = parts.next().map(str::to_string);
    if user.is_some() && pass.is_none() {
        return Err("a user without a password (`:user:pass`)".into());
    }
    let path = match query_part {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let name = resource(&path, None, Vec::new())?;
    Ok(SrtStreamId {
        mode,
        name,
        user,
        pass,
    })
}

/// `app/stream[?query]` with the SRS extras `extra` appended to the query.
fn resource(path: &str, host: Option<&str>, extra: Vec<&str>) -> Result<StreamName, String> {
    let (path, own_query) = match path.split_once('?') {
        Some((path, q)) => (path, Some(q)),
        None => (path, None),
    };
    let path = path.trim_matches('/');
    let (app, stream) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("`{path}` names no app/stream"))?;
    let app = app.trim_matches('/');
    if app.is_empty() || stream.is_empty() {
        return Err(format!("`{path}` names no app/stream"));
    }
    let pairs: Vec<&str> = own_query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
        .chain(extra)
        .collect();
    let param = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    let vhost = match host {
        Some(host) => host.to_string(),
        None => query::value(&param, "vhost")
            .filter(|v| !v.is_empty())
            .map_or(DEFAULT_VHOST.to_string(), |v| v.into_owned()),
    };
    Ok(StreamName {
        vhost,
        app: app.to_string(),
        stream: stream.to_string(),
        param,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(vhost: &str, app: &str, stream: &str, param: &str) -> StreamName {
        StreamName::new(vhost, app, stream).with_param(param)
    }

    #[test]
    fn srs_convention() {
        let id = parse("#!::r=live/cam,m=publish").unwrap();
        assert_eq!(id.mode, SrtMode::Publish);
        assert_eq!(id.name, name(DEFAULT_VHOST, "live", "cam", ""));
        assert_eq!(id.name.key(), "__defaultVhost__/live/cam");

        let id = parse("#!::h=v.example,r=live/cam?token=1,m=request,u=alice").unwrap();
        assert_eq!(id.mode, SrtMode::Play);
        assert_eq!(
            id.name,
            name("v.example", "live", "cam", "?token=1&u=alice")
        );

        let id = parse("#!::r=a/b/cam").unwrap();
        assert_eq!(
            (id.mode, &*id.name.app, &*id.name.stream),
            (SrtMode::Play, "a/b", "cam")
        );
        let id = parse("%23!::r=live/cam?vhost=v2,m=publish").unwrap();
        assert_eq!(id.name, name("v2", "live", "cam", "?vhost=v2"));
    }

    #[test]
    fn mediamtx_convention() {
        let id = parse("publish:live/cam").unwrap();
        assert_eq!(id.mode, SrtMode::Publish);
        assert_eq!(id.name, name(DEFAULT_VHOST, "live", "cam", ""));
        let id = parse("read:live/cam:bob:secret").unwrap();
        assert_eq!(id.mode, SrtMode::Play);
        assert_eq!(id.user.as_deref(), Some("bob"));
        assert_eq!(id.pass.as_deref(), Some("secret"));
        let id = parse("publish:live/cam?token=abc").unwrap();
        assert_eq!(id.name.param, "?token=abc");
    }

    #[test]
    fn a_bare_path_plays() {
        let id = parse("live/cam?token=1").unwrap();
        assert_eq!(id.mode, SrtMode::Play);
        assert_eq!(id.name, name(DEFAULT_VHOST, "live", "cam", "?token=1"));
    }

    #[test]
    fn errors_name_the_convention_expected() {
        let err = parse("#!::m=publish").unwrap_err().to_string();
        assert!(
            err.contains("no `r=`") && err.contains("SRS convention"),
            "{err}"
        );
        let err = parse("#!::r=live/cam,m=bidirectional")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m=bidirectional"), "{err}");
        let err = parse("publish:cam").unwrap_err().to_string();
        assert!(
            err.contains("MediaMTX convention") && err.contains("app/stream"),
            "{err}"
        );
        let err = parse("read:live/cam:user").unwrap_err().to_string();
        assert!(err.contains("without a password"), "{err}");
        let err = parse("").unwrap_err().to_string();
        assert!(err.contains("SRS") && err.contains("MediaMTX"), "{err}");
        let err = parse("play:live/cam").unwrap_err().to_string();
        assert!(err.contains("unknown convention"), "{err}");
        assert!(parse("#!::r=/,m=publish").is_err());
        assert!(parse("#!::r=live/,m=publish").is_err());
    }
}
