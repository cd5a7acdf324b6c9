//! The Chrome DevTools protocol over `--remote-debugging-pipe` (JSON messages ending in a NUL byte,
//! Chromium reading fd 3 and writing fd 4): no WebSocket client needed. Attached to the browser's
//! first page: evaluate script there, take screenshots. Launched through `chromium::Browser`.

use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Cdp {
    to_browser: std::io::PipeWriter,
    replies: mpsc::Receiver<Value>,
    next_id: u64,
    /// The page's session (flat mode): page-level calls carry it.
    session: String,
}

impl Cdp {
    /// Spawn `command` (Chromium with `--remote-debugging-pipe`) with the pipe on fds 3 and 4, and
    /// attach to its page.
    pub fn spawn(mut command: Command) -> (Child, Cdp) {
        let (browser_reads, to_browser) = std::io::pipe().expect("a pipe");
        let (from_browser, browser_writes) = std::io::pipe().expect("a pipe");
        let (read_fd, write_fd) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        // SAFETY: only dup2 (async-signal-safe) between fork and exec; dup2 clears close-on-exec
        // on the new descriptors, so Chromium inherits exactly fds 3 and 4.
        unsafe {
            command.pre_exec(move || {
                // Out of the way first: either end may itself be fd 3 or 4.
                let read = libc::fcntl(read_fd, libc::F_DUPFD, 10);
                let write = libc::fcntl(write_fd, libc::F_DUPFD, 10);
                if read < 0 || write < 0 || libc::dup2(read, 3) < 0 || libc::dup2(write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop((browser_reads, browser_writes));
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_browser);
            let mut message = Vec::new();
            while matches!(reader.read_until(0, &mut message), Ok(n) if n > 0) {
                message.pop_if(|b| *b == 0);
                if let Ok(value) = serde_json::from_slice::<Value>(&message) {
                    // Replies carry their call's id; events are not waited for.
                    if value.get("id").is_some() && tx.send(value).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut cdp = Cdp {
            to_browser,
            replies,
            next_id: 1,
            session: String::new(),
        };
        cdp.attach();
        (child, cdp)
    }

    /// Attach to the first page target (waiting for Chromium to open it).
    fn attach(&mut self) {
        let deadline = Instant::now() + CALL_TIMEOUT;
        let target = loop {
            let targets = self.call("Target.getTargets", json!({})).expect("targets");
            let page = targets["targetInfos"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["targetId"].as_str().map(str::to_string));
            if let Some(page) = page {
                break page;
            }
            assert!(Instant::now() < deadline, "Chromium opened no page");
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .expect("attach to the page");
        self.session = attached["sessionId"].as_str().unwrap_or_default().into();
        // The page has loaded the URL it was started on.
        let loaded = "location.href !== 'about:blank' && document.readyState === 'complete'";
        while self.eval(loaded) != Ok(Value::Bool(true)) {
            assert!(Instant::now() < deadline, "the page did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One call (to the page once attached); its `result`, or the protocol's error.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self
                .replies
                .recv_timeout(left)
                .map_err(|_| format!("{method}: no reply within {CALL_TIMEOUT:?}"))?;
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("{method}: {error}"));
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Evaluate `expression` in the page (promises awaited); its value as JSON.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("{expression}: {exception}"));
        }
        Ok(result["result"]["value"].clone())
    }

    /// A PNG of what the page shows now.
    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = shot["data"].as_str().ok_or("no screenshot data")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())
    }
}
