//! chatd's HTTP surface. Public: `GET /ws/{channel}` (WebSocket),
//! `GET`/`POST /streams/{id}/chat`, `/healthz`. Admin (loopback, token):
//! `/status`, `/metrics`, and the moderation API stagectl uses.

use crate::Ctx;
use crate::moderation::{self, ModCmd, SettingsPatch};
use crate::policy::Speaker;
use crate::protocol::Refusal;
use crate::room::{Event, RoomMsg, RoomRef};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use stage_core::accounts::Role;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

type Shared = State<Arc<Ctx>>;

fn refusal(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(serde_json::to_value(r).unwrap_or_default()),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(cause = %e, "chatd: request failed");
    refusal(&Refusal::new("internal", "internal error"))
}

/// The public router.
pub fn public_router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/healthz", get(stage_core::http::healthz))
        .route("/ws/{channel}", get(ws))
        .route("/streams/{id}/chat", get(stream_chat).post(post_chat))
        .layer(stage_core::http::token_cors())
        .with_state(ctx)
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// Who holds `token` (a guest without one), as seen in room `room`.
async fn identify(
    ctx: &Ctx,
    token: Option<&str>,
    ip: std::net::IpAddr,
    room: &RoomRef,
) -> Result<Speaker, Response> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(Speaker {
            user_id: None,
            name: format!("guest-{:05x}", rand::random::<u32>() & 0xfffff),
            role: Role::Guest,
            ip,
        });
    };
    let claims = ctx
        .signer
        .verify(token, "login", stage_core::tokens::now_s())
        .map_err(|e| {
            let mut r = refusal(&Refusal::new("bad_token", format!("{e}; log in again")));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        })?;
    let user = ctx.db.user(claims.sub).await.map_err(internal)?;
    let Some(user) = user else {
        let mut r = refusal(&Refusal::new("bad_token", "no such account; log in again"));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return Err(r);
    };
    if user.banned {
        return Err(refusal(&Refusal::new("banned", "this account is banned")));
    }
    let role = ctx
        .db
        .channel_role(
            &user,
            room.channel_id,
            room.owner_id,
            ctx.cfg.billing.grace_ms(),
        )
        .await
        .map_err(internal)?;
    Ok(Speaker {
        user_id: Some(user.id),
        name: user.username,
        role,
        ip,
    })
}

async fn ws(
    State(ctx): Shared,
    Path(channel): Path<String>,
    Query(q): Query<WsQuery>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ip = stage_core::http::client_ip(&ctx.cfg.client_ip_header, addr, &headers);
    let room = match crate::room(&ctx, &channel).await {
        Ok(Some(r)) => r,
        Ok(None) => return refusal(&Refusal::new("not_found", "no such channel")),
        Err(e) => return internal(e),
    };
    let who = match identify(&ctx, q.token.as_deref(), ip, &room).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    // Small buffers: an idle connection should cost a few KB, not the
    // library's 128 KiB defaults.
    upgrade
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| crate::conn::serve(ctx, room, who, socket))
}

#[derive(Deserialize)]
struct Page {
    before: Option<String>,
    limit: Option<i64>,
}

