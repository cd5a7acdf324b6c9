//! HTTP paths of stream files, `/APP/STREAM.EXT` and HLS segments `/APP/STREAM-SEQ.ts`, read the
//! same way by the worker (which serves them) and the http-lb (which routes them), so a path one
//! accepts the other routes to the same stream.
//!
//! The app is everything between the first and the last `/` (`/a/b/s.flv` is app `a/b`, as ffmpeg
//! names `rtmp://host/a/b/s`), without slashes at its ends, as the app of RTMP's `connect`.

/// The file part of a stream URL: `STREAM.EXT`, or `STREAM-SEQ.ts` for an HLS segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFile<'a> {
    /// The stream, without a segment's `-SEQ`.
    pub stream: &'a str,
    /// The extension without its dot (`flv`, `m3u8`, `ts`).
    pub ext: &'a str,
    /// A segment's sequence number (`.ts`, `.m4s`), a part's id, an init segment's generation.
    pub sequence: Option<u64>,
    /// `STREAM-pID.m4s`: an LL-HLS part.
    pub part: bool,
}

/// A path that names a stream's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPath<'a> {
    pub app: &'a str,
    pub file: StreamFile<'a>,
}

/// The most digits a segment number may have (u64 has 20; 19 always parse).
const MAX_SEQUENCE_DIGITS: usize = 19;

/// Read `STREAM.EXT`, `STREAM-SEQ.ts`, and fMP4 HLS's `STREAM-SEQ.m4s` (segment), `STREAM-pID.m4s`
/// (part) and `STREAM-init.mp4` / `STREAM-initN.mp4` (init segment); `None` without a stream, an
/// extension, or (for `.ts`, `.m4s` and `.mp4`) the number.
pub fn parse_file(file: &str) -> Option<StreamFile<'_>> {
    let (stem, ext) = file.rsplit_once('.')?;
    let (stream, sequence, part) = match ext {
        "ts" | "m4s" | "mp4" => {
            let (stream, token) = stem.rsplit_once('-')?;
            let (digits, part, default) = match (ext, token) {
                ("m4s", _) if token.starts_with('p') => (&token[1..], true, None),
                ("mp4", _) => (token.strip_prefix("init")?, false, Some(0)),
                _ => (token, false, None),
            };
            let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
            if !all_digits || digits.len() > MAX_SEQUENCE_DIGITS {
                return None;
            }
            let number = match (digits.is_empty(), default) {
                (true, Some(default)) => default,
                (true, None) => return None,
                (false, _) => digits.parse().ok()?,
            };
            (stream, Some(number), part)
        }
        _ => (stem, None, false),
    };
    if stream.is_empty() || ext.is_empty() || stream.contains('/') {
        return None;
    }
    Some(StreamFile {
        stream,
        ext,
        sequence,
        part,
    })
}

/// Read `/APP/STREAM.EXT` (the path without its query); `None` for anything else.
pub fn parse_path(path: &str) -> Option<StreamPath<'_>> {
    let rest = path.strip_prefix('/')?;
    let (app, file) = rest.rsplit_once('/')?;
    let app = app.trim_matches('/');
    if app.is_empty() {
        return None;
    }
    Some(StreamPath {
        app,
        file: parse_file(file)?,
    })
}

/// A WHEP (play) or WHIP (publish) signaling URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRtcAction {
    Whep,
    Whip,
}

impl WebRtcAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WebRtcAction::Whep => "whep",
            WebRtcAction::Whip => "whip",
        }
    }
}

/// A WebRTC signaling URL: `/APP/STREAM/whep` (a session: `/APP/STREAM/whep/ID`), or SRS's
/// `/rtc/v1/whep/?app=APP&stream=STREAM`; the same for `whip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcPath {
    pub app: String,
    pub stream: String,
    pub action: WebRtcAction,
    /// The session a `DELETE`/`PATCH` is for.
    pub session: Option<String>,
}

impl WebRtcPath {
    /// The stream as a stream file path names it, for [`crate::stream_name::StreamName::from_http`].
    pub fn stream_path(&self) -> StreamPath<'_> {
        StreamPath {
            app: &self.app,
            file: StreamFile {
                stream: &self.stream,
                ext: self.action.as_str(),
                sequence: None,
                part: false,
            },
        }
    }

    /// Where a session of this stream lives (the `Location` of the answer): the stream stays in
    /// the path so the http-lb routes `DELETE`/`PATCH` with the stream's affinity.
    pub fn session_path(&self, session: &str) -> String {
        format!(
            "/{}/{}/{}/{session}",
            self.app,
            self.stream,
            self.action.as_str()
        )
    }
}

fn action(word: &str) -> Option<WebRtcAction> {
    match word {
        "whep" => Some(WebRtcAction::Whep),
        "whip" => Some(WebRtcAction::Whip),
        _ => None,
    }
}

fn simple(part: &str) -> bool {
    !part.is_empty() && !part.contains(['/', '?', '#']) && part != "." && part != ".."
}

