//! The command lines a stream rule runs for one published stream: each `exec` split into words with
//! the placeholders expanded per word, and the transcode's one ffmpeg with an output per
//! rendition; plus where a program is found and how a command is shown (credential masked).

use super::words;
use crate::compile::placeholders::{expand, Values};
use crate::compile::plan::{Rendition, TranscodeRule};
use std::path::{Path, PathBuf};

/// Longest GOP a rendition gets when its source sends no keyframe: keyframes otherwise follow the
/// source's (`-force_key_frames source`), so every variant's segments cut at the same instants.
const MAX_GOP_FRAMES: &str = "600";

/// What kind of child a rule starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Exec,
    Transcode,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Exec, Kind::Transcode];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Transcode => "transcode",
        }
    }
}

/// One child to run: the program as written and its arguments, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub kind: Kind,
    pub program: String,
    pub args: Vec<String>,
}

impl Command {
    /// The command line as the API and the log show it: words quoted where needed, the internal
    /// credential masked.
    pub fn shown(&self) -> String {
        let line = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|word| quote(word))
            .collect::<Vec<_>>()
            .join(" ");
        crate::net::log_text::mask_secrets(&line).into_owned()
    }
}

/// An `exec` command line with `values` expanded in each word.
pub fn exec(line: &str, values: &Values) -> Result<Command, words::SplitError> {
    let mut words = words::split(line)?
        .into_iter()
        .map(|word| expand(&word, values));
    let program = words.next().ok_or(words::SplitError::Empty)?;
    Ok(Command {
        kind: Kind::Exec,
        program,
        args: words.collect(),
    })
}

/// The transcode's ffmpeg: reads `input`, and for each rendition scales, encodes (H.264 keyframes
/// where the source has them; AAC at the rendition's bitrate, or the source's audio copied) and
/// publishes to `output(rendition name)`.
pub fn transcode(rule: &TranscodeRule, input: &str, output: impl Fn(&str) -> String) -> Command {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-i",
        input,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for rendition in &rule.renditions {
        args.extend(rendition_args(rendition));
        args.push(output(&rendition.name));
    }
    Command {
        kind: Kind::Transcode,
        program: rule.binary.clone(),
        args,
    }
}

fn rendition_args(r: &Rendition) -> Vec<String> {
    let video = r.video_bitrate.to_string();
    let mut args: Vec<String> = [
        "-map",
        "0:v",
        "-map",
        "0:a?",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "-b:v".into(),
        video.clone(),
        "-maxrate".into(),
        video,
        "-bufsize".into(),
        (r.video_bitrate * 2).to_string(),
        "-vf".into(),
        format!("scale={}:{}", r.width, r.height),
        "-force_key_frames".into(),
        "source".into(),
        "-sc_threshold".into(),
        "0".into(),
        "-g".into(),
        MAX_GOP_FRAMES.into(),
    ]);
    match r.audio_bitrate {
        Some(bitrate) => args.extend([
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            bitrate.to_string(),
        ]),
        None => args.extend(["-c:a".into(), "copy".into()]),
    }
    // A live output has no end to seek back to for the duration and size.
    args.extend([
        "-flvflags".into(),
        "no_duration_filesize".into(),
        "-f".into(),
        "flv".into(),
    ]);
    args
}

/// Where `program` is: a path as it is (if it is a file), a bare name looked up in `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = Path::new(program);
        return executable(path).then(|| path.to_path_buf());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A word as a shell would need it to read it back as one word.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=?&,%+@*".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            vhost: "__defaultVhost__",
            app: "live",
            stream: "my cam; rm -rf /",
            start: "2026-12-02T06-00-00",
            url: "rtmp://127.0.0.1:1935/live/cam",
        }
    }

    #[test]
    fn exec_expands_per_word_so_a_name_stays_one_word() {
        let cmd = exec("/bin/echo {stream} '{app} x' {url}", &values()).unwrap();
        assert_eq!(cmd.program, "/bin/echo");
        assert_eq!(
            cmd.args,
            [
                "my cam; rm -rf /",
                "live x",
                "rtmp://127.0.0.1:1935/live/cam"
            ]
        );
        assert_eq!(
            cmd.shown(),
            "/bin/echo 'my cam; rm -rf /' 'live x' rtmp://127.0.0.1:1935/live/cam"
        );
        assert!(exec("sh 'oops", &values()).is_err());
    }

    #[test]
    fn transcode_has_one_output_per_rendition() {
        let rule = TranscodeRule {
            binary: "ffmpeg".into(),
            renditions: vec![
                Rendition {
                    name: "360p".into(),
                    width: 640,
                    height: 360,
                    video_bitrate: 800_000,
                    audio_bitrate: Some(96_000),
                },
                Rendition {
                    name: "120p".into(),
                    width: 160,
                    height: 120,
                    video_bitrate: 100_000,
                    audio_bitrate: None,
                },
            ],
        };
        let cmd = transcode(&rule, "rtmp://in/live/cam", |name| {
            format!("rtmp://out/live/cam_{name}")
        });
        assert_eq!(cmd.kind, Kind::Transcode);
        assert_eq!(cmd.program, "ffmpeg");
        let line = cmd.args.join(" ");
        assert!(line
            .starts_with("-hide_banner -nostdin -loglevel warning -i rtmp://in/live/cam -map 0:v"));
        assert!(line.contains("-b:v 800000 -maxrate 800000 -bufsize 1600000 -vf scale=640:360"));
        assert!(line.contains("-force_key_frames source"));
        assert!(line.contains(
            "-c:a aac -b:a 96000 -flvflags no_duration_filesize -f flv rtmp://out/live/cam_360p"
        ));
        assert!(line.ends_with("-vf scale=160:120 -force_key_frames source -sc_threshold 0 -g 600 -c:a copy -flvflags no_duration_filesize -f flv rtmp://out/live/cam_120p"));
    }

    #[test]
    fn programs_are_found_in_path_or_as_paths() {
        assert!(find_program("sh").is_some());
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert!(find_program("no-such-program-oryx").is_none());
        assert!(find_program("/nonexistent/ffmpeg").is_none());
        // A file that is not executable is no program either.
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("ffmpeg");
        std::fs::write(&plain, "x").unwrap();
        assert!(find_program(plain.to_str().unwrap()).is_none());
        assert!(find_program(dir.path().to_str().unwrap()).is_none());
    }

    #[test]
    fn the_credential_is_masked_when_shown() {
        let url = format!(
            "rtmp://127.0.0.1:1/live/cam?{}",
            crate::worker::internal::query_pair()
        );
        let cmd = Command {
            kind: Kind::Exec,
            program: "x".into(),
            args: vec![url],
        };
        assert!(!cmd.shown().contains(crate::worker::internal::token()));
        assert!(cmd.shown().contains("oryx_internal=***"));
    }
}
