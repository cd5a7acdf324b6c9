//! E-RTMP negotiation in `connect`, sans-IO: what a client announced (`fourCcList`,
//! `videoFourCcInfoMap` / `audioFourCcInfoMap`, `capsEx`) and what this server answers in `_result`
//! (the codecs it forwards and the extended capabilities it parses).

use super::amf0::Amf0;

/// FourCcInfoMask flags.
pub const CAN_DECODE: u32 = 0x01;
pub const CAN_ENCODE: u32 = 0x02;
pub const CAN_FORWARD: u32 = 0x04;
/// CapsExMask flags.
pub const CAPS_RECONNECT: u32 = 0x01;
pub const CAPS_MULTITRACK: u32 = 0x02;
pub const CAPS_MOD_EX: u32 = 0x04;
pub const CAPS_TIMESTAMP_NANO_OFFSET: u32 = 0x08;

/// Video codecs the server passes on (E-RTMP FourCCs).
pub const SERVER_VIDEO: [&str; 4] = ["avc1", "hvc1", "av01", "vp09"];
/// Audio codecs the server passes on.
pub const SERVER_AUDIO: [&str; 6] = ["Opus", "mp4a", "ac-3", "ec-3", "fLaC", ".mp3"];
/// What the server parses: multitrack (the first track drives its key frames) and ModEx prefixes;
/// it passes on tracks and nanosecond offsets untouched.
pub const SERVER_CAPS_EX: u32 = CAPS_MULTITRACK | CAPS_MOD_EX;

/// What a client announced of E-RTMP in its `connect` command object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnhancedCaps {
    /// Whether the client announced anything of E-RTMP (a list, a map or `capsEx`).
    pub announced: bool,
    /// Whether it listed the codecs it takes (`fourCcList` or an info map): only then is it refused
    /// the others.
    pub listed: bool,
    /// FourCCs the client handles (`*` for any), from `fourCcList` and the info maps (any flag).
    pub fourccs: Vec<String>,
    pub caps_ex: u32,
}

impl EnhancedCaps {
    /// Reads the E-RTMP properties of a `connect` command object (bounded by what was decoded).
    pub fn from_connect(object: &Amf0) -> EnhancedCaps {
        let mut caps = EnhancedCaps::default();
        if let Some(Amf0::StrictArray(list)) = object.get("fourCcList") {
            caps.announced = true;
            caps.listed = true;
            caps.fourccs
                .extend(list.iter().filter_map(Amf0::as_str).map(str::to_string));
        }
        for map in ["videoFourCcInfoMap", "audioFourCcInfoMap"] {
            if let Some(Amf0::Object(entries) | Amf0::EcmaArray(entries)) = object.get(map) {
                caps.announced = true;
                caps.listed = true;
                for (fourcc, flags) in entries {
                    if flags.as_number().is_some_and(|f| f > 0.0) {
                        caps.fourccs.push(fourcc.clone());
                    }
                }
            }
        }
        if let Some(n) = object.get("capsEx").and_then(Amf0::as_number) {
            caps.announced = true;
            caps.caps_ex = if n.is_finite() && n >= 0.0 {
                n.min(f64::from(u32::MAX)) as u32
            } else {
                0
            };
        }
        caps.fourccs.truncate(64);
        caps
    }

    /// Whether the client may be sent `fourcc`. A client that listed no codecs is not refused:
    /// FFmpeg 6.1 and later play HEVC, AV1 and VP9 over E-RTMP without announcing anything.
    pub fn accepts(&self, fourcc: &str) -> bool {
        !self.listed || self.fourccs.iter().any(|f| f == fourcc || f == "*")
    }

    /// What this server adds to the properties of its `connect` `_result` for a client that
    /// announced E-RTMP: the codecs it forwards (list and maps) and its extended capabilities.
    pub fn server_properties() -> Vec<(String, Amf0)> {
        let forward = |codecs: &[&str]| {
            Amf0::Object(
                codecs
                    .iter()
                    .map(|c| (c.to_string(), Amf0::Number(f64::from(CAN_FORWARD))))
                    .collect(),
            )
        };
        let list = SERVER_VIDEO
            .iter()
            .chain(SERVER_AUDIO.iter())
            .map(|c| Amf0::str(c))
            .collect();
        vec![
            ("fourCcList".into(), Amf0::StrictArray(list)),
            ("videoFourCcInfoMap".into(), forward(&SERVER_VIDEO)),
            ("audioFourCcInfoMap".into(), forward(&SERVER_AUDIO)),
            ("capsEx".into(), Amf0::Number(f64::from(SERVER_CAPS_EX))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_maps_and_caps() {
        let object = Amf0::Object(vec![
            ("app".into(), Amf0::str("live")),
            (
                "fourCcList".into(),
                Amf0::StrictArray(vec![
                    Amf0::str("hvc1"),
                    Amf0::str("Opus"),
                    Amf0::Number(1.0),
                ]),
            ),
            (
                "videoFourCcInfoMap".into(),
                Amf0::Object(vec![
                    ("av01".into(), Amf0::Number(1.0)),
                    ("vp09".into(), Amf0::Number(0.0)),
                ]),
            ),
            ("capsEx".into(), Amf0::Number(2.0)),
        ]);
        let caps = EnhancedCaps::from_connect(&object);
        assert!(caps.announced);
        assert_eq!(caps.fourccs, ["hvc1", "Opus", "av01"]);
        assert_eq!(caps.caps_ex, CAPS_MULTITRACK);
        assert!(caps.accepts("hvc1") && caps.accepts("av01"));
        assert!(!caps.accepts("vp09"));
    }

    #[test]
    fn a_client_that_announced_nothing_is_not_refused() {
        let caps = EnhancedCaps::from_connect(&Amf0::Object(vec![("app".into(), Amf0::str("a"))]));
        assert!(!caps.announced);
        assert!(caps.accepts("hvc1"));
        let any = EnhancedCaps::from_connect(&Amf0::Object(vec![(
            "fourCcList".into(),
            Amf0::StrictArray(vec![Amf0::str("*")]),
        )]));
        assert!(any.accepts("av01"));
        let bad =
            EnhancedCaps::from_connect(&Amf0::Object(vec![("capsEx".into(), Amf0::Number(-1.0))]));
        assert_eq!(bad.caps_ex, 0);
    }

    #[test]
    fn answers_what_the_server_forwards() {
        let props = EnhancedCaps::server_properties();
        let object = Amf0::Object(props);
        let Some(Amf0::StrictArray(list)) = object.get("fourCcList") else {
            panic!("no list");
        };
        assert!(list.contains(&Amf0::str("hvc1")) && list.contains(&Amf0::str("Opus")));
        assert_eq!(
            object.get("videoFourCcInfoMap").and_then(|m| m.get("av01")),
            Some(&Amf0::Number(4.0))
        );
        assert_eq!(object.get("capsEx"), Some(&Amf0::Number(6.0)));
    }
}