/// Read a WHEP/WHIP signaling path (and, for SRS's shape, its query); `None` for anything else.
pub fn parse_webrtc(path: &str, query: Option<&str>) -> Option<WebRtcPath> {
    if let Some(rest) = path.strip_prefix("/rtc/v1/") {
        let action = action(rest.trim_end_matches('/'))?;
        let query = query?;
        let app = super::query::value(query, "app")?
            .trim_matches('/')
            .to_string();
        let stream = super::query::value(query, "stream")?.to_string();
        let ok = !app.is_empty() && !app.contains("//") && simple(&stream);
        return ok.then_some(WebRtcPath {
            app,
            stream,
            action,
            session: None,
        });
    }
    let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    // APP… / STREAM / whep [/ ID]
    let (session, parts) = match parts.iter().rposition(|p| action(p).is_some())? {
        i if i + 1 == parts.len() => (None, &parts[..]),
        i if i + 2 == parts.len() && simple(parts[i + 1]) => {
            (Some(parts[i + 1].to_string()), &parts[..i + 1])
        }
        _ => return None,
    };
    let [app @ .., stream, word] = parts else {
        return None;
    };
    let app = app.join("/");
    let app = app.trim_matches('/');
    if app.is_empty() || !simple(stream) {
        return None;
    }
    Some(WebRtcPath {
        app: app.to_string(),
        stream: stream.to_string(),
        action: action(word)?,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> Option<(&str, &str, &str, Option<u64>)> {
        let p = parse_path(path)?;
        Some((p.app, p.file.stream, p.file.ext, p.file.sequence))
    }

    #[test]
    fn reads_stream_files() {
        assert_eq!(parsed("/live/foo.flv"), Some(("live", "foo", "flv", None)));
        assert_eq!(
            parsed("/live/foo.m3u8"),
            Some(("live", "foo", "m3u8", None))
        );
        assert_eq!(
            parsed("/live/foo-12.ts"),
            Some(("live", "foo", "ts", Some(12)))
        );
        assert_eq!(
            parsed("/live/cam-1-7.ts"),
            Some(("live", "cam-1", "ts", Some(7)))
        );
        assert_eq!(
            parsed("/live/cam.hd.flv"),
            Some(("live", "cam.hd", "flv", None))
        );
        assert_eq!(parsed("/a/b/s.flv"), Some(("a/b", "s", "flv", None)));
        assert_eq!(parsed("/l/c-3.m4s"), Some(("l", "c", "m4s", Some(3))));
        assert_eq!(
            parsed("/l/c-1-p40.m4s"),
            Some(("l", "c-1", "m4s", Some(40)))
        );
        assert!(parse_path("/l/c-p40.m4s").unwrap().file.part);
        assert_eq!(parsed("/l/c-init.mp4"), Some(("l", "c", "mp4", Some(0))));
        assert_eq!(parsed("/l/c-init2.mp4"), Some(("l", "c", "mp4", Some(2))));
        assert_eq!(parsed("//live/s.flv"), Some(("live", "s", "flv", None)));
    }

    #[test]
    fn refuses_other_paths() {
        for path in [
            "",
            "/",
            "/live",
            "/live/",
            "/live/foo",
            "/live/.flv",
            "/live/foo.",
            "/live/foo.ts",
            "/live/foo-.ts",
            "/live/foo-x.ts",
            "/live/foo-p.m4s",
            "/live/foo-p1.ts",
            "/live/foo.mp4",
            "/live/foo-1.mp4",
            "/live/-1.ts",
            "/live/cam-99999999999999999999.ts",
            "//foo.flv",
            "/foo.flv",
            "live/foo.flv",
        ] {
            assert_eq!(parse_path(path), None, "{path}");
        }
    }

    #[test]
    fn reads_webrtc_signaling_paths() {
        let p = parse_webrtc("/live/s/whep", None).unwrap();
        assert_eq!((p.app.as_str(), p.stream.as_str()), ("live", "s"));
        assert_eq!((p.action, p.session), (WebRtcAction::Whep, None));
        let p = parse_webrtc("/a/b/s/whip/abc123", Some("x=1")).unwrap();
        assert_eq!((p.app.as_str(), p.stream.as_str()), ("a/b", "s"));
        assert_eq!(p.action, WebRtcAction::Whip);
        assert_eq!(p.session.as_deref(), Some("abc123"));
        assert_eq!(p.session_path("abc123"), "/a/b/s/whip/abc123");
        let p = parse_webrtc("/rtc/v1/whep/", Some("app=live&stream=cam")).unwrap();
        assert_eq!((p.app.as_str(), p.stream.as_str()), ("live", "cam"));
        assert_eq!(p.session_path("z"), "/live/cam/whep/z");
        for (path, query) in [
            ("/whep", None),
            ("/live/whep", None),
            ("/live/s/whep/a/b", None),
            ("/live/s.flv", None),
            ("/rtc/v1/whep/", None),
            ("/rtc/v1/whep/", Some("app=live")),
            ("/rtc/v1/play/", Some("app=live&stream=s")),
            ("/rtc/v1/whep/", Some("app=live&stream=a/b")),
            ("/live/../whep", None),
        ] {
            assert_eq!(parse_webrtc(path, query), None, "{path} {query:?}");
        }
    }
}
