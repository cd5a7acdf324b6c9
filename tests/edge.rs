//! Origin and edge on one machine: `worker "origin"`, three edges with `origin="origin"`, an
//! rtmp-lb and an http-lb in front of all four (`oryx up`). ffmpeg publishes through the rtmp-lb
//! and lands on the origin; RTMP, HTTP-FLV and HLS players through the LBs play from an edge,
//! which pulls the stream from the origin (the API shows the pull on the edge and only the
//! edges' pulls on the origin); a killed and restarted origin, republished, reaches a player that
//! stayed connected to its edge; with a small per-edge share (`edge_share` in the edges' plan
//! entries) a stream's players spread over more than one edge; the last player gone, the pulls
//! stop. Hooks: the edge asks its own `on-play`, the origin admits the edge's pull without asking
//! its own. From a KDL file: an rtmp-lb that lists only the edges takes publishers to their origin,
//! and `edge-share` changed by `oryx reload` reaches the running LB (players then spread) without
//! restarting anything. A burst of HTTP-FLV players through the http-lb spreads over the edges
//! as the share says, before any edge has answered.

mod common;

use common::cluster::*;
use common::hook_server;
use oryx::compile::plan::{Plan, WorkerKind, WorkerPlan};
use oryx::route;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const EDGES: [&str; 3] = ["edge-0", "edge-1", "edge-2"];

/// One origin, three edges of it with `share` (`edge-share`), both LBs over all four.
fn edge_plan(share: Option<u32>) -> Plan {
    let mut workers = vec![worker("origin", WorkerKind::Embedded, None)];
    for name in EDGES {
        let mut edge = worker(name, WorkerKind::Embedded, None);
        edge.origin = Some("origin".into());
        edge.edge_share = share;
        // The language's default `http-flv wait` (the harness's is 0): an HTTP-FLV player on an
        // edge that does not pull the stream yet waits for the pull to start.
        edge.stream.http_flv.wait_ms = 5000;
        workers.push(edge);
    }
    let mut plan = plan(workers);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    plan
}

