//! The dashboard drawn into ratatui's TestBackend at 80×24 with known data,
//! compared with the golden screens in `snapshots/`. `UPDATE_SNAPSHOTS=1`
//! rewrites them (then read the diff).

use super::app::{Action, App, ChatLine, View};
use super::model::{Daemon, Event, Fleet, StreamRow};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// 2026-11-24 12:00:00 UTC.
const T0: i64 = 1_795_953_600_000;

fn fleet(kbps: u64) -> Fleet {
    let up = |name| Daemon {
        name,
        up: true,
        detail: "0.1.0".into(),
    };
    Fleet {
        daemons: vec![
            up("ingestd"),
            up("packagerd"),
            up("chatd"),
            Daemon {
                name: "billingd",
                up: false,
                detail: "not running (connection refused)".into(),
            },
        ],
        streams: vec![
            StreamRow {
                channel: "demo".into(),
                stream_id: 42,
                state: "live".into(),
                uptime_s: 3723,
                publisher: Some("203.0.113.7:50122".into()),
                bitrate_bps: Some(kbps * 1000),
                fps: Some(29.97),
                keyframe_ms: Some(2000),
                av_warnings: Some(0),
                frames_dropped: Some(0),
                reconnects: Some(1),
                renditions: Some(vec!["source".into(), "480p".into(), "360p".into()]),
                transcode_speed: Some(2.4),
                transcode_note: None,
                latency_ms: Some(1450),
                hls_viewers: Some(128),
                chat_viewers: Some(131),
                msgs_per_min: Some(42),
                tips_today: None,
            },
            StreamRow {
                channel: "gaming".into(),
                stream_id: 43,
                state: "grace".into(),
                uptime_s: 125,
                bitrate_bps: Some(0),
                fps: Some(0.0),
                keyframe_ms: Some(8000),
                av_warnings: Some(3),
                renditions: Some(vec!["source".into()]),
                hls_viewers: Some(7),
                chat_viewers: Some(9),
                msgs_per_min: Some(0),
                ..Default::default()
            },
        ],
        events: vec![
            Event {
                at_ms: T0 - 3_723_000,
                channel: "demo".into(),
                kind: "publish".into(),
                detail: "from 203.0.113.7:50122, stream 42".into(),
            },
            Event {
                at_ms: T0 - 125_000,
                channel: "gaming".into(),
                kind: "publish".into(),
                detail: "from 198.51.100.4:40000, stream 43".into(),
            },
            Event {
                at_ms: T0 - 20_000,
                channel: "".into(),
                kind: "refused".into(),
                detail: "192.0.2.9:1234: unknown or rotated stream key".into(),
            },
            Event {
                at_ms: T0 - 5_000,
                channel: "gaming".into(),
                kind: "publisher_lost".into(),
                detail: "connection reset".into(),
            },
        ],
        tips_today: None,
    }
}

fn screen(app: &App) -> String {
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| super::ui::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn check(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tui/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert!(
        got == want,
        "{name} differs from {}:\n--- got ---\n{got}--- want ---\n{want}",
        path.display()
    );
}

fn key(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn app_with_history() -> App {
    let mut app = App::new();
    // A minute of steady 2500 kb/s, then the publisher's bitrate halves.
    for i in 0..60 {
        app.update(Action::Fleet(fleet(2500 + (i % 5) * 20)), T0);
    }
    app.update(Action::Fleet(fleet(1100)), T0);
    app
}

#[test]
fn streams_table_at_80x24() {
    let app = app_with_history();
    let s = screen(&app);
    check("streams", &s);
    // What the screen must say, whatever the golden file holds.
    let row = s.lines().find(|l| l.starts_with("demo")).unwrap();
    for cell in [
        "live", "1:02:03", "1100▼", "30", "2.0s", "ok", "3", "2.4x", "128", "131", "42",
    ] {
        assert!(row.contains(cell), "`{cell}` missing from {row:?}");
    }
    assert!(s.lines().next().unwrap().contains("✗billingd"), "{s}");
    let gaming = s.lines().find(|l| l.starts_with("gaming")).unwrap();
    assert!(
        gaming.contains("8.0s") && gaming.contains("grace"),
        "{gaming}"
    );
    assert!(s.contains("unknown or rotated stream key"), "{s}");
}

#[test]
fn detail_view_at_80x24() {
    let mut app = app_with_history();
    app.update(key(KeyCode::Enter), T0);
    assert_eq!(app.view, View::Detail);
    app.update(
        Action::Chat(vec![
            ChatLine {
                id: "m1".into(),
                at_ms: T0 - 30_000,
                user: "alice".into(),
                body: "hello\x1b[2J from the chat".into(),
                deleted: false,
                tip: None,
            },
            ChatLine {
                id: "m2".into(),
                at_ms: T0 - 20_000,
                user: "bob".into(),
                body: "great show".into(),
                deleted: false,
                tip: Some("5.00 USD".into()),
            },
            ChatLine {
                id: "m3".into(),
                at_ms: T0 - 10_000,
                user: "troll".into(),
                body: String::new(),
                deleted: true,
                tip: None,
            },
        ]),
        T0,
    );
    app.update(key(KeyCode::Up), T0);
    let s = screen(&app);
    check("detail", &s);
    assert!(s.contains("#demo live 1:02:03  stream 42"), "{s}");
    assert!(
        s.contains("Renditions source,480p,360p  speed 2.4x  latency 1450 ms"),
        "{s}"
    );
    assert!(s.contains("bob: [5.00 USD] great show"), "{s}");
    assert!(!s.contains('\x1b'), "control characters reach the terminal");
    assert!(s.contains("(deleted)"), "{s}");
}

#[test]
fn help_overlay_at_80x24() {
    let mut app = app_with_history();
    app.update(key(KeyCode::Char('?')), T0);
    let s = screen(&app);
    check("help", &s);
    assert!(s.contains("rotate key") && s.contains("quit"), "{s}");
}
