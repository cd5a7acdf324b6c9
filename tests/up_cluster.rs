//! `oryx up` running a 3-worker cluster of embedded workers compiled from KDL, exercised with real
//! clients: six streams published through the rtmp-lb land where `oryx plan --route` says (on more
//! than one worker) and play back through the rtmp-lb and as HTTP-FLV through the http-lb; a worker
//! killed with SIGKILL is back within 2 s and its stream can be republished while a player on another
//! worker keeps receiving; a broken file on SIGHUP changes nothing; SIGTERM stops every child and
//! exits 0. A worker added by reload leaves running players alone and takes the streams it ranks first.

mod common;

use common::cluster::*;
use oryx::compile::plan::Plan;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `DIR/cluster.kdl`: three workers from a pool of 30 free ports, and the rtmp-lb, http-lb and
/// api-lb on free loopback ports.
fn cluster_file(dir: &Path) -> std::path::PathBuf {
    let [rtmp, http, api] = [0u16, 1, 2].map(|_| free_addr().port());
    let kdl = dir.join("cluster.kdl");
    let text = format!(
        r#"oryx 1
{ports}
defaults {{
    hls fragment="1s" window=4
    http-flv wait="0s"
}}
worker "live" count=3
rtmp-lb listen="127.0.0.1:{rtmp}" workers="live"
http-lb listen="127.0.0.1:{http}" workers="live"
api-lb listen="127.0.0.1:{api}"
"#,
        ports = port_pool(30)
    );
    std::fs::write(&kdl, text).unwrap();
    kdl
}

