//! WHEP and WHIP signaling on the worker's HTTP port. `POST` of an SDP offer (`application/sdp`)
//! to `/APP/STREAM/whep` (or SRS's `/rtc/v1/whep/?app=APP&stream=STREAM`) is admitted like an
//! RTMP player or publisher (hooks with the query, one publisher per stream), answered `201
//! Created` with the SDP answer and a `Location: /APP/STREAM/whep/ID`; `DELETE` there ends the
//! session, `PATCH` takes trickle ICE candidates (`trickle.rs`). Refusals say why: 400 for an offer we cannot use, 403 for a hook, 409 for a
//! stream already published, 503 at the session limit.

use super::publish::Ingest;
use super::session::Session;
use super::tasks::{self, Owned};
use super::WebRtc;
use crate::stream_name::{StreamName, VhostRule, WebRtcAction, WebRtcPath};
use crate::webrtc::video::{self, VideoCodec};
use crate::worker::admission::{self, PublishRefused};
use crate::worker::context::HookSubject;
use crate::worker::hub::ClientKind;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use std::sync::Arc;

/// Largest offer read (a browser's is a few KiB).
pub const MAX_OFFER: usize = 64 * 1024;

/// A signaling request, resolved to its stream.
pub struct SignalingRequest {
    pub method: Method,
    pub target: WebRtcPath,
    pub name: StreamName,
    pub ip: String,
    pub headers: HeaderMap,
    pub body: Body,
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

pub async fn handle(service: Arc<WebRtc>, request: SignalingRequest) -> Response<Body> {
    let mut response = match (&request.method, request.target.session.clone()) {
        (&Method::POST, None) => offer(&service, request).await,
        (&Method::DELETE, Some(token)) => match session_of(&service, &request, &token) {
            Some(handle) => {
                handle.close("ended by DELETE");
                text(StatusCode::OK, "session ended")
            }
            None => text(StatusCode::NOT_FOUND, "no such session"),
        },
        (&Method::PATCH, Some(token)) => match session_of(&service, &request, &token) {
            Some(handle) => super::trickle::patch(&handle, request.headers, request.body).await,
            None => text(StatusCode::NOT_FOUND, "no such session"),
        },
        (method, _) => {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not allowed here"),
            );
            let allow = if request.target.session.is_some() {
                "DELETE, PATCH, OPTIONS"
            } else {
                "POST, OPTIONS"
            };
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            response
        }
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location, ETag"),
    );
    response
}

/// The session `token` names, if it is of the stream and the kind the path says.
fn session_of(
    service: &WebRtc,
    request: &SignalingRequest,
    token: &str,
) -> Option<Arc<super::SessionHandle>> {
    service
        .by_token(token)
        .filter(|h| h.stream_key == request.name.key() && h.action == request.target.action)
}

