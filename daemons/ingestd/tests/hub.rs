//! The hub with a real database (SQLite, and PostgreSQL where it runs):
//! decisions come back at once, and the rows follow in the order decided.

use ingestd::hub::{self, Departure, Refusal};
use stage_core::Config;
use stage_core::db::Channel;
use stage_testing::databases;
use std::net::SocketAddr;

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    // Nobody listens here: the forwarders keep their backlog and retry.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    cfg.ingestd.packager_media = free.local_addr().unwrap();
    cfg
}

/// A database with channel `c`, and a hub over it.
async fn world(
    t: &stage_testing::TestDb,
) -> (stage_core::Db, Channel, hub::HubHandle, tempfile::TempDir) {
    let db = t.open().await;
    let dir = tempfile::tempdir().unwrap();
    let owner = db.ensure_owner("o").await.unwrap();
    let ch = db.create_channel(owner, "c", false, "h").await.unwrap();
    let hub = hub::spawn(config(dir.path()), db.clone());
    (db, ch, hub, dir)
}

#[tokio::test]
async fn publish_reconnect_and_end_are_written_in_order() {
    for t in databases().await {
        let (db, ch, hub, _dir) = world(&t).await;
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();

        let first = hub.publish(ch.clone(), 1, peer).await.unwrap();
        assert!(!first.resumed, "{}", t.label);
        let live = db
            .live_stream(ch.id)
            .await
            .unwrap()
            .expect("the stream's row");
        assert_eq!(live.id, first.stream_id, "{}", t.label);
        assert!(matches!(
            hub.publish(ch.clone(), 2, peer).await,
            Err(Refusal::AlreadyLive)
        ));

        hub.left(ch.id, 1, Departure::Abrupt, "socket dropped".into())
            .await;
        let again = hub.publish(ch.clone(), 3, peer).await.unwrap();
        assert!(again.resumed, "{}", t.label);
        assert_eq!(again.stream_id, first.stream_id, "{}", t.label);
        // An old connection's departure changes nothing.
        hub.left(ch.id, 1, Departure::Clean, "late".into()).await;
        assert_eq!(hub.status().await.len(), 1, "{}", t.label);
        hub.left(ch.id, 3, Departure::Clean, "publisher stopped".into())
            .await;
        assert!(hub.status().await.is_empty(), "{}", t.label);
        hub.shutdown().await;

        let kinds: Vec<String> = db
            .events(first.stream_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["publish", "publisher_lost", "reconnect", "ended"],
            "{}",
            t.label
        );
        assert!(
            db.live_stream(ch.id).await.unwrap().is_none(),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn two_publishers_at_once_get_one_stream() {
    for t in databases().await {
        let (_db, ch, hub, _dir) = world(&t).await;
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let (a, b) = tokio::join!(
            hub.publish(ch.clone(), 1, peer),
            hub.publish(ch.clone(), 2, peer)
        );
        let granted = [a.is_ok(), b.is_ok()];
        assert_eq!(granted.iter().filter(|g| **g).count(), 1, "{}", t.label);
        let refused = if a.is_ok() { b.err() } else { a.err() };
        assert!(matches!(refused, Some(Refusal::AlreadyLive)), "{}", t.label);
        hub.shutdown().await;
    }
}
