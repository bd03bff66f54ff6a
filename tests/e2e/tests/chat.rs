//! Chat on the watch page, two headless Chromiums on one channel: register
//! and log in, messages within 500 ms, reaction bursts over the video, poll
//! tallies, a moderator's delete and `stagectl chat delete` reaching both,
//! and hostile strings shown as text.

use serde_json::{Value, json};
use stage_e2e::browser::Browser;
use stage_e2e::{Backend, Clip, Publisher, Stack};
use stage_testing::FetchJson;
use std::time::{Duration, Instant};

async fn post(stack: &Stack, path: &str, body: Value) -> (u16, Value) {
    stack.post_json(stack.ports.billing, path, None, body).await
}

async fn until(b: &mut Browser, what: &str, expr: &str, secs: u64) -> Value {
    let r = b.wait_until(expr, secs).await.unwrap();
    assert_eq!(r["ok"], true, "{what}: {r}");
    r
}

/// JS string literal for `s`.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[tokio::test]
async fn two_browsers_chat_react_vote_and_moderate() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    // `stagectl up` made channel `demo`.
    // ben registers over the API and is made a moderator of #demo.
    let (s, v) = post(
        &stack,
        "/auth/register",
        json!({"username": "ben", "email": "ben@example.com", "password": "ben's password"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (code, _, err) = stack.stagectl(&["user", "role", "ben", "moderator", "--channel", "demo"]);
    assert_eq!(code, 0, "{err}");

    let mut a = Browser::open(&stack.url("/watch/demo"))
        .await
        .expect("chromium");
    let mut b = Browser::open(&stack.url("/watch/demo"))
        .await
        .expect("chromium");
    until(
        &mut a,
        "A joins the chat",
        "window.stageChat && window.stageChat.role === 'guest'",
        20,
    )
    .await;

    // A registers from the page; a wrong password on B is refused with a message.
    a.fill("#auth-user", "ana").await.unwrap();
    a.fill("#auth-email", "ana@example.com").await.unwrap();
    a.fill("#auth-pass", "ana's password").await.unwrap();
    a.click("#register").await.unwrap();
    until(
        &mut a,
        "A is logged in",
        "window.stageChat.role === 'viewer' && window.stageChat.connected",
        20,
    )
    .await;
    b.fill("#auth-user", "ben").await.unwrap();
    b.fill("#auth-pass", "not ben's").await.unwrap();
    b.click("#login").await.unwrap();
    until(
        &mut b,
        "a wrong password says so",
        "document.getElementById('autherr').textContent.includes('wrong')",
        10,
    )
    .await;
    b.fill("#auth-pass", "ben's password").await.unwrap();
    b.click("#login").await.unwrap();
    until(
        &mut b,
        "B is a moderator",
        "window.stageChat.role === 'moderator' && window.stageChat.connected",
        20,
    )
    .await;
    until(
        &mut a,
        "both are counted",
        "window.stageChat.viewers === 2",
        10,
    )
    .await;

    // A message typed in A appears in B within 500 ms.
    a.fill("#chatinput", "hello from A").await.unwrap();
    a.click("#chatsend").await.unwrap();
    until(&mut b, "B shows A's message", "[...document.querySelectorAll('#messages .body')].some(e => e.textContent === 'hello from A')", 10).await;
    let sent = a
        .eval("window.stageChat.sentLog.find(x => x[0] === 'hello from A')[1]")
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let got = b
        .eval("window.stageChat.gotLog.find(x => x[0] === 'hello from A')[1]")
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    eprintln!("A → B delivery: {} ms", got - sent);
    assert!(got - sent < 500, "A → B took {} ms", got - sent);
    let who = b
        .eval("[...document.querySelectorAll('#messages .msg')].find(e => e.querySelector('.body').textContent === 'hello from A').querySelector('.user').textContent")
        .await
        .unwrap();
    assert_eq!(who, "ana");

    // A reaction click in A makes a burst appear over B's video.
    a.click(".react[data-emoji='🔥']").await.unwrap();
    until(
        &mut b,
        "a burst over B's video",
        "!!document.querySelector('.stage #bursts .burst') || window.stageChat.bursts > 0",
        10,
    )
    .await;
    let bursts = b.eval("window.stageChat.bursts").await.unwrap();
    assert!(bursts.as_u64().unwrap() >= 1);

    // The moderator opens a poll from the page; A votes; both tallies move.
    b.click("#modtools summary").await.unwrap();
    b.fill("#pollq", "Which map next?").await.unwrap();
    b.fill("#pollopts", "Dust, Inferno").await.unwrap();
    b.click("#pollcreate").await.unwrap();
    until(
        &mut a,
        "A sees the poll",
        "window.stageChat.poll && window.stageChat.poll.question === 'Which map next?'",
        10,
    )
    .await;
    a.click("#poll .opt[data-option='1']").await.unwrap();
    for (name, br) in [("A", &mut a), ("B", &mut b)] {
        until(
            br,
            &format!("{name}'s tally shows the vote"),
            "document.querySelector(\"#poll .opt[data-option='1'] .tally\").textContent.startsWith('1 ')",
            10,
        )
        .await;
    }

    // The moderator deletes A's message: gone in both.
    b.click(".msg:has-text('hello from A') .del").await.unwrap();
    let gone = "![...document.querySelectorAll('#messages .body')].some(e => e.textContent === 'hello from A')";
    until(&mut a, "deleted in A", gone, 5).await;
    until(&mut b, "deleted in B", gone, 5).await;

    // Hostile strings are shown as text (direction overrides removed).
    let payloads = [
        "<img src=x onerror=\"document.title='pwned'\">",
        "<a href=\"javascript:alert(1)\">click me</a>",
        "\u{202E}gnp.exe",
    ];
    for p in payloads {
        a.fill("#chatinput", p).await.unwrap();
        a.click("#chatsend").await.unwrap();
    }
    until(
        &mut b,
        "B got the payloads",
        "window.stageChat.gotLog.some(x => x[0] === 'gnp.exe')",
        10,
    )
    .await;
    for p in &payloads[..2] {
        let shown = b
            .eval(&format!(
                "[...document.querySelectorAll('#messages .body')].some(e => e.textContent === {})",
                js(p)
            ))
            .await
            .unwrap();
        assert_eq!(shown, true, "{p} not shown literally");
    }
    let markup = b
        .eval("document.querySelectorAll('#messages img, #messages a, #messages script').length")
        .await
        .unwrap();
    assert_eq!(markup, 0, "user markup became elements");
    let title = b.eval("document.title").await.unwrap();
    assert!(!title.as_str().unwrap().contains("pwned"), "{title}");

    // `stagectl chat delete` reaches the browsers within 1 s.
    a.fill("#chatinput", "delete me from the CLI")
        .await
        .unwrap();
    a.click("#chatsend").await.unwrap();
    until(
        &mut b,
        "B has it",
        "window.stageChat.gotLog.some(x => x[0] === 'delete me from the CLI')",
        10,
    )
    .await;
    let (code, out, err) = stack.stagectl(&["--json", "chat", "tail", "demo"]);
    assert_eq!(code, 0, "{err}");
    let id = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["body"] == "delete me from the CLI")
        .expect("tail shows the message")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = Instant::now();
    let (code, _, err) = stack.stagectl(&["chat", "delete", "demo", &id]);
    assert_eq!(code, 0, "{err}");
    until(
        &mut b,
        "CLI delete reached B",
        &format!("!document.querySelector('li[data-id=\"{id}\"]')"),
        2,
    )
    .await;
    let took = t0.elapsed();
    eprintln!("stagectl chat delete → gone in the browser: {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Audit entries are stored in batches (every 100 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    let actions = loop {
        let audit = stack.stagectl_json(&["chat", "audit", "demo"]);
        let actions: Vec<String> = audit["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["actor"].as_str().unwrap(),
                    a["action"].as_str().unwrap()
                )
            })
            .collect();
        if actions.contains(&"stagectl delete".to_string()) || Instant::now() > deadline {
            break actions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        actions.contains(&"stagectl delete".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"ben delete".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"ben poll_create".to_string()),
        "{actions:?}"
    );
    a.close().await;
    b.close().await;
}

