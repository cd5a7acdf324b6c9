//! Unit tests of an RTMP connection on the worker, driven by oryx's own client.

use super::*;
use crate::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};

async fn until<F: FnMut() -> bool>(mut check: F) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn kick_disconnects_a_player_and_the_hub_forgets_it() {
    let ctx = WorkerContext::new(crate::worker::hub::tests::settings(), false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, ctx.clone()));
    let config =
        ClientConfig::from_url(&format!("rtmp://{addr}/live/k"), ClientMode::Play).unwrap();
    let mut session = ClientSession::new(config);
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(&session.take_output()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let started = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before play started");
            let events = session.feed(&buf[..n]).unwrap();
            sock.write_all(&session.take_output()).await.unwrap();
            if events.contains(&ClientEvent::Started) {
                return;
            }
        }
    })
    .await;
    assert!(started.is_ok());
    let hub = ctx.hub.clone();
    assert!(until(|| hub.clients().iter().any(|c| c.stream == "k")).await);
    let client = hub.clients()[0].clone();
    assert_eq!(client.kind, ClientKind::RtmpPlay);
    assert_eq!(client.ip, "127.0.0.1");
    assert_eq!(hub.streams().len(), 1);
    assert!(hub.kick(client.id));
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while sock.read(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await;
    assert!(closed.is_ok(), "kicked player was not disconnected");
    assert!(until(|| hub.clients().is_empty() && hub.streams().is_empty()).await);
}