/// `oryx reload --run-dir RUN_DIR`: (success, stdout and stderr).
fn reload(run_dir: &Path) -> (bool, String) {
    let out = Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(run_dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn api(worker: &WorkerPlan, path: &str) -> Option<serde_json::Value> {
    let (status, body) = control(worker.control, "GET", path).ok()?;
    (status == 200).then_some(())?;
    serde_json::from_str(&body).ok()
}

/// `worker`'s API entry of stream `live/NAME`.
fn stream_entry(worker: &WorkerPlan, name: &str) -> Option<serde_json::Value> {
    api(worker, "/api/v1/streams")?["streams"]
        .as_array()?
        .iter()
        .find(|s| s["app"] == "live" && s["name"] == name)
        .cloned()
}

/// A metric's value on `worker`'s `/metrics`.
fn metric(worker: &WorkerPlan, name: &str) -> Option<f64> {
    let (_, body) = control(worker.control, "GET", "/metrics").ok()?;
    body.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The edges pulling `live/NAME` now.
fn pulling_edges(plan: &Plan, name: &str) -> Vec<String> {
    plan.workers
        .iter()
        .filter(|w| w.origin.is_some())
        .filter(|w| stream_entry(w, name).is_some_and(|s| s["edge"]["state"] == "pulling"))
        .map(|w| w.name.clone())
        .collect()
}

/// Clients of `live/NAME` on `worker` (its publisher included).
fn clients(worker: &WorkerPlan, name: &str) -> u64 {
    stream_entry(worker, name).map_or(0, |s| s["clients"].as_u64().unwrap_or(0))
}

#[test]
fn players_play_from_edges_that_pull_from_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let plan = edge_plan(Some(1));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _up = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 6, Duration::from_secs(60));
    let origin = plan.worker("origin").unwrap().clone();
    let rtmp_lb = plan.rtmp_lb.clone().unwrap().listen;
    let http_lb = plan.http_lb.clone().unwrap().listen;

    // The publisher lands on the origin, never on an edge.
    let mut publisher = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/cam"),
        dir.path().join("pub.log"),
    );
    wait_for(
        Duration::from_secs(20),
        "the origin publishes live/cam",
        || (stream_entry(&origin, "cam")?["publish"]["active"] == true).then_some(()),
    );
    assert!(pulling_edges(&plan, "cam").is_empty());

    // An RTMP player through the rtmp-lb plays from the stream's first edge, which pulls.
    let key = route::stream_key("", "live", "cam");
    let first = route::rank(&key, &EDGES)[0].to_string();
    let edge = plan.worker(&first).unwrap().clone();
    let out = dir.path().join("play.flv");
    let _player = play_to_file(
        &format!("rtmp://{rtmp_lb}/live/cam"),
        &out,
        dir.path().join("play.log"),
    );
    wait_for(
        Duration::from_secs(20),
        "the RTMP player receives media",
        || (file_len(&out) > 100_000).then_some(()),
    );
    assert_eq!(pulling_edges(&plan, "cam"), vec![first.clone()]);
    let pull = stream_entry(&edge, "cam").unwrap()["edge"].clone();
    assert_eq!(pull["origin"], "origin");
    assert!(pull["bytes"].as_u64().unwrap() > 0, "{pull}");
    assert_eq!(metric(&edge, "oryx_edge_pulls"), Some(1.0));
    assert_eq!(metric(&edge, "oryx_edge_pull_starts_total"), Some(1.0));
    // The origin has its publisher and the edge's pull, not the player.
    assert_eq!(clients(&origin, "cam"), 2);

    // HTTP-FLV and HLS through the http-lb play too (from an edge).
    assert!(
        probe(&format!("http://{http_lb}/live/cam.flv")),
        "HTTP-FLV through the http-lb"
    );
    assert!(
        probe(&format!("http://{http_lb}/live/cam.m3u8")),
        "HLS through the http-lb"
    );

    // With one player per edge (`edge-share` 1), more players spread to a second edge, and
    // the origin feeds one pull per edge, not one per player.
    let _more: Vec<_> = (0..3)
        .map(|i| {
            play_to_file(
                &format!("rtmp://{rtmp_lb}/live/cam"),
                &dir.path().join(format!("more-{i}.flv")),
                dir.path().join(format!("more-{i}.log")),
            )
        })
        .collect();
    let spread = wait_for(Duration::from_secs(30), "players on a second edge", || {
        let edges = pulling_edges(&plan, "cam");
        (edges.len() >= 2).then_some(edges)
    });
    assert!(spread.contains(&first), "{spread:?}");
    assert_eq!(clients(&origin, "cam"), 1 + spread.len() as u64);

    // Kill the origin; the shell restarts it and the stream is published again: the first
    // player, which stayed connected to its edge, receives media again.
    let pid = role_pid(&plan, "worker/origin").expect("origin pid");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    drop(publisher);
    wait_for(Duration::from_secs(20), "the origin back", || {
        role_pid(&plan, "worker/origin").filter(|p| *p != pid)
    });
    let before = file_len(&out);
    publisher = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/cam"),
        dir.path().join("pub2.log"),
    );
    wait_for(
        Duration::from_secs(25),
        "the first player receives media after the restart",
        || (file_len(&out) > before + 100_000).then_some(()),
    );
    assert!(pulling_edges(&plan, "cam").contains(&first));
    drop(publisher);

    // Every player gone: after the linger (and the HLS lease) the pulls stop.
    drop(_player);
    drop(_more);
    wait_for(Duration::from_secs(40), "every pull stopped", || {
        plan.workers
            .iter()
            .filter(|w| w.origin.is_some())
            .all(|w| metric(w, "oryx_edge_pulls") == Some(0.0))
            .then_some(())
    });
}