async fn stream_chat(State(ctx): Shared, Path(id): Path<i64>, Query(p): Query<Page>) -> Response {
    match ctx.db.stream(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return refusal(&Refusal::new("not_found", "no such stream")),
        Err(e) => return internal(e),
    }
    let limit = p.limit.unwrap_or(50).clamp(1, 200);
    let msgs = match ctx.db.stream_chat(id, p.before.as_deref(), limit).await {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let list: Vec<_> = msgs
        .iter()
        .map(|m| {
            let mut v = crate::protocol::chat_value(m);
            if m.deleted {
                v["body"] = "".into();
            }
            v["deleted"] = m.deleted.into();
            v
        })
        .collect();
    let next = (list.len() as i64 == limit).then(|| msgs.first().map(|m| m.id.clone()));
    axum::Json(serde_json::json!({"messages": list, "before": next.flatten()})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostBody {
    body: String,
}

async fn post_chat(
    State(ctx): Shared,
    Path(id): Path<i64>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<PostBody>(&body) else {
        return refusal(&Refusal::new("bad_request", "send JSON {\"body\": \"…\"}"));
    };
    let stream = match ctx.db.stream(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return refusal(&Refusal::new("not_found", "no such stream")),
        Err(e) => return internal(e),
    };
    if stream.status != "live" {
        return refusal(&Refusal::new(
            "not_live",
            "the stream is over; its chat is closed",
        ));
    }
    let channel = match ctx.db.channel_by_id(stream.channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return refusal(&Refusal::new("not_found", "no such channel")),
        Err(e) => return internal(e),
    };
    let room = match crate::room(&ctx, &channel.name).await {
        Ok(Some(r)) => r,
        Ok(None) => return refusal(&Refusal::new("not_found", "no such channel")),
        Err(e) => return internal(e),
    };
    let ip = stage_core::http::client_ip(&ctx.cfg.client_ip_header, addr, &headers);
    let who = match identify(&ctx, stage_core::http::bearer(&headers), ip, &room).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (tx, rx) = oneshot::channel();
    let _ = room
        .tx
        .send(RoomMsg::Post {
            who,
            body: req.body,
            reply: tx,
        })
        .await;
    match rx.await {
        Ok(Ok(m)) => (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({
                "id": m.id, "user": m.user, "role": m.role, "body": m.body, "at": m.at,
            })),
        )
            .into_response(),
        Ok(Err(r)) => refusal(&r),
        Err(_) => internal("room stopped"),
    }
}

/// The admin router (behind the admin token except /healthz and /metrics).
pub fn admin_router(ctx: Arc<Ctx>, token: String) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .route(
            stage_core::api::CHAT_SETTINGS.pattern(),
            get(get_settings).post(|s: Shared, Path(c): Path<String>, h: HeaderMap, b: Bytes| {
                act(s, c, "settings", h, b)
            }),
        )
        .route(
            stage_core::api::CHAT_POLLS.pattern(),
            get(list_polls).post(|s: Shared, Path(c): Path<String>, h: HeaderMap, b: Bytes| {
                act(s, c, "polls", h, b)
            }),
        )
        .route(stage_core::api::CHAT_AUDIT.pattern(), get(audit))
        .route(stage_core::api::CHAT_ACTION.pattern(), post(admin_action))
        .route(stage_core::api::CHAT_POLL_CLOSE.pattern(), post(close_poll))
        .route(stage_core::api::CHAT_USER_KICK.pattern(), post(kick))
        .route(stage_core::api::CHAT_STREAMS.pattern(), post(stream_notice))
        .with_state(ctx.clone());
    stage_core::http::admin_router(token, api, move || {
        let ctx = ctx.clone();
        async move {
            let mut out = ctx.metrics.render();
            let rooms = room_status(&ctx).await;
            let per = |f: fn(&stage_core::api::status::RoomStatus) -> u64| {
                rooms
                    .iter()
                    .map(|r| (Some(r.channel.as_str()), f(r)))
                    .collect::<Vec<_>>()
            };
            use stage_core::http::metric_family;
            metric_family(&mut out, "chat_room_viewers", "gauge", &per(|r| r.viewers));
            metric_family(&mut out, "chat_room_clients", "gauge", &per(|r| r.clients));
            metric_family(
                &mut out,
                "chat_room_messages_per_minute",
                "gauge",
                &per(|r| r.messages_per_min),
            );
            out
        }
    })
}

/// Each open room's status (a room that does not answer within 1 s is left out).
async fn room_status(ctx: &Ctx) -> Vec<stage_core::api::status::RoomStatus> {
    let mut rooms = Vec::new();
    for r in ctx.all_rooms() {
        let (tx, rx) = oneshot::channel();
        if r.tx.send(RoomMsg::Status(tx)).await.is_ok()
            && let Ok(Ok(s)) = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await
        {
            rooms.push(s);
        }
    }
    rooms
}

async fn status(State(ctx): Shared) -> Response {
    let rooms = room_status(&ctx).await;
    let m = &ctx.metrics;
    use crate::metrics::Metrics as M;
    axum::Json(stage_core::api::status::ChatStatus {
        daemon: "chatd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_s: ctx.started.elapsed().as_secs(),
        node: format!("{:06x}", ctx.node),
        redis: !ctx.cfg.chat.redis_url.is_empty(),
        connections: M::get(&m.connections),
        messages: M::get(&m.messages),
        deliveries: M::get(&m.deliveries),
        slow_consumer_drops: M::get(&m.slow_consumer_drops),
        rooms,
    })
    .into_response()
}

async fn admin_room(ctx: &Arc<Ctx>, channel: &str) -> Result<RoomRef, Response> {
    match crate::room(ctx, channel).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(refusal(&Refusal::new(
            "not_found",
            format!("no channel `{channel}`"),
        ))),
        Err(e) => Err(internal(e)),
    }
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-stage-actor")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .unwrap_or("stagectl")
        .to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserReq {
    user: String,
    #[serde(default)]
    seconds: u64,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdReq {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollReq {
    question: String,
    options: Vec<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::new("bad_request", format!("bad JSON body: {e}")))
}

async fn admin_action(
    s: Shared,
    Path((channel, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if action == "tip" {
        return tip(s, channel, body).await;
    }
    act(s, channel, &action, headers, body).await
}

/// billingd reports a paid tip: it appears in the room as a highlighted
/// message (on every node) and is kept with the stream's chat.
async fn tip(State(ctx): Shared, channel: String, body: Bytes) -> Response {
    let t = match parse::<crate::room::TipPost>(&body) {
        Ok(t) => t,
        Err(r) => return refusal(&r),
    };
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if room.tx.send(RoomMsg::Tip(t)).await.is_err() {
        return internal("room closed");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn act(
    State(ctx): Shared,
    channel: String,
    action: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cmd = match action {
        "delete" => parse::<IdReq>(&body).map(|r| ModCmd::Delete { id: r.id }),
        "timeout" => parse::<UserReq>(&body).map(|r| ModCmd::Timeout {
            user: r.user,
            seconds: r.seconds,
            reason: r.reason,
        }),
        "ban" => parse::<UserReq>(&body).map(|r| ModCmd::Ban {
            user: r.user,
            reason: r.reason,
        }),
        "unban" => parse::<UserReq>(&body).map(|r| ModCmd::Unban { user: r.user }),
        "settings" => parse::<SettingsPatch>(&body).map(ModCmd::Settings),
        "polls" => parse::<PollReq>(&body).map(|r| ModCmd::PollCreate {
            question: r.question,
            options: r.options,
        }),
        _ => return refusal(&Refusal::new("not_found", "no such action")),
    };
    let cmd = match cmd {
        Ok(c) => c,
        Err(r) => return refusal(&r),
    };
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match moderation::execute(&ctx, &room, &actor(&headers), cmd).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => refusal(&r),
    }
}

async fn close_poll(
    State(ctx): Shared,
    Path((channel, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Response {
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match moderation::execute(
        &ctx,
        &room,
        &actor(&headers),
        ModCmd::PollClose { poll_id: id },
    )
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => refusal(&r),
    }
}

async fn get_settings(State(ctx): Shared, Path(channel): Path<String>) -> Response {
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match ctx.db.chat_settings(room.channel_id).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => internal(e),
    }
}

async fn list_polls(State(ctx): Shared, Path(channel): Path<String>) -> Response {
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match ctx.db.polls(room.channel_id, 50).await {
        Ok(p) => axum::Json(serde_json::json!({"polls": p})).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn audit(
    State(ctx): Shared,
    Path(channel): Path<String>,
    Query(l): Query<Limit>,
) -> Response {
    let room = match admin_room(&ctx, &channel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match ctx
        .db
        .chat_actions(room.channel_id, l.limit.unwrap_or(50).clamp(1, 1000))
        .await
    {
        Ok(a) => axum::Json(serde_json::json!({"actions": a})).into_response(),
        Err(e) => internal(e),
    }
}

/// A platform-wide ban: the account's open connections close (4003) on
/// every node.
async fn kick(State(ctx): Shared, Path(id): Path<i64>) -> Response {
    let ev = Event::Kick { user_id: id };
    crate::deliver(&ctx, "", ev.clone());
    ctx.publish("", &ev);
    axum::Json(serde_json::json!({"kicked": id})).into_response()
}

#[derive(Deserialize)]
struct StreamNotice {
    channel: String,
    stream_id: Option<i64>,
}

/// ingestd says a channel went live (`stream_id`) or ended (`null`), so new
/// messages carry the right stream.
async fn stream_notice(State(ctx): Shared, body: Bytes) -> Response {
    let n = match parse::<StreamNotice>(&body) {
        Ok(n) => n,
        Err(r) => return refusal(&r),
    };
    let ev = Event::Stream {
        stream_id: n.stream_id,
    };
    match ctx.running_room(&n.channel) {
        // Applied here, then sent on to the other nodes.
        Some(r) => {
            let _ = r.tx.send(RoomMsg::Apply(ev)).await;
        }
        // Not open here: other nodes may have it open.
        None => ctx.publish(&n.channel, &ev),
    }
    StatusCode::NO_CONTENT.into_response()
}
