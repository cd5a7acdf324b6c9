//! nginx-rtmp, the peer forwards and legacy outputs are proven against: started on loopback under
//! the test's directory, with nginx's stream module for an RTMPS front where a test asks for one.

use super::private_ca::PrivateCa;
use super::process::Proc;
use super::wait::expect_within;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
pub const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// nginx-rtmp with application `live` on `127.0.0.1:rtmp`; with `tls`, nginx's stream module
/// terminating TLS on `127.0.0.1:tls.0` with the certificate of `tls.1` and passing the bytes on to
/// the RTMP port. Killed when dropped; ready when the RTMP port accepts.
pub fn start(dir: &Path, run: &str, rtmp: u16, tls: Option<(u16, &PrivateCa)>) -> Proc {
    for module in [RTMP_MODULE, STREAM_MODULE] {
        assert!(
            Path::new(module).exists(),
            "{module} is required (scripts/test installs libnginx-mod-rtmp and libnginx-mod-stream)"
        );
    }
    let prefix = dir.join(run);
    std::fs::create_dir_all(&prefix).unwrap();
    let mut conf = format!(
        "load_module {RTMP_MODULE};\nload_module {STREAM_MODULE};\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {prefix}/nginx.pid;\nerror_log stderr info;\nevents {{ worker_connections 64; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{rtmp}; chunk_size 4096;\n\
         application live {{ live on; record off; }} }} }}\n",
        prefix = prefix.display()
    );
    if let Some((port, ca)) = tls {
        conf.push_str(&format!(
            "stream {{ server {{ listen 127.0.0.1:{port} ssl;\n\
             ssl_certificate {};\nssl_certificate_key {};\n\
             proxy_pass 127.0.0.1:{rtmp}; }} }}\n",
            ca.chain_pem.display(),
            ca.key_pem.display()
        ));
    }
    let file = prefix.join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let mut command = Command::new("nginx");
    command
        .args(["-e", "stderr", "-p"])
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(&file);
    let proc = Proc::spawn(command, prefix.join("nginx.log"));
    expect_within(Duration::from_secs(10), "nginx to listen", || {
        TcpStream::connect(("127.0.0.1", rtmp)).ok()
    });
    proc
}