#[test]
fn the_edge_runs_on_play_and_the_origin_admits_its_pull_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (edge_hook, edge_calls) = hook_server::start("play", |body| !body.contains("\"no\""));
    let (origin_hook, origin_calls) = hook_server::start("play", |_| true);
    let mut plan = edge_plan(None);
    for worker in &mut plan.workers {
        let hook = if worker.origin.is_some() {
            &edge_hook
        } else {
            &origin_hook
        };
        worker.stream.hooks.on_play = vec![hook.clone()];
    }
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _up = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 6, Duration::from_secs(60));
    let origin = plan.worker("origin").unwrap().clone();
    let rtmp_lb = plan.rtmp_lb.clone().unwrap().listen;
    let _ok = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/ok"),
        dir.path().join("ok.log"),
    );
    let _no = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/no"),
        dir.path().join("no.log"),
    );
    wait_for(
        Duration::from_secs(20),
        "both streams on the origin",
        || {
            (stream_entry(&origin, "ok").is_some() && stream_entry(&origin, "no").is_some())
                .then_some(())
        },
    );

    assert!(
        probe(&format!("rtmp://{rtmp_lb}/live/ok")),
        "the edge's hook allows live/ok"
    );
    assert!(
        !probe(&format!("rtmp://{rtmp_lb}/live/no")),
        "the edge's hook refuses live/no"
    );
    let asked: Vec<String> = hook_server::json_bodies(&edge_calls)
        .iter()
        .filter_map(|b| b["stream"].as_str().map(str::to_string))
        .collect();
    assert!(
        asked.contains(&"ok".to_string()) && asked.contains(&"no".to_string()),
        "{asked:?}"
    );
    // The edge's pull of live/ok reached the origin past its hook, and carried no credential the
    // hook could see.
    assert!(pulling_edges(&plan, "ok").len() == 1);
    assert!(
        origin_calls.lock().unwrap().is_empty(),
        "{:?}",
        origin_calls.lock().unwrap()
    );
    assert!(pulling_edges(&plan, "no").is_empty());
}

/// The topology of the KDL test: an origin, three edges with `share`, an rtmp-lb over the edges only.
fn edges_only_topology(pool: u16, lb: u16, share: u32) -> String {
    format!(
        r#"oryx 1
ports from={pool} to={}
defaults {{
    hls #false
}}
worker "origin"
worker "edge" count=3 origin="origin" edge-share={share}
rtmp-lb listen="127.0.0.1:{lb}" workers="edge"
"#,
        pool + 29
    )
}

