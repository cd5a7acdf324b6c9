//! The client registry: every open connection (RTMP and HTTP-FLV), its counters and kick switch,
//! and the snapshots the API lists.

use super::{unix_ms, ClientKind, ClientSnapshot, Hub};
use crate::stream_name::StreamName;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// Per-client counters and the kick switch.
pub struct ClientEntry {
    pub id: u64,
    info: Mutex<ClientInfo>,
    pub send_bytes: AtomicU64,
    pub recv_bytes: AtomicU64,
    pub cancel: CancellationToken,
    connected_ms: u64,
}

#[derive(Clone)]
struct ClientInfo {
    ip: String,
    kind: ClientKind,
    tc_url: String,
    name: Option<StreamName>,
    stream_id: Option<u64>,
}

impl ClientEntry {
    pub fn add_send(&self, n: u64) {
        self.send_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_recv(&self, n: u64) {
        self.recv_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Record what the client is doing (after connect/publish/play).
    pub fn describe(
        &self,
        kind: ClientKind,
        tc_url: &str,
        name: Option<&StreamName>,
        stream: Option<u64>,
    ) {
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        info.kind = kind;
        info.tc_url = tc_url.to_string();
        info.name = name.cloned();
        info.stream_id = stream;
    }
}

/// Removes the client from the hub when its connection ends.
pub struct ClientGuard {
    hub: Arc<Hub>,
    pub entry: Arc<ClientEntry>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.hub.lock_clients().remove(&self.entry.id);
    }
}

impl Hub {
    fn lock_clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<ClientEntry>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections currently open (RTMP and HTTP-FLV).
    pub fn connection_count(&self) -> usize {
        self.lock_clients().len()
    }

    /// Register a connection; it is listed until the guard drops.
    pub fn register_client(self: &Arc<Self>, ip: &str, kind: ClientKind) -> ClientGuard {
        let entry = Arc::new(ClientEntry {
            id: self.next_id(),
            info: Mutex::new(ClientInfo {
                ip: ip.to_string(),
                kind,
                tc_url: String::new(),
                name: None,
                stream_id: None,
            }),
            send_bytes: AtomicU64::new(0),
            recv_bytes: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            connected_ms: unix_ms(),
        });
        self.lock_clients().insert(entry.id, entry.clone());
        ClientGuard {
            hub: self.clone(),
            entry,
        }
    }

    /// Disconnect a client; false when no such client.
    pub fn kick(&self, client_id: u64) -> bool {
        match self.lock_clients().get(&client_id) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    pub fn clients(&self) -> Vec<ClientSnapshot> {
        let entries: Vec<Arc<ClientEntry>> = self.lock_clients().values().cloned().collect();
        let mut out: Vec<ClientSnapshot> = entries
            .iter()
            .map(|c| {
                let info = c.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (vhost, app, stream) = info.name.as_ref().map_or_else(Default::default, |n| {
                    (n.vhost.clone(), n.app.clone(), n.stream.clone())
                });
                ClientSnapshot {
                    id: c.id,
                    stream_id: info.stream_id,
                    vhost,
                    app,
                    stream,
                    ip: info.ip,
                    tc_url: info.tc_url,
                    kind: info.kind,
                    connected_ms: c.connected_ms,
                    send_bytes: c.send_bytes.load(Ordering::Relaxed),
                    recv_bytes: c.recv_bytes.load(Ordering::Relaxed),
                }
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }
}