async fn offer(service: &Arc<WebRtc>, request: SignalingRequest) -> Response<Body> {
    let action = request.target.action.as_str();
    let refuse = |status: StatusCode, why: &str| {
        tracing::info!(action, stream = %request.name.key(), client = %request.ip, "WebRTC offer refused: {why}");
        text(status, why)
    };
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.trim().starts_with("application/sdp") {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the offer must be Content-Type: application/sdp",
        );
    }
    let body = match axum::body::to_bytes(request.body, MAX_OFFER).await {
        Ok(body) => body,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the offer is too large"),
    };
    let Ok(text_offer) = std::str::from_utf8(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "malformed SDP offer: not UTF-8");
    };
    // A publisher that offers H.264 publishes H.264 (`video::h264_first`).
    let prepared = match request.target.action {
        WebRtcAction::Whip => video::h264_first(text_offer),
        WebRtcAction::Whep => text_offer.to_string(),
    };
    let offer = match str0m::change::SdpOffer::from_sdp_string(&prepared) {
        Ok(offer) => offer,
        Err(err) => {
            let why = parse_error(&err.to_string());
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("malformed SDP offer: {why}"),
            );
        }
    };
    let Some(slot) = service.ctx.try_connect() else {
        let limit = service.ctx.settings().max_connections;
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("too many connections (max-connections {limit})"),
        );
    };
    let video_codecs = match video_codecs(service, request.target.action, &request.name, text_offer)
    {
        Ok(codecs) => codecs,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
    };
    let ufrag = super::random_token(8);
    let mut session = Session::new(
        service.new_engine(
            &ufrag,
            &super::random_token(24),
            &video_codecs,
            request.target.action,
        ),
        service.candidates.clone(),
    );
    session.video_codecs = video_codecs;
    session.remote_ufrag = crate::webrtc::sdpfrag::ice_ufrag(text_offer).map(str::to_string);
    session.etag = format!("\"{ufrag}\"");
    let answer = match session.rtc().sdp_api().accept_offer(offer) {
        Ok(answer) => answer,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("offer not accepted: {err}"),
            )
        }
    };
    let mut sdp = answer.to_sdp_string();
    if !usable(&sdp) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the offer has neither H.264 video (packetization-mode=1) nor Opus audio",
        );
    }
    let kind = match request.target.action {
        WebRtcAction::Whep => ClientKind::RtcPlay,
        WebRtcAction::Whip => ClientKind::RtcPublish,
    };
    let guard = service.ctx.hub.register_client(&request.ip, kind);
    let tc_url = String::new();
    let who = HookSubject {
        client_id: guard.entry.id,
        ip: &request.ip,
        name: &request.name,
        tc_url: &tc_url,
    };
    let player = match request.target.action {
        WebRtcAction::Whep => match admission::play(&service.ctx, &who, &guard.entry, kind).await {
            Ok(player) => {
                if audio_unplayable(service, &request.name) {
                    sdp = audio_inactive(&sdp);
                }
                Some(player)
            }
            Err(err) => return refuse(StatusCode::FORBIDDEN, &format!("refused: {err}")),
        },
        WebRtcAction::Whip => match admission::publish(&service.ctx, &who, &guard.entry).await {
            Ok(publisher) => {
                guard
                    .entry
                    .describe(kind, "", Some(&request.name), Some(publisher.stream_id()));
                session.ingest = Some(Ingest::new(publisher));
                None
            }
            Err(PublishRefused::Hook(err)) => {
                return refuse(StatusCode::FORBIDDEN, &format!("refused: {err}"))
            }
            Err(PublishRefused::Hub(err)) => return refuse(StatusCode::CONFLICT, &err.to_string()),
        },
    };
    let Some(handle) = service.register(&ufrag, request.target.action, request.name.key(), session)
    else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("too many WebRTC sessions (at most {})", super::MAX_SESSIONS),
        );
    };
    let location = request.target.session_path(&handle.token);
    tracing::info!(
        action,
        stream = %request.name.key(),
        client = %request.ip,
        session = %handle.token,
        "WebRTC session answered"
    );
    let owned = Owned {
        guard,
        _slot: slot,
        name: request.name.clone(),
        ip: request.ip.clone(),
    };
    match player {
        Some(player) => tokio::spawn(tasks::play(service.clone(), handle.clone(), owned, player)),
        None => tokio::spawn(tasks::publish(service.clone(), handle.clone(), owned)),
    };
    let mut response = Response::new(Body::from(sdp));
    *response.status_mut() = StatusCode::CREATED;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("\"{ufrag}\"")) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// The parser's message on one line, without the address it points at (which says where the
/// worker's memory is, not where the offer went wrong).
fn parse_error(message: &str) -> String {
    let mut out = Vec::new();
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.find("PointerOffset(") {
            Some(at) => out.push(line[..at].trim_end().to_string()),
            None => out.push(line.to_string()),
        }
    }
    out.retain(|l| !l.is_empty());
    out.join("; ")
}

