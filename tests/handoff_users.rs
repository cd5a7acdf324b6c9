//! The handoff socket against other local users: a name squatted by another uid before the worker
//! binds it is reported by the worker and the rtmp-lb, clients are relayed meanwhile, and the worker
//! takes the name back once it is free; another uid cannot hand the worker a socket. The other
//! user's process is a small Python program run as `nobody` (what `oryx` itself never speaks).

mod common;

use common::cluster::*;
use common::control::as_nobody;
use common::http::metric;
use common::process::ChildGuard;
use oryx::compile::plan::WorkerKind;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";

/// Binds the abstract socket `argv[1]`, says so, then holds it (accepting nothing) until killed.
const SQUATTER: &str = "import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b'\\0' + sys.argv[1].encode())
s.listen(4)
print('bound', flush=True)
time.sleep(300)
";

/// Hands a TCP socket of its own to the handoff socket `argv[1]` and prints the worker's answer
/// (or that it closed first).
const HANDER: &str = "import socket, struct, sys
server = socket.create_server(('127.0.0.1', 0))
client = socket.create_connection(server.getsockname())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(b'\\0' + sys.argv[1].encode())
message = b'OXHO\\x01\\x04' + bytes([127, 0, 0, 1]) + struct.pack('>HI', 5000, 0)
try:
    socket.send_fds(s, [message], [client.fileno()])
    s.settimeout(10)
    print('answer', s.recv(1), flush=True)
except (BrokenPipeError, ConnectionResetError):
    print('closed before the whole message', flush=True)
";

/// `python3 -c program args…` as `nobody`, or `None` (said why) when that cannot run here.
fn python_as_nobody(program: &str, args: &[&str]) -> Option<Command> {
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("no {PYTHON}: the other-user part of this test is skipped");
        return None;
    }
    let mut command = as_nobody(PYTHON)?;
    command.arg("-c").arg(program).args(args);
    Some(command)
}

fn answer_of(mut command: Command) -> String {
    let out = command.output().expect("python runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_squatted_handoff_name_is_reported_and_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let w = worker("w", WorkerKind::Embedded, None);
    let mut plan = plan(vec![w.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let name = oryx::net::handoff::socket_name(w.rtmp);
    let Some(mut squat) = python_as_nobody(SQUATTER, &[&name]) else {
        return;
    };
    let mut squatter = ChildGuard(squat.stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    std::io::BufReader::new(squatter.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "bound", "the squatter holds the name");

    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let worker = worker_role(&plan_file, &w, dir.path());
    let lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());
    wait_for(Duration::from_secs(10), "the worker's report", || {
        let log = worker.log_text();
        (log.contains("handoff socket squatted") && log.contains("uid 65534")).then_some(())
    });

    // Clients still get through (relayed), and the LB says why it relays.
    let url = |stream: &str| format!("rtmp://{}/live/{stream}", lb_plan.listen);
    let _publisher = publish(&media, &url("cam"), dir.path().join("pub.log"));
    assert!(probe(&url("cam")), "play through the LB while squatted");
    let lb_log = lb.log_text();
    assert!(
        lb_log.contains("handoff socket squatted") && lb_log.contains("uid 65534"),
        "{lb_log}"
    );
    let (_, page) = control(lb_plan.control, "GET", "/metrics").unwrap();
    assert!(
        metric(&page, "oryx_rtmp_lb_relays_total{worker=\"w\"}") >= 1.0,
        "{page}"
    );
    assert_eq!(
        metric(&page, "oryx_rtmp_lb_handoffs_total{worker=\"w\"}"),
        0.0
    );

    // The squatter leaves: the worker binds its name and the LB hands clients over again.
    drop(squatter);
    wait_for(
        Duration::from_secs(20),
        "the worker to bind its name",
        || {
            worker
                .log_text()
                .contains("handoff socket bound at last")
                .then_some(())
        },
    );
    assert!(
        probe(&url("cam")),
        "play through the LB after the squatter left"
    );
    let (_, page) = control(lb_plan.control, "GET", "/metrics").unwrap();
    assert!(
        metric(&page, "oryx_rtmp_lb_handoffs_total{worker=\"w\"}") >= 1.0,
        "{page}"
    );
}

#[test]
fn another_user_cannot_hand_the_worker_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let w = worker("w", WorkerKind::Embedded, None);
    let plan = plan(vec![w.clone()]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let worker = worker_role(&plan_file, &w, dir.path());
    let name = oryx::net::handoff::socket_name(w.rtmp);
    let Some(nobody) = python_as_nobody(HANDER, &[&name]) else {
        return;
    };
    // The same program as our own user is taken: the worker answers its one-byte ACK.
    let mut own = Command::new(PYTHON);
    own.arg("-c").arg(HANDER).arg(&name);
    let answer = answer_of(own);
    assert!(answer.contains(r"answer b'\x01'"), "{answer}");
    // As another user it is refused: closed without an answer (maybe before the message went).
    let answer = answer_of(nobody);
    assert!(
        answer.contains("answer b''") || answer.contains("closed before the whole message"),
        "{answer}"
    );
    wait_for(Duration::from_secs(10), "the refusal in the log", || {
        worker
            .log_text()
            .contains("handoff from another user refused")
            .then_some(())
    });
}