/// The worker `oryx plan FILE --route live/STREAM` names.
fn planned_route(file: &Path, stream: &str) -> String {
    let out = Command::new(oryx_bin())
        .arg("plan")
        .arg(file)
        .args(["--route", &format!("live/{stream}"), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    value["worker"].as_str().unwrap().to_string()
}

/// Run `probe` on every URL in parallel; all must succeed.
fn probe_all(urls: &[String]) {
    let handles: Vec<_> = urls
        .iter()
        .cloned()
        .map(|url| std::thread::spawn(move || (probe(&url), url)))
        .collect();
    for handle in handles {
        let (ok, url) = handle.join().unwrap();
        assert!(ok, "ffprobe failed on {url}");
    }
}

#[test]
fn cluster_routes_plays_and_survives_crashes_and_bad_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let kdl = cluster_file(dir.path());
    let run_dir = dir.path().join("run");
    let (plan, mut shell) = up_ready(&kdl, &run_dir, &[], 6);
    let rtmp_lb = plan.rtmp_lb.as_ref().unwrap().listen;
    let http_lb = plan.http_lb.as_ref().unwrap().listen;

    // The rtmp-lb's own view: every worker healthy at its checks (the shell saw them ready, but
    // a check of the LB's that ran before a worker listened marks it down until the next one, and
    // a publisher meanwhile takes the fallback, not its planned worker).
    let lb_control = plan.rtmp_lb.as_ref().unwrap().control;
    common::wait::expect_within(
        Duration::from_secs(20),
        "the rtmp-lb sees every worker",
        || {
            let (_, body) = common::control::control(lb_control, "GET", "/api/v1/backends").ok()?;
            let value: serde_json::Value = serde_json::from_str(&body).ok()?;
            let backends = value["backends"].as_array()?;
            (backends.len() == plan.workers.len() && backends.iter().all(|b| b["healthy"] == true))
                .then_some(())
        },
    );
    // Six streams through the rtmp-lb.
    let streams: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    let mut publishers: Vec<Proc> = streams
        .iter()
        .map(|s| {
            publish(
                &media,
                &format!("rtmp://{rtmp_lb}/live/{s}"),
                dir.path().join(format!("pub-{s}.log")),
            )
        })
        .collect();
    let routes: Vec<String> = streams.iter().map(|s| planned_route(&kdl, s)).collect();
    let distinct: std::collections::BTreeSet<&String> = routes.iter().collect();
    assert!(distinct.len() > 1, "every stream on one worker: {routes:?}");

    // Each stream is on its planned worker (probed there directly), and plays through both LBs.
    let direct: Vec<String> = streams
        .iter()
        .zip(&routes)
        .map(|(s, w)| format!("rtmp://{}/live/{s}", plan.worker(w).unwrap().rtmp))
        .collect();
    // Under load a publisher can take a while to start: wait (bounded) until each stream is
    // published, and name the worker it landed on if that is not the planned one.
    for (s, planned) in streams.iter().zip(&routes) {
        let on = common::wait::wait_for(Duration::from_secs(30), || {
            plan.workers.iter().find_map(|w| {
                let (_, body) =
                    common::control::control(w.control, "GET", "/api/v1/streams").ok()?;
                let value: serde_json::Value = serde_json::from_str(&body).ok()?;
                value["streams"]
                    .as_array()?
                    .iter()
                    .find(|e| e["name"] == s.as_str() && e["publish"]["active"] == true)?;
                Some(w.name.clone())
            })
        });
        assert_eq!(
            on.as_ref(),
            Some(planned),
            "live/{s}: published on {on:?}, planned on {planned}"
        );
    }
    probe_all(&direct);
    probe_all(
        &streams
            .iter()
            .map(|s| format!("rtmp://{rtmp_lb}/live/{s}"))
            .collect::<Vec<_>>(),
    );
    probe_all(
        &streams
            .iter()
            .map(|s| format!("http://{http_lb}/live/{s}.flv"))
            .collect::<Vec<_>>(),
    );
    for s in &streams {
        wait_for(
            Duration::from_secs(15),
            "an HLS playlist via http-lb",
            || {
                let (status, body) = http(http_lb, "GET", &format!("/live/{s}.m3u8")).ok()?;
                (status == 200 && body.contains(".ts")).then_some(())
            },
        );
    }
    let hls: Vec<String> = streams
        .iter()
        .map(|s| format!("http://{http_lb}/live/{s}.m3u8"))
        .collect();
    probe_all(&hls);

    // The api-lb shows each stream on its worker.
    let api = plan.api_lb.as_ref().unwrap().listen;
    let (status, body) = http(api, "GET", "/api/v1/streams").unwrap();
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["code"], 0);
    for (s, w) in streams.iter().zip(&routes) {
        let item = listed["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == s.as_str())
            .unwrap_or_else(|| panic!("{s} missing from {listed}"));
        assert_eq!(item["worker"], w.as_str(), "{item}");
        assert!(
            item["id"].as_str().unwrap().starts_with(&format!("{w}:")),
            "{item}"
        );
    }

    // A player on another worker keeps receiving while the worker of s0 is killed.
    let victim = routes[0].clone();
    let other = streams
        .iter()
        .zip(&routes)
        .find(|(_, w)| **w != victim)
        .map(|(s, _)| s.clone())
        .unwrap();
    let watched = dir.path().join("watched.flv");
    let _player = play_to_file(
        &format!("rtmp://{rtmp_lb}/live/{other}"),
        &watched,
        dir.path().join("player.log"),
    );
    wait_for(Duration::from_secs(10), "the player to receive", || {
        (file_len(&watched) > 50_000).then_some(())
    });
    let victim_role = format!("worker/{victim}");
    let old_pid = role_pid(&plan, &victim_role).unwrap();
    let killed_at = Instant::now();
    unsafe { libc::kill(old_pid, libc::SIGKILL) };
    let size_at_kill = file_len(&watched);
    wait_for(Duration::from_secs(5), "the worker restarted", || {
        role_pid(&plan, &victim_role).filter(|pid| *pid != old_pid)
    });
    assert!(
        killed_at.elapsed() < Duration::from_secs(2),
        "restart took {:?}",
        killed_at.elapsed()
    );
    // Republish s0 (its publisher lost its connection with the worker). It may land on another
    // worker while the restarted one is still marked down; players follow it there once the LB has
    // polled where it is published, which on a loaded machine can take a few seconds.
    publishers[0] = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/{}", streams[0]),
        dir.path().join("republish.log"),
    );
    wait_for(
        Duration::from_secs(15),
        "the republished stream to play through the rtmp-lb",
        || probe(&format!("rtmp://{rtmp_lb}/live/{}", streams[0])).then_some(()),
    );
    assert!(
        file_len(&watched) > size_at_kill + 20_000,
        "the other player stalled"
    );

    // SIGHUP with a broken file: logged, nothing changes.
    let good = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(&kdl, format!("{good}\nworker \"live\" kind=\"bogus\"\n")).unwrap();
    shell.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(10), "the refused reload", || {
        shell.log_text().contains("reload refused").then_some(())
    });
    let size = file_len(&watched);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        file_len(&watched) > size,
        "the player stalled after a refused reload"
    );
    assert!(probe(&format!("http://{http_lb}/live/{other}.flv")));

    // SIGTERM: every child gone, exit 0.
    let pids: Vec<i32> = [
        "worker/live-0",
        "worker/live-1",
        "worker/live-2",
        "rtmp-lb",
        "http-lb",
        "api-lb",
    ]
    .iter()
    .filter_map(|r| role_pid(&plan, r))
    .collect();
    assert_eq!(pids.len(), 6);
    drop(publishers);
    shell.signal(libc::SIGTERM);
    let status = shell
        .wait_exit(Duration::from_secs(15))
        .expect("the shell exits");
    assert!(status.success(), "{status}\n{}", shell.log_text());
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "children survived the shell"
    );
}

