//! Trickle ICE SDP fragments (`application/trickle-ice-sdpfrag`, RFC 8840 §9, as WHIP/WHEP's
//! `PATCH` carries them, RFC 9725 §4.3.1): the ICE credentials, the candidates with the media line
//! they belong to, end-of-candidates. Sans-IO and bounded: a fragment is at most [`MAX_FRAGMENT`]
//! bytes and [`MAX_CANDIDATES`] candidates; anything that is not SDP's `x=value` lines, or a
//! candidate line without RFC 8839's fixed fields, is an error (the caller answers 400).

use thiserror::Error;

/// Largest fragment read (a browser's trickle of a dozen candidates is about 1 KiB).
pub const MAX_FRAGMENT: usize = 16 * 1024;
/// Most candidates one fragment may carry.
pub const MAX_CANDIDATES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FragError {
    #[error("the fragment is larger than {MAX_FRAGMENT} bytes")]
    TooLarge,
    #[error("line {0} is not an SDP line (`x=value`)")]
    NotSdp(usize),
    #[error("line {0} is not a valid ICE candidate")]
    BadCandidate(usize),
    #[error("more than {MAX_CANDIDATES} candidates")]
    TooManyCandidates,
}

/// One `a=candidate:` line and the media line (`a=mid:`) it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragCandidate {
    pub mid: Option<String>,
    /// The attribute without `a=` (`candidate:1 1 udp 2113929471 203.0.113.5 10100 typ host`).
    pub attribute: String,
}

/// What a fragment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    pub candidates: Vec<FragCandidate>,
    pub end_of_candidates: bool,
}

impl SdpFrag {
    /// Parses a fragment (lines end in CRLF or LF; blank lines are skipped).
    pub fn parse(text: &str) -> Result<SdpFrag, FragError> {
        if text.len() > MAX_FRAGMENT {
            return Err(FragError::TooLarge);
        }
        let mut frag = SdpFrag::default();
        let mut mid = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(FragError::NotSdp(number));
            }
            if bytes[0] == b'm' {
                mid = None;
                continue;
            }
            let Some(attribute) = line.strip_prefix("a=") else {
                continue;
            };
            let (name, value) = attribute.split_once(':').unwrap_or((attribute, ""));
            match name {
                "mid" => mid = Some(value.to_string()),
                "ice-ufrag" => frag.ufrag = Some(value.to_string()),
                "ice-pwd" => frag.pwd = Some(value.to_string()),
                "end-of-candidates" => frag.end_of_candidates = true,
                "candidate" => {
                    if !candidate_fields_valid(value) {
                        return Err(FragError::BadCandidate(number));
                    }
                    if frag.candidates.len() == MAX_CANDIDATES {
                        return Err(FragError::TooManyCandidates);
                    }
                    frag.candidates.push(FragCandidate {
                        mid: mid.clone(),
                        attribute: attribute.to_string(),
                    });
                }
                _ => {}
            }
        }
        Ok(frag)
    }
}

/// RFC 8839 §5.1's fixed fields: foundation, component id, transport, priority, address, port,
/// `typ`, type.
fn candidate_fields_valid(value: &str) -> bool {
    let fields: Vec<&str> = value.split_ascii_whitespace().take(8).collect();
    let [foundation, component, transport, priority, address, port, typ, kind] = fields[..] else {
        return false;
    };
    !foundation.is_empty()
        && foundation.len() <= 32
        && component
            .parse::<u16>()
            .is_ok_and(|c| (1..=256).contains(&c))
        && !transport.is_empty()
        && priority.parse::<u32>().is_ok()
        && !address.is_empty()
        && port.parse::<u16>().is_ok()
        && typ == "typ"
        && matches!(kind, "host" | "srflx" | "prflx" | "relay")
}

/// The first `a=ice-ufrag` of an SDP (an offer's, to tell a trickle from an ICE restart).
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("a=ice-ufrag:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM: &str = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\na=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\na=end-of-candidates\r\n";

    #[test]
    fn reads_a_browser_trickle() {
        let frag = SdpFrag::parse(CHROMIUM).unwrap();
        assert_eq!(frag.ufrag.as_deref(), Some("EsAw"));
        assert_eq!(frag.pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert_eq!(frag.candidates.len(), 2);
        assert_eq!(frag.candidates[0].mid.as_deref(), Some("0"));
        assert!(frag.candidates[1]
            .attribute
            .starts_with("candidate:3471623853 1 udp"));
        assert!(frag.end_of_candidates);
        assert_eq!(SdpFrag::parse("").unwrap(), SdpFrag::default());
    }

    #[test]
    fn refuses_what_is_not_a_fragment() {
        assert_eq!(SdpFrag::parse("hello world"), Err(FragError::NotSdp(1)));
        assert_eq!(
            SdpFrag::parse("a=mid:0\na=candidate:1 1 udp notanumber 192.0.2.1 9 typ host"),
            Err(FragError::BadCandidate(2))
        );
        assert_eq!(
            SdpFrag::parse("a=candidate:1 1 udp 1 192.0.2.1 9 type host"),
            Err(FragError::BadCandidate(1))
        );
        assert_eq!(
            SdpFrag::parse(&"a=x\n".repeat(5000)),
            Err(FragError::TooLarge)
        );
        let many = "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\n".repeat(MAX_CANDIDATES + 1);
        assert_eq!(SdpFrag::parse(&many), Err(FragError::TooManyCandidates));
        // Multi-byte text where the `=` would be: not SDP, not a panic.
        assert_eq!(SdpFrag::parse("é=1"), Err(FragError::NotSdp(1)));
    }

    #[test]
    fn finds_the_offer_ufrag() {
        assert_eq!(
            ice_ufrag("v=0\r\na=ice-ufrag:abcd\r\na=ice-ufrag:zz\r\n"),
            Some("abcd")
        );
        assert_eq!(ice_ufrag("v=0\r\n"), None);
    }
}
