//! Stream rules on external workers: the nginx.conf they compile to passes Debian's `nginx -t` with
//! the RTMP module, and the srs.conf sections are pinned by a snapshot.

use oryx::compile::compile_source;
use oryx::runtime::external::{prepare, srs};
use std::path::Path;
use std::process::Command;

const NGINX: &str = "/usr/sbin/nginx";

#[test]
fn nginx_rtmp_rules_compile_to_directives_nginx_accepts() {
    let run = tempfile::tempdir().unwrap();
    let recordings = run.path().join("recordings");
    let text = format!(
        "oryx 1\nworker \"n\" kind=\"nginx-rtmp\" binary=\"{NGINX}\"\n\
         stream \"rec/*\" {{\n    record path=\"{}/{{app}}/{{stream}}-{{start}}.flv\" segment=\"10s\"\n    \
         forward \"rtmp://127.0.0.1:1/backup/{{stream}}\"\n    exec \"/bin/echo {{url}} {{app}} {{stream}}\"\n}}\n\
         stream \"live/**\" {{\n    forward \"rtmp://127.0.0.1:2/{{app}}/fixed\"\n}}\n",
        recordings.display()
    );
    let plan = compile_source("t.kdl", &text, None).unwrap_or_else(|f| panic!("{f}"));
    let worker = &plan.workers[0];
    let command = prepare(worker, run.path()).unwrap();
    let conf = std::fs::read_to_string(command.dir.join("nginx.conf")).unwrap();
    let port = worker.rtmp.port();
    for line in [
        "        application rec {\n            live on;\n            record all;\n".to_string(),
        format!("            record_path {}/rec;\n", recordings.display()),
        "            record_suffix -%Y-%m-%dT%H-%M-%S.flv;\n".into(),
        "            record_interval 10s;\n".into(),
        "            push rtmp://127.0.0.1:1/backup;\n".into(),
        format!("            exec_push /bin/echo rtmp://127.0.0.1:{port}/$app/$name $app $name;\n"),
        "        application live {\n            live on;\n            record off;\n            push rtmp://127.0.0.1:2/live/fixed;\n".into(),
    ] {
        assert!(conf.contains(&line), "{line}\nnot in\n{conf}");
    }
    // nginx-rtmp does not create the recording directory itself.
    assert!(recordings.join("rec").is_dir());
    assert!(
        Path::new(oryx::runtime::external::nginx_rtmp::MODULE_PATH).exists(),
        "Debian's libnginx-mod-rtmp is installed in CI"
    );
    let output = Command::new(NGINX)
        .args(command.validate.as_ref().unwrap())
        .output()
        .expect("run nginx -t");
    assert!(
        output.status.success(),
        "nginx -t: {}\n{conf}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn srs_rules_compile_to_dvr_forward_exec_and_transcode() {
    let text = "oryx 1\nworker \"s\" kind=\"srs\" binary=\"/bin/sh\"\n\
        stream \"**\" {\n    record path=\"/rec/{app}/{stream}/{start}.mp4\" segment=\"10m\"\n    \
        forward \"rtmp://10.0.0.2:1935/{app}/{stream}\"\n    exec \"/bin/thumb {url} {stream}\"\n    \
        hooks { on-record \"http://127.0.0.1:8085/recorded\"; }\n    transcode binary=\"/usr/bin/ffmpeg\" {\n        \
        rendition \"360p\" size=\"640x360\" video-bitrate=\"800k\" audio-bitrate=\"96k\"\n        \
        rendition \"240p\" size=\"426x240\" video-bitrate=\"400k\"\n    }\n}\n\
        stream \"live/*\" {\n    exec \"/never/applies\"\n}\n";
    let plan = compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
    let mut worker = plan.workers[0].clone();
    worker.rtmp.set_port(19350);
    worker.http.set_port(19351);
    worker.control.set_port(19352);
    let conf = srs::config(&worker, Path::new("/run/w"), 1 << 20).text;
    insta::assert_snapshot!("srs-rules", conf);
}
