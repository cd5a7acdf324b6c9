//! The SRT stream id (`SRTO_STREAMID`) → mode and stream name, in both conventions users have:
//! SRS's `#!::r=live/cam,m=publish,h=vhost` (other keys kept as the query; `m=request` plays, and
//! is the default) and MediaMTX's `publish:live/cam[:user:pass]` / `read:live/cam`. A `?query` in
//! the path reaches the hooks, like RTMP's. A bare `live/cam` plays, as SRS reads it.
//!
//! A private copy until merge: the srt-lb's `crate::srt::stream_id` is the shared one, with the
//! same `parse` signature, and the worker switches to it then.

use crate::stream_name::{StreamName, DEFAULT_VHOST};

/// What a caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtMode {
    Publish,
    Play,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtStreamId {
    pub mode: SrtMode,
    pub name: StreamName,
}

/// Why a stream id names no stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("empty stream id")]
    Empty,
    #[error("unknown mode {0:?} (publish or request)")]
    Mode(String),
    #[error("no stream name in the stream id")]
    NoStream,
}

/// The longest stream id SRT carries.
const MAX_LEN: usize = 512;

pub fn parse(id: &str) -> Result<SrtStreamId, StreamIdError> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_LEN {
        return Err(StreamIdError::Empty);
    }
    if let Some(pairs) = id.strip_prefix("#!::") {
        return parse_srs(pairs);
    }
    for (prefix, mode) in [("publish:", SrtMode::Publish), ("read:", SrtMode::Play)] {
        if let Some(rest) = id.strip_prefix(prefix) {
            let mut parts = rest.splitn(3, ':');
            let path = parts.next().unwrap_or("");
            let mut extra = Vec::new();
            if let (Some(user), Some(pass)) = (parts.next(), parts.next()) {
                extra.push(format!("user={user}"));
                extra.push(format!("pass={pass}"));
            }
            return Ok(SrtStreamId {
                mode,
                name: name_of(path, None, &extra)?,
            });
        }
    }
    Ok(SrtStreamId {
        mode: SrtMode::Play,
        name: name_of(id, None, &[])?,
    })
}

fn parse_srs(pairs: &str) -> Result<SrtStreamId, StreamIdError> {
    let (mut path, mut vhost, mut mode) = ("", None, SrtMode::Play);
    let mut extra = Vec::new();
    for pair in pairs.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "r" => path = value,
            "h" => vhost = Some(value).filter(|v| !v.is_empty()),
            "m" => {
                mode = match value {
                    "publish" => SrtMode::Publish,
                    "request" | "play" => SrtMode::Play,
                    other => return Err(StreamIdError::Mode(other.to_string())),
                }
            }
            _ => extra.push(pair.to_string()),
        }
    }
    Ok(SrtStreamId {
        mode,
        name: name_of(path, vhost, &extra)?,
    })
}

/// `app/stream[?query]` (the app is everything before the last `/`, `live` when absent), the
/// vhost from `h=` or the query's `vhost=`, `extra` pairs appended to the query.
fn name_of(path: &str, vhost: Option<&str>, extra: &[String]) -> Result<StreamName, StreamIdError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path = path.trim_matches('/');
    let (app, stream) = path.rsplit_once('/').unwrap_or(("live", path));
    if stream.is_empty() {
        return Err(StreamIdError::NoStream);
    }
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.extend(extra.iter().map(String::as_str));
    let param = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    let from_query = crate::stream_name::query::value(&param, "vhost").map(|v| v.into_owned());
    let vhost = vhost
        .map(str::to_string)
        .or(from_query.filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_VHOST.to_string());
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

    #[test]
    fn srs_convention() {
        let id = parse("#!::r=live/cam?token=1,m=publish,h=example.com,latency=200").unwrap();
        assert_eq!(id.mode, SrtMode::Publish);
        assert_eq!(id.name.key(), "example.com/live/cam");
        assert_eq!(id.name.param, "?token=1&latency=200");
        let id = parse("#!::r=a/b/s,m=request").unwrap();
        assert_eq!((id.mode, id.name.app.as_str()), (SrtMode::Play, "a/b"));
        assert_eq!(
            parse("#!::r=s").unwrap().name.key(),
            "__defaultVhost__/live/s"
        );
        assert!(parse("#!::r=live/s,m=bogus").is_err());
        assert!(parse("#!::m=publish").is_err());
    }

    #[test]
    fn mediamtx_convention() {
        let id = parse("publish:live/cam:alice:secret").unwrap();
        assert_eq!(id.mode, SrtMode::Publish);
        assert_eq!(id.name.key(), "__defaultVhost__/live/cam");
        assert_eq!(id.name.param, "?user=alice&pass=secret");
        let id = parse("read:live/cam?vhost=v").unwrap();
        assert_eq!(
            (id.mode, id.name.key()),
            (SrtMode::Play, "v/live/cam".into())
        );
        assert_eq!(parse("live/cam").unwrap().mode, SrtMode::Play);
        assert!(parse("").is_err());
        assert!(parse("read:").is_err());
    }
}