#[test]
fn adding_a_worker_on_reload_keeps_players_playing() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let kdl = cluster_file(dir.path());
    let plan: Plan = oryx::compile::compile_path(&kdl, None).unwrap_or_else(|f| panic!("{f}"));
    // Run from the compiled plan's JSON: the reload below adds a worker by editing that plan, with
    // ports this test picked free (not from the plan's pool, which other tests' roles may hold).
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let run_dir = dir.path().join("run");
    let shell = up(&plan_file, &run_dir);
    wait_all_ready(&plan, 6, Duration::from_secs(30));
    let rtmp_lb = plan.rtmp_lb.as_ref().unwrap().listen;

    let _publisher = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/keep"),
        dir.path().join("pub.log"),
    );
    let watched = dir.path().join("watched.flv");
    let _player = play_to_file(
        &format!("rtmp://{rtmp_lb}/live/keep"),
        &watched,
        dir.path().join("player.log"),
    );
    wait_for(Duration::from_secs(15), "the player to receive", || {
        (file_len(&watched) > 50_000).then_some(())
    });
    let lb_pid = role_pid(&plan, "rtmp-lb").unwrap();

    let mut bigger = plan.clone();
    let mut extra = plan.workers[2].clone();
    extra.name = "live-3".into();
    extra.rtmp = free_addr();
    extra.http = free_addr();
    extra.control = free_addr();
    bigger.workers.push(extra.clone());
    for lb in [&mut bigger.rtmp_lb, &mut bigger.http_lb, &mut bigger.api_lb] {
        lb.as_mut().unwrap().workers.push("live-3".into());
    }
    write_plan(&plan_file, &bigger);
    let size = file_len(&watched);
    let out = Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(&run_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("started   worker/live-3"), "{stdout}");
    // One line per role: the LBs take the new worker set in place.
    for lb in ["rtmp-lb", "http-lb", "api-lb"] {
        assert!(stdout.contains(&format!("updated   {lb} ")), "{stdout}");
    }
    assert_eq!(role_pid(&bigger, "rtmp-lb"), Some(lb_pid));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        file_len(&watched) > size + 20_000,
        "the player stalled during the reload"
    );

    // A stream the new worker ranks first lands on it.
    let names: Vec<&str> = bigger.workers.iter().map(|w| w.name.as_str()).collect();
    let stream = (0..100)
        .map(|i| format!("n{i}"))
        .find(|s| oryx::route::rank(&oryx::route::stream_key("", "live", s), &names)[0] == "live-3")
        .unwrap();
    let _second = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/{stream}"),
        dir.path().join("pub2.log"),
    );
    assert!(
        probe(&format!("rtmp://{}/live/{stream}", extra.rtmp)),
        "stream on the new worker"
    );
    assert!(probe(&format!("rtmp://{rtmp_lb}/live/{stream}")));
    drop(shell);
}