/// The rtmp-lb's `GET /api/v1/backends` entry of `name`.
fn backend(plan: &Plan, name: &str) -> Option<serde_json::Value> {
    let lb = plan.rtmp_lb.as_ref()?.control;
    let (_, body) = control(lb, "GET", "/api/v1/backends").ok()?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    value["backends"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
}

#[test]
fn an_lb_of_edges_takes_publishers_to_their_origin_and_a_reloaded_share_spreads_players() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (pool, lb) = (free_port_run(30), free_port_run(1));
    let file = dir.path().join("edges.kdl");
    std::fs::write(&file, edges_only_topology(pool, lb, 500)).unwrap();
    let plan = oryx::compile::compile_path(&file, None).expect("valid topology");
    // `workers="edge"` routes to the edges' origin too.
    assert_eq!(
        plan.rtmp_lb.as_ref().unwrap().workers,
        ["origin", "edge-0", "edge-1", "edge-2"]
    );
    let run_dir = dir.path().join("run");
    let _up = up(&file, &run_dir);
    wait_all_ready(&plan, 5, Duration::from_secs(60));
    let origin = plan.worker("origin").unwrap().clone();
    let url = format!("rtmp://127.0.0.1:{lb}/live/cam");

    // The publisher through the edges' LB lands on the origin.
    let _publisher = publish(&media, &url, dir.path().join("pub.log"));
    wait_for(
        Duration::from_secs(20),
        "the origin publishes live/cam",
        || (stream_entry(&origin, "cam")?["publish"]["active"] == true).then_some(()),
    );

    // Three players at a share of 500: one edge, the stream's first.
    let key = route::stream_key("", "live", "cam");
    let first = route::rank(&key, &EDGES)[0].to_string();
    let player = |i: usize| {
        let out = dir.path().join(format!("play-{i}.flv"));
        let proc = play_to_file(&url, &out, dir.path().join(format!("play-{i}.log")));
        (proc, out)
    };
    let players: Vec<_> = (0..3).map(player).collect();
    wait_for(
        Duration::from_secs(30),
        "three players receive media",
        || {
            players
                .iter()
                .all(|(_, out)| file_len(out) > 50_000)
                .then_some(())
        },
    );
    assert_eq!(pulling_edges(&plan, "cam"), vec![first.clone()]);
    assert_eq!(backend(&plan, &first).unwrap()["edge_share"], 500);
    let pids: Vec<Option<i32>> = ["rtmp-lb", "worker/origin", "worker/edge-0"]
        .iter()
        .map(|role| role_pid(&plan, role))
        .collect();

    // `edge-share=1` by reload: a hot change of the edges, pushed to the running LB.
    std::fs::write(&file, edges_only_topology(pool, lb, 1)).unwrap();
    let (ok, text) = reload(&run_dir);
    assert!(ok, "{text}");
    assert!(text.contains("worker/edge-0"), "{text}");
    wait_for(Duration::from_secs(10), "the LB uses the new share", || {
        (backend(&plan, &first)?["edge_share"] == 1).then_some(())
    });
    let after: Vec<Option<i32>> = ["rtmp-lb", "worker/origin", "worker/edge-0"]
        .iter()
        .map(|role| role_pid(&plan, role))
        .collect();
    assert_eq!(pids, after, "nothing restarted");

    // Three players at a share of 1 fill three edges' worth: the two new players go to the two
    // idle edges, the first three stay where they are.
    let more: Vec<_> = (3..5).map(player).collect();
    let spread = wait_for(Duration::from_secs(30), "players on every edge", || {
        let edges = pulling_edges(&plan, "cam");
        (edges.len() == EDGES.len()).then_some(edges)
    });
    wait_for(
        Duration::from_secs(30),
        "every player receives media",
        || {
            players
                .iter()
                .chain(&more)
                .all(|(_, out)| file_len(out) > 50_000)
                .then_some(())
        },
    );
    // The origin feeds the publisher and one pull per edge in use.
    assert_eq!(clients(&origin, "cam"), 1 + spread.len() as u64);
    assert_eq!(clients(plan.worker(&first).unwrap(), "cam"), 3 + 1);
}

#[test]
fn a_burst_of_http_flv_players_spreads_over_the_edges_before_any_answers() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (pool, lb, http) = (free_port_run(30), free_port_run(1), free_port_run(1));
    let file = dir.path().join("edges.kdl");
    let text = edges_only_topology(pool, lb, 1)
        + &format!("http-lb listen=\"127.0.0.1:{http}\" workers=\"edge\"\n");
    std::fs::write(&file, text).unwrap();
    let plan = oryx::compile::compile_path(&file, None).expect("valid topology");
    let _up = up(&file, &dir.path().join("run"));
    wait_all_ready(&plan, 6, Duration::from_secs(60));
    let origin = plan.worker("origin").unwrap().clone();
    let _publisher = publish(
        &media,
        &format!("rtmp://127.0.0.1:{lb}/live/cam"),
        dir.path().join("pub.log"),
    );
    wait_for(
        Duration::from_secs(20),
        "the origin publishes live/cam",
        || (stream_entry(&origin, "cam")?["publish"]["active"] == true).then_some(()),
    );
    assert!(pulling_edges(&plan, "cam").is_empty());

    // Three players at once, with one player per edge: no edge has answered (none pulls yet), so
    // only the LB's own count of what it routed can spread them.
    let players: Vec<_> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("flv-{i}.flv"));
            let url = format!("http://127.0.0.1:{http}/live/cam.flv");
            let proc = play_to_file(&url, &out, dir.path().join(format!("flv-{i}.log")));
            (proc, out)
        })
        .collect();
    wait_for(
        Duration::from_secs(30),
        "three HTTP-FLV players receive media",
        || {
            players
                .iter()
                .all(|(_, out)| file_len(out) > 50_000)
                .then_some(())
        },
    );
    let mut edges = pulling_edges(&plan, "cam");
    edges.sort();
    assert_eq!(edges, EDGES, "the burst spread over every edge");
    for edge in EDGES {
        assert_eq!(clients(plan.worker(edge).unwrap(), "cam"), 1 + 1, "{edge}");
    }
}
