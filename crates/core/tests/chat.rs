//! Accounts, roles, chat rows, bans and polls against SQLite and PostgreSQL.

use stage_core::accounts::Role;
use stage_core::chat::{ChatAction, ChatMessage, ChatSettings, ChatWrite};
use stage_core::db::DbError;
use stage_core::keys;
use stage_testing as testing;

fn msg(id: &str, channel_id: i64, stream_id: i64, body: &str, at: i64) -> ChatMessage {
    ChatMessage {
        id: id.into(),
        channel_id,
        stream_id: Some(stream_id),
        user_id: None,
        user: "guest-1".into(),
        role: "guest".into(),
        body: body.into(),
        deleted: false,
        at,
        tip: None,
    }
}

#[tokio::test]
async fn accounts_roles_chat_bans_and_polls_on_every_backend() {
    for t in testing::databases().await {
        let l = t.label;
        let db = t.open().await;
        let owner = db.ensure_owner("operator").await.unwrap();
        let ch = db
            .create_channel(owner, "demo", false, &keys::hash(&keys::generate()))
            .await
            .unwrap();
        let stream = db.start_stream(&ch).await.unwrap();

        // Accounts: unique names (any case) and emails.
        let ana = db.create_user("Ana", "ANA@x.io", "h").await.unwrap();
        assert_eq!(ana.email.as_deref(), Some("ana@x.io"));
        assert!(
            matches!(
                db.create_user("ana", "b@x.io", "h").await,
                Err(DbError::Conflict(_))
            ),
            "{l}"
        );
        assert!(
            matches!(
                db.create_user("ben", "ana@x.io", "h").await,
                Err(DbError::Conflict(_))
            ),
            "{l}"
        );
        assert_eq!(db.user_by_name("ANA").await.unwrap().unwrap().id, ana.id);
        assert_eq!(
            db.user_by_email("Ana@X.io").await.unwrap().unwrap().id,
            ana.id
        );

        // Roles in a channel: viewer → member → moderator; the operator owns.
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, 0).await.unwrap(),
            Role::Viewer,
            "{l}"
        );
        db.set_membership(ana.id, ch.id, "active", None)
            .await
            .unwrap();
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, 0).await.unwrap(),
            Role::Member,
            "{l}"
        );
        db.set_membership(ana.id, ch.id, "active", Some(1))
            .await
            .unwrap();
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, 0).await.unwrap(),
            Role::Viewer,
            "{l}: lapsed"
        );
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, i64::MAX / 2)
                .await
                .unwrap(),
            Role::Member,
            "{l}: lapsed but within the grace period"
        );
        db.set_membership(ana.id, ch.id, "canceled", None)
            .await
            .unwrap();
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, i64::MAX / 2)
                .await
                .unwrap(),
            Role::Viewer,
            "{l}: cancelled has no grace"
        );
        db.set_moderator(ch.id, ana.id, true).await.unwrap();
        assert_eq!(
            db.channel_role(&ana, ch.id, owner, 0).await.unwrap(),
            Role::Moderator,
            "{l}"
        );
        assert_eq!(db.moderated_channels(ana.id).await.unwrap(), ["demo"]);
        let op = db.user(owner).await.unwrap().unwrap();
        assert_eq!(
            db.channel_role(&op, ch.id, owner, 0).await.unwrap(),
            Role::Owner,
            "{l}"
        );

        // Messages: a batch with a duplicate, a delete and an audit entry.
        let batch = vec![
            ChatWrite::Message(msg("a01", ch.id, stream.id, "one", 1)),
            ChatWrite::Message(msg("a02", ch.id, stream.id, "two", 2)),
            ChatWrite::Message(msg("a02", ch.id, stream.id, "two", 2)),
            ChatWrite::Message(msg("a03", ch.id, stream.id, "three", 3)),
            ChatWrite::Delete {
                channel_id: ch.id,
                id: "a02".into(),
            },
            ChatWrite::Action(ChatAction {
                channel_id: ch.id,
                actor: "stagectl".into(),
                action: "delete".into(),
                target: "a02".into(),
                data: serde_json::json!({}),
                at: 4,
            }),
        ];
        db.chat_write(&batch).await.unwrap();
        let recent: Vec<_> = db
            .recent_chat(ch.id, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(recent, ["one", "three"], "{l}");
        let all = db.stream_chat(stream.id, None, 10).await.unwrap();
        assert_eq!(all.len(), 3, "{l}");
        assert!(all[1].deleted);
        let page = db.stream_chat(stream.id, Some("a03"), 1).await.unwrap();
        assert_eq!(page[0].id, "a02", "{l}");
        assert_eq!(db.chat_actions(ch.id, 10).await.unwrap()[0].target, "a02");

        // Settings, bans and timeouts.
        let s = ChatSettings {
            slow_ms: 5000,
            members_only: true,
            guests: true,
            blocked_words: vec!["spam".into(), "buy now".into()],
        };
        db.set_chat_settings(ch.id, &s).await.unwrap();
        assert_eq!(db.chat_settings(ch.id).await.unwrap(), s, "{l}");
        let ben = db.create_user("ben", "ben@x.io", "h").await.unwrap();
        db.chat_ban(ch.id, ben.id, None, "spam").await.unwrap();
        db.chat_ban(ch.id, ana.id, Some(1), "expired")
            .await
            .unwrap();
        assert_eq!(db.chat_bans(ch.id).await.unwrap(), [(ben.id, None)], "{l}");
        db.chat_unban(ch.id, ben.id).await.unwrap();
        assert!(db.chat_bans(ch.id).await.unwrap().is_empty());

        // Polls: one vote per account.
        let p = db
            .create_poll(
                ch.id,
                Some(stream.id),
                "Q?",
                &["a".into(), "b".into()],
                "ana",
            )
            .await
            .unwrap();
        db.vote(p.id, ana.id, 1).await.unwrap();
        db.vote(p.id, ben.id, 1).await.unwrap();
        assert!(
            matches!(db.vote(p.id, ana.id, 0).await, Err(DbError::Conflict(_))),
            "{l}"
        );
        let closed = db.close_poll(p.id).await.unwrap();
        assert_eq!(
            (closed.status.as_str(), closed.votes.clone()),
            ("closed", vec![0, 2]),
            "{l}"
        );
        assert_eq!(db.polls(ch.id, 5).await.unwrap()[0].id, p.id);
    }
}
