//! The data layer against SQLite and PostgreSQL.

use stage_core::db::{ChannelUpdate, DbError};
use stage_core::keys;
use stage_testing as testing;

#[tokio::test]
async fn channels_keys_and_streams_on_every_backend() {
    for t in testing::databases().await {
        let db = t.open().await;
        let owner = db.ensure_owner("operator").await.unwrap();
        assert_eq!(db.ensure_owner("operator").await.unwrap(), owner);

        let key = keys::generate();
        let ch = db
            .create_channel(owner, "demo", false, &keys::hash(&key))
            .await
            .unwrap();
        assert_eq!(ch.name, "demo");
        assert!(ch.enabled);

        let dup = db
            .create_channel(owner, "demo", false, &keys::hash(&keys::generate()))
            .await;
        assert!(
            matches!(dup, Err(DbError::Conflict(_))),
            "{}: {dup:?}",
            t.label
        );
        let bad = db.create_channel(owner, "Bad Name", false, "x").await;
        assert!(matches!(bad, Err(DbError::Invalid { .. })), "{}", t.label);

        // Key lookup finds the channel only by the right key.
        assert_eq!(db.channel_by_key(&key).await.unwrap().unwrap().id, ch.id);
        assert!(
            db.channel_by_key(&keys::generate())
                .await
                .unwrap()
                .is_none()
        );

        // Rotation: the old key stops working.
        let new_key = keys::generate();
        db.set_key_hash("demo", &keys::hash(&new_key))
            .await
            .unwrap();
        assert!(
            db.channel_by_key(&key).await.unwrap().is_none(),
            "{}",
            t.label
        );
        assert!(db.channel_by_key(&new_key).await.unwrap().is_some());

        let upd = db
            .update_channel(
                "demo",
                &ChannelUpdate {
                    title: Some("Friday <b>Q&A</b>".into()),
                    members_only: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(upd.title, "Friday <b>Q&A</b>");
        assert_eq!(upd.ladder, "default");
        let upd = db
            .update_channel(
                "demo",
                &ChannelUpdate {
                    ladder: Some("source".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(upd.ladder, "source");
        assert!(upd.members_only);
        assert!(upd.enabled);

        // One live stream per channel.
        let s = db.start_stream(&upd).await.unwrap();
        assert_eq!(s.status, "live");
        assert!(s.members_only);
        let again = db.start_stream(&upd).await;
        assert!(
            matches!(again, Err(DbError::Conflict(_))),
            "{}: {again:?}",
            t.label
        );
        db.add_event(s.id, "publish", serde_json::json!({"peer": "127.0.0.1"}))
            .await
            .unwrap();
        assert_eq!(db.live_stream(ch.id).await.unwrap().unwrap().id, s.id);
        db.end_stream(s.id).await.unwrap();
        let ended = db.stream(s.id).await.unwrap().unwrap();
        assert_eq!(ended.status, "ended");
        assert!(ended.ended_at.unwrap() >= ended.started_at.unwrap());
        assert!(db.live_stream(ch.id).await.unwrap().is_none());
        let ev = db.events(s.id).await.unwrap();
        assert_eq!(ev[0].kind, "publish");
        assert_eq!(ev[0].data["peer"], "127.0.0.1");

        // A new stream can start after the last one ended.
        let s2 = db.start_stream(&upd).await.unwrap();
        assert_ne!(s2.id, s.id);
        assert_eq!(db.end_all_live_streams().await.unwrap(), vec![s2.id]);

        db.delete_channel("demo").await.unwrap();
        assert!(db.channel("demo").await.unwrap().is_none());
        assert_eq!(db.count_streams().await.unwrap(), 0, "{}", t.label);
        db.close().await;
    }
}

#[tokio::test]
async fn sqlite_is_shared_by_several_pools_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let a = stage_core::Db::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    a.migrate().await.unwrap();
    let b = stage_core::Db::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let owner = a.ensure_owner("op").await.unwrap();
    let writes = (0..20).map(|i| {
        let db = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            db.create_channel(
                owner,
                &format!("c{i}"),
                false,
                &keys::hash(&keys::generate()),
            )
            .await
            .unwrap()
        }
    });
    futures_join_all(writes).await;
    assert_eq!(b.list_channels().await.unwrap().len(), 20);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().collect();
    let mut out = Vec::new();
    for f in handles {
        out.push(f.await);
    }
    out
}
