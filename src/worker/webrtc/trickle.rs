//! `PATCH` of a session (RFC 9725 §4.3.1, the same for WHEP): trickle ICE candidates in an
//! `application/trickle-ice-sdpfrag` body are added to the session's engine. oryx is ICE-lite and
//! keeps one ICE session per WebRTC session, so an ICE restart (`If-Match: *`, or new ICE
//! credentials in the fragment) is answered `422 Unprocessable Content`, as the RFC asks of a
//! session that supports trickle but not restarts; an `If-Match` naming another entity-tag, `412
//! Precondition Failed`; a fragment that does not parse, `400`. Candidates the engine cannot use
//! (an mDNS `.local` name, TCP) are dropped silently, as the RFC says.

use super::SessionHandle;
use crate::webrtc::sdpfrag::{SdpFrag, MAX_FRAGMENT};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};

pub async fn patch(handle: &SessionHandle, headers: HeaderMap, body: Body) -> Response<Body> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim()
        .starts_with("application/trickle-ice-sdpfrag")
    {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PATCH takes Content-Type: application/trickle-ice-sdpfrag",
        );
    }
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if if_match == Some("*") {
        return restart_refused();
    }
    let etag = handle.lock().etag.clone();
    if let Some(tag) = if_match.filter(|t| *t != etag) {
        return text(
            StatusCode::PRECONDITION_FAILED,
            &format!("If-Match {tag} does not name this ICE session (its entity-tag is {etag})"),
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FRAGMENT).await else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "the fragment is too large");
    };
    let Ok(fragment) = std::str::from_utf8(&bytes) else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed trickle ICE fragment: not UTF-8",
        );
    };
    let frag = match SdpFrag::parse(fragment) {
        Ok(frag) => frag,
        Err(err) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("malformed trickle ICE fragment: {err}"),
            )
        }
    };
    let mut session = handle.lock();
    if frag
        .ufrag
        .as_ref()
        .is_some_and(|u| Some(u) != session.remote_ufrag.as_ref())
    {
        drop(session);
        return restart_refused();
    }
    let mut added = 0;
    for candidate in &frag.candidates {
        match str0m::Candidate::from_sdp_string(&candidate.attribute) {
            Ok(candidate) => {
                session.rtc().add_remote_candidate(candidate);
                added += 1;
            }
            Err(err) => tracing::debug!(%err, "trickle ICE candidate dropped"),
        }
    }
    drop(session);
    tracing::debug!(
        session = %handle.token,
        added,
        end = frag.end_of_candidates,
        "trickle ICE"
    );
    handle.wake.notify_one();
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn restart_refused() -> Response<Body> {
    text(
        StatusCode::UNPROCESSABLE_ENTITY,
        "ICE restarts are not supported (one ICE session per WebRTC session): POST a new offer",
    )
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{body}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
