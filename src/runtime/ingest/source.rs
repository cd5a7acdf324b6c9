//! What an ingest's `from` is and how it is pulled: `rtmp://` and `http(s)://….flv` natively, anything
//! else through an ffmpeg child, whose command line is built here.

/// How a source is pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Played with oryx's RTMP client.
    Rtmp,
    /// An HTTP GET whose body is parsed as FLV tags.
    HttpFlv,
    /// `ffmpeg -c copy` publishes it to the target; `file` sources are read in real time (`-re`).
    Ffmpeg { file: bool },
}

/// The kind of `from`. An `http(s)://` URL is FLV when its path (the query ignored) ends in `.flv`.
pub fn classify(from: &str) -> SourceKind {
    let lower = from.to_ascii_lowercase();
    if lower.starts_with("rtmp://") {
        return SourceKind::Rtmp;
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let path = lower.split(['?', '#']).next().unwrap_or("");
        return if path.ends_with(".flv") {
            SourceKind::HttpFlv
        } else {
            SourceKind::Ffmpeg { file: false }
        };
    }
    // No scheme (a path) or `file:`: a file, read at its own pace rather than as fast as the disk goes.
    let file = !from.contains("://") || lower.starts_with("file:");
    SourceKind::Ffmpeg { file }
}

/// The ffmpeg arguments that publish `from` to `target` (an `rtmp://` URL) without re-encoding,
/// writing `-progress` to `progress` (a loopback address of the role) when given.
pub fn ffmpeg_args(
    from: &str,
    target: &str,
    looping: bool,
    file: bool,
    progress: Option<std::net::SocketAddr>,
) -> Vec<String> {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "warning"]
        .map(String::from)
        .into();
    if let Some(progress) = progress {
        args.extend(["-progress".into(), format!("tcp://{progress}")]);
    }
    if file {
        args.push("-re".into());
    }
    if looping {
        args.extend(["-stream_loop".into(), "-1".into()]);
    }
    args.extend(["-i".into(), from.into()]);
    args.extend(["-c", "copy", "-f", "flv"].map(String::from));
    args.push(target.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        assert_eq!(classify("rtmp://10.0.0.9/live/cam"), SourceKind::Rtmp);
        assert_eq!(classify("RTMP://h/a/s"), SourceKind::Rtmp);
        assert_eq!(classify("http://h/live/cam.flv"), SourceKind::HttpFlv);
        assert_eq!(
            classify("https://h/live/cam.FLV?token=a.m3u8"),
            SourceKind::HttpFlv
        );
        assert_eq!(
            classify("http://h/live/cam.m3u8?x=.flv"),
            SourceKind::Ffmpeg { file: false }
        );
        assert_eq!(
            classify("srt://h:9000?streamid=x"),
            SourceKind::Ffmpeg { file: false }
        );
        assert_eq!(
            classify("rtsp://cam/stream"),
            SourceKind::Ffmpeg { file: false }
        );
        assert_eq!(
            classify("/media/loop.mp4"),
            SourceKind::Ffmpeg { file: true }
        );
        assert_eq!(
            classify("file:/media/a.flv"),
            SourceKind::Ffmpeg { file: true }
        );
    }

    #[test]
    fn ffmpeg_command_copies_to_the_target() {
        let args = ffmpeg_args("/m/a.mp4", "rtmp://127.0.0.1:1935/live/x", true, true, None);
        assert_eq!(
            args.join(" "),
            "-hide_banner -loglevel warning -re -stream_loop -1 -i /m/a.mp4 -c copy -f flv \
             rtmp://127.0.0.1:1935/live/x"
        );
        let progress = "127.0.0.1:9".parse().ok();
        let args = ffmpeg_args("srt://h:1", "rtmp://t/a/s", false, false, progress);
        assert_eq!(args[3..5], ["-progress", "tcp://127.0.0.1:9"]);
        assert!(!args.contains(&"-re".to_string()));
        assert!(!args.contains(&"-stream_loop".to_string()));
    }
}
