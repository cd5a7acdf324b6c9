//! `{vhost} {app} {stream} {start} {url}` in record paths, forward URLs and exec commands: the one list
//! `check` validates against and the one expansion the worker runs.

/// Every placeholder the language knows, in the order the docs list them.
pub const NAMES: &[&str] = &["vhost", "app", "stream", "start", "url"];

/// The values for one published stream.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    pub vhost: &'a str,
    pub app: &'a str,
    pub stream: &'a str,
    /// UTC, `2026-12-02T06-00-00` ([`start_stamp`]).
    pub start: &'a str,
    /// A loopback RTMP URL that plays the stream from its worker.
    pub url: &'a str,
}

impl<'a> Values<'a> {
    /// The values of stream `name`'s publish that started at `start`, its `{url}` being `url`.
    pub fn of(name: &'a crate::stream_name::StreamName, start: &'a str, url: &'a str) -> Self {
        Values {
            vhost: &name.vhost,
            app: &name.app,
            stream: &name.stream,
            start,
            url,
        }
    }
}

/// A placeholder `check` does not know, with its byte range in the template (braces included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub name: String,
    pub range: std::ops::Range<usize>,
}

/// The placeholders in `template` that are not in [`NAMES`]. `{{` and `}}` are literal braces.
pub fn unknown(template: &str) -> Vec<Unknown> {
    let mut found = Vec::new();
    for_each(template, |piece| {
        if let Piece::Placeholder(name, range) = piece {
            if !NAMES.contains(&name) {
                found.push(Unknown {
                    name: name.to_string(),
                    range,
                });
            }
        }
    });
    found
}

/// `template` with every placeholder replaced; an unknown one is kept as written (check refuses it
/// before a plan exists, so this happens only with a hand-written plan).
pub fn expand(template: &str, values: &Values) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    for_each(template, |piece| match piece {
        Piece::Text(text) => out.push_str(text),
        Piece::Placeholder(name, range) => out.push_str(match name {
            "vhost" => values.vhost,
            "app" => values.app,
            "stream" => values.stream,
            "start" => values.start,
            "url" => values.url,
            _ => &template[range],
        }),
    });
    out
}

/// The `{start}` form of a time: UTC, `YYYY-MM-DDTHH-MM-SS` (no colons, so it is a valid file name
/// everywhere).
pub fn start_stamp(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str, std::ops::Range<usize>),
}

fn for_each<'a>(template: &'a str, mut f: impl FnMut(Piece<'a>)) {
    let bytes = template.as_bytes();
    let (mut i, mut text_start) = (0, 0);
    while i < bytes.len() {
        let doubled = i + 1 < bytes.len() && bytes[i + 1] == bytes[i];
        match bytes[i] {
            b'{' | b'}' if doubled => {
                f(Piece::Text(&template[text_start..=i]));
                i += 2;
                text_start = i;
            }
            b'{' => match template[i + 1..].find(['}', '{']) {
                Some(len) if bytes[i + 1 + len] == b'}' => {
                    f(Piece::Text(&template[text_start..i]));
                    let end = i + 1 + len + 1;
                    f(Piece::Placeholder(&template[i + 1..end - 1], i..end));
                    i = end;
                    text_start = i;
                }
                _ => i += 1,
            },
            _ => i += 1,
        }
    }
    f(Piece::Text(&template[text_start..]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_every_placeholder() {
        let values = Values {
            vhost: "v",
            app: "live",
            stream: "cam",
            start: "2026-12-02T06-00-00",
            url: "rtmp://127.0.0.1:1/live/cam",
        };
        assert_eq!(
            expand("./rec/{app}/{stream}/{start}.mp4", &values),
            "./rec/live/cam/2026-12-02T06-00-00.mp4"
        );
        assert_eq!(
            expand("x {url} {vhost}", &values),
            "x rtmp://127.0.0.1:1/live/cam v"
        );
        assert_eq!(expand("{{app}}", &values), "{app}");
    }

    #[test]
    fn finds_unknown_placeholders_with_their_range() {
        let found = unknown("a/{app}/{strem}.mp4");
        assert_eq!(
            found,
            vec![Unknown {
                name: "strem".into(),
                range: 8..15
            }]
        );
        assert!(unknown("{{literal}} {stream}").is_empty());
    }

    #[test]
    fn start_stamp_is_utc_without_colons() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_191_200);
        assert_eq!(start_stamp(t), "2026-12-02T06-00-00");
        assert_eq!(start_stamp(std::time::UNIX_EPOCH), "1970-01-01T00-00-00");
    }
}
