//! The control secret every role a test starts shares, and control calls that carry it: every
//! control route but `/healthz` and `/readyz` (and the shell's `/status`) answers 401 without it.

use super::http::{http_with, request_with_headers, HttpAnswer};
use std::net::SocketAddr;
use std::process::Command;

/// The environment variable and the run-directory file that carry the secret (contract names).
pub const ENV: &str = "ORYX_CONTROL_SECRET";
pub const FILE: &str = "control-secret";

/// What the test helpers put in `ORYX_CONTROL_SECRET` of every `oryx role` and `oryx up` they start.
pub const SECRET: &str = "oryx-test-control-secret-5e0c1f4b9a7d";
/// The `Authorization` header that carries [`SECRET`].
pub const AUTH: (&str, &str) = (
    "Authorization",
    "Bearer oryx-test-control-secret-5e0c1f4b9a7d",
);

/// The cluster secret the helpers give topologies that name one (`secret env="ORYX_CLUSTER_SECRET"`):
/// their roles' control secret is derived from it, not [`SECRET`].
pub const CLUSTER_ENV: &str = "ORYX_CLUSTER_SECRET";
pub const CLUSTER_SECRET: &str = "oryx-test-cluster-secret-2b7e91";

/// The `Authorization` value of roles whose plan names the cluster secret [`CLUSTER_SECRET`].
pub fn cluster_bearer() -> String {
    oryx::net::control_secret::Secret::derive(CLUSTER_SECRET.as_bytes()).bearer()
}

/// Give `command` (an `oryx role` or `oryx up`) the tests' control secret, and the tests' cluster
/// secret for topologies that name one.
pub fn with_secret(command: &mut Command) -> &mut Command {
    command.env(ENV, SECRET).env(CLUSTER_ENV, CLUSTER_SECRET)
}

/// One HTTP/1.0 control call with the secret (or, refused, with the one derived from the cluster
/// secret: roles of a multi-host topology); (status, body as text).
pub fn control(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    match http_with(addr, method, path, &[AUTH])? {
        (401, _) => http_with(addr, method, path, &[("Authorization", &cluster_bearer())]),
        answer => Ok(answer),
    }
}

/// `METHOD path` over HTTP/1.1 with the secret (the shape of [`super::http::request`]), or the
/// cluster-derived one as [`control`] does.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Option<HttpAnswer> {
    let answer = request_with_headers(addr, method, path, &[AUTH]).ok()?;
    if answer.status != 401 {
        return Some(answer);
    }
    request_with_headers(addr, method, path, &[("Authorization", &cluster_bearer())]).ok()
}

/// `GET path` with the secret (the shape of [`super::http::get`]).
pub fn get(addr: SocketAddr, path: &str) -> Option<HttpAnswer> {
    request(addr, "GET", path)
}

/// The uid and gid of `nobody`, the other local user of the attack tests.
pub const NOBODY: u32 = 65534;

/// `program` run as `nobody` by `setpriv`, or `None` (the test says why and proves what it can)
/// when this test does not run as root or `setpriv` is missing.
pub fn as_nobody(program: &str) -> Option<Command> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    match (root, setpriv) {
        (true, Some(setpriv)) => {
            let mut command = Command::new(setpriv);
            command
                .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(program);
            Some(command)
        }
        _ => {
            eprintln!("not root or no setpriv: the other-user part of this test is skipped");
            None
        }
    }
}

/// `curl -X METHOD [--data BODY] [headers] URL`: (HTTP status, body); status 0 when curl failed.
pub fn curl_status(
    mut command: Command,
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[&str],
) -> (u16, String) {
    command.args([
        "-sS",
        "--max-time",
        "10",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ]);
    if let Some(body) = body {
        command.args(["--data", body]);
    }
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// The Opus→AAC transcoders the worker at `control` runs now (`oryx_audio_transcodes`).
pub fn opus_to_aac_transcodes(control: SocketAddr) -> Option<u64> {
    get(control, "/metrics")?
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("oryx_audio_transcodes{direction=\"opus_to_aac\"} "))
        .and_then(|v| v.trim().parse().ok())
}