/// ingestd tells chatd when a channel goes live and when it ends: messages
/// sent during the broadcast are filed under its stream (REST history), and
/// posting to an ended stream is refused.
#[tokio::test]
async fn messages_during_a_broadcast_are_filed_under_its_stream() {
    use futures::{SinkExt, StreamExt};
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let key = stack.create_channel("talk");
    let (s, v) = post(
        &stack,
        "/auth/register",
        json!({"username": "ana", "email": "ana@example.com", "password": "ana's password"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    // The room exists before the stream does.
    let url = format!("ws://127.0.0.1:{}/ws/talk?token={token}", stack.ports.chat);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    let clip = Clip {
        seconds: Some(8),
        ..Clip::small()
    };
    let mut p = Publisher::start(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let sid = stack.wait_live("talk", Duration::from_secs(30)).await;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "chat", "body": "during the show"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // Our own message comes back once the room has it.
    loop {
        let f = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no echo")
            .unwrap()
            .unwrap();
        if f.to_text().unwrap().contains("during the show") {
            break;
        }
    }
    assert_eq!(stack.post_chat(sid, &token, "over REST").await, 201);
    let http = reqwest::Client::new();
    let chat_url = format!("http://127.0.0.1:{}/streams/{sid}/chat", stack.ports.chat);
    // Stored in batches: wait for both to be in the stream's history.
    stack
        .wait_until(
            "the stream's chat history",
            Duration::from_secs(5),
            || async {
                let v: Value = http.get(&chat_url).fetch_json().await;
                v["messages"].as_array().map(|m| m.len()) == Some(2)
            },
        )
        .await;
    let v: Value = http.get(&chat_url).fetch_json().await;
    let got: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["during the show", "over REST"]);

    p.stop_cleanly();
    let db = stack.db().await;
    stack
        .wait_until("the stream ended", Duration::from_secs(30), || async {
            db.stream(sid).await.unwrap().unwrap().status == "ended"
        })
        .await;
    assert_eq!(stack.post_chat(sid, &token, "too late").await, 409);
}