/// Whether an answer accepted a video codec we carry or Opus (else the offer had nothing we can
/// send or take).
fn usable(answer: &str) -> bool {
    !video::offered_video_codecs(answer).is_empty()
        || answer.lines().any(|line| {
            line.strip_prefix("a=rtpmap:").is_some_and(|rest| {
                let codec = rest.split_whitespace().nth(1).unwrap_or("");
                codec.to_ascii_lowercase().starts_with("opus/48000")
            })
        })
}

/// The video codecs the session's engine offers, or why the offer cannot be served. A player
/// gets the stream's codec (H.264 while nothing is published yet), which the browser must offer;
/// a publisher, the codecs the hub carries that the browser offers.
fn video_codecs(
    service: &WebRtc,
    action: WebRtcAction,
    name: &StreamName,
    offer: &str,
) -> Result<Vec<VideoCodec>, String> {
    let offered = video::offered_video_codecs(offer);
    match action {
        WebRtcAction::Whep => {
            let header = stream_headers(service, name).0;
            let codec = match header {
                None => VideoCodec::H264,
                Some(tag) => VideoCodec::of_tag(&tag).ok_or_else(|| {
                    "the stream's video codec cannot be carried over WebRTC".to_string()
                })?,
            };
            if !offered.is_empty() && !video::offers(offer, codec) {
                return Err(format!(
                    "stream is {}; this browser offers {}",
                    codec.label(),
                    offered.join(", ")
                ));
            }
            Ok(vec![codec])
        }
        WebRtcAction::Whip => {
            let carried = super::publish::CARRIED;
            let usable = carried.iter().any(|c| video::offers(offer, *c));
            if !usable && offered.iter().any(|c| c == "VP8") {
                return Err(format!(
                    "VP8 cannot be published here: it has no Enhanced RTMP FourCC, so RTMP, HTTP-FLV and HLS players could not get it; offer one of {} (RTCRtpTransceiver.setCodecPreferences)",
                    carried.iter().map(|c| c.sdp_name()).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(carried.to_vec())
        }
    }
}

/// The stream's video and audio sequence headers, as published now.
fn stream_headers(
    service: &WebRtc,
    name: &StreamName,
) -> (Option<bytes::Bytes>, Option<bytes::Bytes>) {
    let key = name.key();
    service
        .ctx
        .hub
        .streams()
        .into_iter()
        .find(|s| crate::stream_name::stream_key(&s.vhost, &s.app, &s.name) == key)
        .map(|s| (s.video_sequence_header, s.audio_sequence_header))
        .unwrap_or_default()
}

/// The stream's audio is AAC and this build cannot transcode it (`audio.rs`).
fn audio_unplayable(service: &WebRtc, name: &StreamName) -> bool {
    let header = stream_headers(service, name).1;
    let aac = header.is_some_and(|h| h.first().is_some_and(|b| b >> 4 == 10));
    aac && !super::audio::aac_supported()
}

/// The answer with its audio m-line made `inactive` (nothing will be sent on it).
pub fn audio_inactive(sdp: &str) -> String {
    let mut in_audio = false;
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio");
        }
        let bare = line.trim_end();
        if in_audio && matches!(bare, "a=sendonly" | "a=sendrecv" | "a=recvonly") {
            out.push_str("a=inactive\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The stream a signaling path names, read as the http-lb reads it.
pub fn stream_name(target: &WebRtcPath, host: &str, query: Option<&str>) -> StreamName {
    StreamName::from_http(VhostRule::HostName, host, &target.stream_path(), query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_do_not_show_addresses() {
        let message = "SDP parse: Parse error at PointerOffset(0x55d8ba8c683d)\nUnexpected `t`\nExpected `v`\n";
        assert_eq!(
            parse_error(message),
            "SDP parse: Parse error at; Unexpected `t`; Expected `v`"
        );
    }

    #[test]
    fn only_the_audio_line_goes_inactive() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n";
        assert_eq!(
            audio_inactive(sdp),
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=inactive\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n"
        );
    }
}
