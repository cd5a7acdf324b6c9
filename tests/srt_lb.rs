//! The srt-lb with real FFmpeg (Debian's 5.1, libsrt) on both ends (issue 14), before oryx's own
//! SRT worker: FFmpeg SRT listeners stand in for the workers' SRT ports. Publishers with either
//! stream-id convention reach the listener rendezvous gives their stream; a passphrase works end to
//! end through the LB (it never sees the key) and a wrong one is refused by the listener; a caller
//! plays what a listener sends.

mod common;

use common::cluster::*;
use common::srt::*;
use oryx::compile::plan::Plan;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Workers `a` and `b` with SRT listeners on free ports, behind an srt-lb.
fn two_worker_plan() -> (Plan, [u16; 2]) {
    let workers = srt_workers(&["a", "b"]);
    let port = |i: usize| workers[i].srt.as_ref().unwrap().listen.port();
    let ports = [port(0), port(1)];
    let mut plan = plan(workers.clone());
    plan.srt_lb = Some(lb(&workers));
    (plan, ports)
}

fn srt_url(lb: SocketAddr, stream_id: &str, extra: &str) -> String {
    format!("srt://{lb}?streamid={stream_id}{extra}")
}

/// Waits until `out` holds at least `bytes`.
fn wait_bytes(out: &Path, bytes: u64, what: &str) {
    wait_for(Duration::from_secs(30), what, || {
        (file_len(out) >= bytes).then_some(())
    });
}

/// The codec types ffprobe finds in a file.
fn probe_file(path: &Path) -> String {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn publishers_reach_the_rendezvous_listener_with_either_stream_id_convention() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (plan, ports) = two_worker_plan();
    let lb_listen = plan.srt_lb.as_ref().unwrap().listen;
    let control = plan.srt_lb.as_ref().unwrap().control;
    let outs = [dir.path().join("a.ts"), dir.path().join("b.ts")];
    let _listeners: Vec<Proc> = (0..2)
        .map(|i| {
            ffmpeg_listener(
                ports[i],
                "",
                &outs[i],
                &dir.path().join(format!("l{i}.log")),
            )
        })
        .collect();
    let _lb = start_srt_lb(&plan, dir.path());

    // One stream for each worker; SRS's convention to one, MediaMTX's to the other.
    let for_a = stream_for("a", &["a", "b"], "cam-a");
    let for_b = stream_for("b", &["a", "b"], "cam-b");
    let _pub_a = ffmpeg_publish(
        &media,
        &srt_url(lb_listen, &format!("#!::r=live/{for_a},m=publish"), ""),
        &dir.path().join("pa.log"),
    );
    let _pub_b = ffmpeg_publish(
        &media,
        &srt_url(lb_listen, &format!("publish:live/{for_b}"), ""),
        &dir.path().join("pb.log"),
    );
    wait_bytes(&outs[0], 100_000, "listener a to receive its stream");
    wait_bytes(&outs[1], 100_000, "listener b to receive its stream");
    let listed = flows(control);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for flow in &listed {
        let stream = flow["stream"].as_str().unwrap();
        let expected = if stream.ends_with(&for_a) { "a" } else { "b" };
        assert_eq!(flow["worker"], expected, "{flow}");
    }
    let text = metrics(control);
    assert!(
        text.contains("oryx_srt_lb_routed_total{worker=\"a\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("oryx_srt_lb_routed_total{worker=\"b\"} 1"),
        "{text}"
    );
    assert!(probe_file(&outs[0]).contains("video"));
}

#[test]
fn a_passphrase_works_through_the_lb_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (plan, ports) = two_worker_plan();
    let lb_listen = plan.srt_lb.as_ref().unwrap().listen;
    let stream = stream_for("a", &["a", "b"], "secret");
    let out = dir.path().join("a.ts");
    let pass = "correct-horse-battery";
    let _listener = ffmpeg_listener(
        ports[0],
        &format!("&passphrase={pass}&pbkeylen=32"),
        &out,
        &dir.path().join("l.log"),
    );
    let _lb = start_srt_lb(&plan, dir.path());
    let id = format!("#!::r=live/{stream},m=publish");

    let mut wrong = ffmpeg_publish(
        &media,
        &srt_url(lb_listen, &id, "&passphrase=not-the-passphrase&pbkeylen=32"),
        &dir.path().join("wrong.log"),
    );
    let status = wrong.wait_exit(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "a wrong passphrase is refused: {status:?} {}",
        wrong.log_text()
    );
    assert_eq!(file_len(&out), 0);
    // Refused by the listener (libsrt's SRT_REJ_BADSECRET), relayed to the caller by the LB.
    let control = plan.srt_lb.as_ref().unwrap().control;
    let text = metrics(control);
    assert!(
        text.contains("oryx_srt_lb_refusals_total{reason=\"worker\"}"),
        "{text}"
    );

    let _right = ffmpeg_publish(
        &media,
        &srt_url(lb_listen, &id, &format!("&passphrase={pass}&pbkeylen=32")),
        &dir.path().join("right.log"),
    );
    wait_bytes(&out, 100_000, "the encrypted stream to arrive");
    assert!(probe_file(&out).contains("video"));
}

#[test]
fn a_caller_plays_what_a_listener_sends() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (plan, ports) = two_worker_plan();
    let lb_listen = plan.srt_lb.as_ref().unwrap().listen;
    let stream = stream_for("b", &["a", "b"], "show");
    // The "worker" sends: FFmpeg as a listener that publishes to whoever calls.
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-re", "-stream_loop", "-1", "-i"])
        .arg(&media)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(format!("srt://127.0.0.1:{}?mode=listener", ports[1]));
    let _sender = Proc::spawn(command, dir.path().join("sender.log"));
    wait_udp_bound(ports[1]);
    let _lb = start_srt_lb(&plan, dir.path());
    let out = dir.path().join("played.ts");
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-y", "-i"])
        .arg(srt_url(
            lb_listen,
            &format!("#!::r=live/{stream},m=request"),
            "",
        ))
        .args(["-t", "3", "-c", "copy", "-f", "mpegts"])
        .arg(&out);
    let mut player = Proc::spawn(command, dir.path().join("player.log"));
    let status = player.wait_exit(Duration::from_secs(30));
    assert!(
        matches!(status, Some(s) if s.success()),
        "{}",
        player.log_text()
    );
    let found = probe_file(&out);
    assert!(
        found.contains("video") && found.contains("audio"),
        "{found}"
    );
}
