//! Drawing the dashboard. Fits 80×24; wider terminals get wider columns.

use super::app::{App, View};
use super::model::StreamRow;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap};

/// A keyframe interval over this is flagged (players and CDNs want ≤ 4 s).
const GOP_WARN_MS: i64 = 4_000;

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// `1:02:03` or `02:03`.
pub fn uptime(s: u64) -> String {
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn clock(ms: i64) -> String {
    stage_core::time::rfc3339_ms(ms)
        .get(11..19)
        .unwrap_or("")
        .to_string()
}

fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

fn bad() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Whether the bitrate fell under half its recent average.
fn dropping(app: &App, s: &StreamRow) -> bool {
    let (Some(h), Some(now)) = (app.history.get(&s.channel), s.bitrate_bps) else {
        return false;
    };
    let recent: Vec<u64> = h
        .bitrate_kbps
        .iter()
        .rev()
        .skip(1)
        .take(30)
        .copied()
        .collect();
    if recent.len() < 5 {
        return false;
    }
    let avg = recent.iter().sum::<u64>() / recent.len() as u64;
    avg > 0 && now / 1000 < avg / 2
}

pub fn draw(f: &mut Frame, app: &App) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(header(app)), top);
    match app.view {
        View::Streams => streams(f, app, body),
        View::Detail => detail(f, app, body),
        View::Channels => channels(f, app, body),
        View::Vods => vods(f, app, body),
    }
    f.render_widget(Paragraph::new(footer(app)), bottom);
    if app.help {
        help(f);
    }
    if let Some(p) = &app.prompt {
        popup(
            f,
            " New channel ",
            vec![
                Line::from(format!("{}: {}_", p.label, p.text)),
                Line::from(Span::styled("Enter create · Esc cancel", dim())),
            ],
        );
    }
    if let Some(c) = &app.confirm {
        popup(
            f,
            " Confirm ",
            vec![
                Line::from(c.question.clone()),
                Line::from(Span::styled("y yes · any other key no", dim())),
            ],
        );
    }
    if let Some((channel, key)) = &app.new_key {
        popup(
            f,
            " New stream key — shown once ",
            vec![
                Line::from(format!("#{channel}:")),
                Line::from(Span::styled(
                    key.clone(),
                    Style::new().add_modifier(Modifier::BOLD),
                )),
                Line::from(""),
                Line::from(Span::styled(
                    "y copy to clipboard · any other key close",
                    dim(),
                )),
            ],
        );
    }
}

fn header(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled(
        "StreamStage ",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for d in &app.fleet.daemons {
        let (mark, style) = if d.up {
            ("●", Style::new().fg(Color::Green))
        } else {
            ("✗", bad())
        };
        spans.push(Span::styled(format!("{mark}{} ", d.name), style));
    }
    spans.push(Span::raw(format!(
        "live {} tips {}",
        app.fleet
            .streams
            .iter()
            .filter(|s| s.state == "live")
            .count(),
        app.fleet.tips_today.as_deref().unwrap_or("-")
    )));
    Line::from(spans)
}

fn footer(app: &App) -> Line<'static> {
    if let Some(s) = &app.status {
        return match s {
            Ok(m) => Line::from(Span::styled(m.clone(), Style::new().fg(Color::Green))),
            Err(m) => Line::from(Span::styled(m.clone(), bad())),
        };
    }
    let keys = match app.view {
        View::Streams => "↑↓ select  Enter detail  K kick  c channels  v VODs  ? help  q quit",
        View::Detail => "↑↓ message  d delete  t timeout  b ban  Esc back  ? help  q quit",
        View::Channels => "↑↓ select  n new  e enable/disable  r rotate key  Esc back  q quit",
        View::Vods => "↑↓ select  p publish/hide  x delete  Esc back  ? help  q quit",
    };
    Line::from(Span::styled(keys, dim()))
}

fn streams(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .fleet
        .streams
        .iter()
        .map(|s| {
            let kbps = s.bitrate_bps.map(|b| b / 1000);
            let rate = if dropping(app, s) {
                ratatui::widgets::Cell::from(format!("{}▼", dash(kbps))).style(bad())
            } else {
                dash(kbps).into()
            };
            let gop = s.keyframe_ms.map(|k| format!("{:.1}s", k as f64 / 1000.0));
            let gop = ratatui::widgets::Cell::from(dash(gop)).style(
                if s.keyframe_ms.is_some_and(|k| k > GOP_WARN_MS) {
                    warn()
                } else {
                    Style::new()
                },
            );
            let av = ratatui::widgets::Cell::from(match s.av_warnings {
                Some(0) => "ok".to_string(),
                v => dash(v),
            })
            .style(if s.av_warnings.is_some_and(|w| w > 0) {
                warn()
            } else {
                Style::new()
            });
            let speed =
                ratatui::widgets::Cell::from(match (s.transcode_speed, &s.transcode_note) {
                    (_, Some(_)) => "!".into(),
                    (Some(x), None) => format!("{x:.1}x"),
                    (None, None) => "-".into(),
                })
                .style(
                    if s.transcode_note.is_some() || s.transcode_speed.is_some_and(|x| x < 1.0) {
                        bad()
                    } else {
                        Style::new()
                    },
                );
            let state =
                ratatui::widgets::Cell::from(s.state.clone()).style(match s.state.as_str() {
                    "live" => Style::new().fg(Color::Green),
                    _ => warn(),
                });
            Row::new(vec![
                s.channel.clone().into(),
                state,
                uptime(s.uptime_s).into(),
                rate,
                dash(s.fps.map(|f| format!("{f:.0}"))).into(),
                gop,
                av,
                dash(s.renditions.as_ref().map(|r| r.len())).into(),
                speed,
                dash(s.hls_viewers).into(),
                dash(s.chat_viewers).into(),
                dash(s.msgs_per_min).into(),
                dash(s.tips_today.as_deref()).into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(9),
    ];
    let empty = rows.is_empty();
    let [t, ev] = Layout::vertical([Constraint::Min(4), Constraint::Length(6)]).areas(area);
    let head = [
        "CHANNEL", "ST", "UPTIME", "KB/S", "FPS", "GOP", "A/V", "REND", "SPD", "HLS", "CHAT",
        "MSG/M", "TIPS",
    ];
    list_table(f, t, " Live streams ", head, widths, rows, app.selected);
    if empty {
        let [_, msg] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(t);
        f.render_widget(
            Paragraph::new(Span::styled(
                "No live streams. Publish with OBS or ffmpeg to rtmp://…/live/KEY.",
                dim(),
            )),
            msg,
        );
    }
    events(f, app, None, ev);
}

fn events(f: &mut Frame, app: &App, channel: Option<&str>, area: Rect) {
    let n = area.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = app
        .fleet
        .events
        .iter()
        .rev()
        .filter(|e| channel.is_none_or(|c| e.channel == c))
        .take(n)
        .map(|e| {
            let style = match e.kind.as_str() {
                "refused" => bad(),
                "publisher_lost" | "reconnect" => warn(),
                _ => Style::new(),
            };
            Line::from(vec![
                Span::styled(format!("{} ", clock(e.at_ms)), dim()),
                Span::styled(format!("{:<8} ", e.kind), style),
                Span::raw(if e.channel.is_empty() || channel.is_some() {
                    e.detail.clone()
                } else {
                    format!("#{} {}", e.channel, e.detail)
                }),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::TOP).title(" Events ")),
        area,
    );
}

fn detail(f: &mut Frame, app: &App, area: Rect) {
    let Some(s) = app.current() else {
        return;
    };
    let [info, graphs, low] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Min(4),
    ])
    .areas(area);
    let kbps = |b: Option<u64>| dash(b.map(|b| b / 1000));
    let lines = vec![
        Line::from(vec![
            Span::styled(
                format!("#{} ", s.channel),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} {}  stream {}  from {}",
                s.state,
                uptime(s.uptime_s),
                s.stream_id,
                s.publisher.as_deref().unwrap_or("-")
            )),
        ]),
        Line::from(format!(
            "Ingest {} kb/s  {} fps  GOP {}  A/V warnings {}  dropped {}  reconnects {}",
            kbps(s.bitrate_bps),
            dash(s.fps.map(|f| format!("{f:.1}"))),
            dash(s.keyframe_ms.map(|k| format!("{:.1}s", k as f64 / 1000.0))),
            dash(s.av_warnings),
            dash(s.frames_dropped),
            dash(s.reconnects),
        )),
        Line::from(format!(
            "Renditions {}  speed {}{}  latency {} ms",
            dash(s.renditions.as_ref().map(|r| r.join(","))),
            dash(s.transcode_speed.map(|x| format!("{x:.1}x"))),
            s.transcode_note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            dash(s.latency_ms),
        )),
        Line::from(format!(
            "Viewers HLS {}  chat {}  messages {}/min  tips today {}",
            dash(s.hls_viewers),
            dash(s.chat_viewers),
            dash(s.msgs_per_min),
            dash(s.tips_today.as_deref()),
        )),
    ];
    f.render_widget(Paragraph::new(lines), info);
    let [g1, g2, g3] = Layout::horizontal([
        Constraint::Percentage(40),
        Constraint::Percentage(30),
        Constraint::Percentage(30),
    ])
    .areas(graphs);
    let h = app.history.get(&s.channel);
    let graphs = [
        (
            format!(" Bitrate {} kb/s ", kbps(s.bitrate_bps)),
            h.map(|h| &h.bitrate_kbps),
            Color::Cyan,
            g1,
        ),
        (
            format!(" Viewers {} ", dash(s.hls_viewers)),
            h.map(|h| &h.viewers),
            Color::Green,
            g2,
        ),
        (
            format!(" Latency {} ms ", dash(s.latency_ms)),
            h.map(|h| &h.latency_ms),
            Color::Magenta,
            g3,
        ),
    ];
    for (title, history, color, area) in graphs {
        // The newest samples that fit.
        let data: Vec<u64> = history
            .map(|q| {
                q.iter()
                    .rev()
                    .take(area.width as usize)
                    .rev()
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        f.render_widget(
            Sparkline::default()
                .block(Block::new().borders(Borders::TOP).title(title))
                .data(data)
                .style(Style::new().fg(color)),
            area,
        );
    }
    let [chat_area, ev_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(low);
    chat(f, app, chat_area);
    events(f, app, Some(&s.channel), ev_area);
}

fn chat(f: &mut Frame, app: &App, area: Rect) {
    let n = area.height.saturating_sub(1) as usize;
    // Keep the selected message in view; otherwise show the newest.
    let end = app
        .chat_selected
        .map_or(app.chat.len(), |i| (i + 1).max(n.min(app.chat.len())));
    let start = end.saturating_sub(n);
    let lines: Vec<Line> = app.chat[start..end.min(app.chat.len())]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut style = if m.deleted { dim() } else { Style::new() };
            if app.chat_selected == Some(start + i) {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let body = if m.deleted {
                "(deleted)".to_string()
            } else {
                // Control characters would move the cursor: never print them.
                m.body.replace(|c: char| c.is_control(), " ")
            };
            let tip = m
                .tip
                .as_ref()
                .map(|t| format!("[{t}] "))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(format!("{} ", clock(m.at_ms)), dim()),
                Span::styled(format!("{}: ", m.user), Style::new().fg(Color::Cyan)),
                Span::styled(format!("{tip}{body}"), style),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::TOP).title(" Chat "))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn channels(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .channels
        .iter()
        .map(|c| {
            let yes = |b: bool| if b { "yes" } else { "no" };
            Row::new(vec![
                c.name.clone(),
                yes(c.enabled).into(),
                yes(c.members_only).into(),
                if c.live { "live" } else { "" }.into(),
                c.key_rotated.clone(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(20),
    ];
    let head = ["CHANNEL", "ENABLED", "MEMBERS", "LIVE", "KEY ROTATED"];
    list_table(f, area, " Channels ", head, widths, rows, app.selected);
}

fn vods(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .vods
        .iter()
        .map(|v| {
            Row::new(vec![
                v.id.to_string(),
                v.channel.clone(),
                v.title.clone(),
                v.started.clone(),
                v.duration.clone(),
                if v.published { "yes" } else { "no" }.into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(12),
        Constraint::Min(10),
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(9),
    ];
    let head = ["ID", "CHANNEL", "TITLE", "STARTED", "LENGTH", "PUBLISHED"];
    list_table(f, area, " Recordings ", head, widths, rows, app.selected);
}

/// `rows` under a bold header, in a block with a top border and `title`,
/// with row `selected` highlighted: the streams, channels and recordings
/// screens.
fn list_table<const N: usize>(
    f: &mut Frame,
    area: Rect,
    title: &str,
    head: [&str; N],
    widths: [Constraint; N],
    rows: Vec<Row>,
    selected: usize,
) {
    let any = !rows.is_empty();
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::new().borders(Borders::TOP).title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(any.then_some(selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn popup(f: &mut Frame, title: &str, lines: Vec<Line>) {
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 4;
    let area = centered(
        f.area(),
        w.max(title.len() as u16 + 4),
        lines.len() as u16 + 2,
    );
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title.to_string())),
        area,
    );
}

fn help(f: &mut Frame) {
    let keys = [
        ("↑↓ j k", "move"),
        ("Enter", "stream detail (chat, graphs, events)"),
        ("Esc", "back to the streams"),
        ("K", "disconnect the selected stream's publisher"),
        ("d t b", "delete message / time out 10 min / ban (detail)"),
        ("c", "channels: n new, e enable/disable, r rotate key"),
        ("v", "recordings: p publish/hide, x delete"),
        ("?", "this help"),
        ("q Ctrl-C", "quit"),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<9}"), Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Figures come from each daemon's /status, refreshed every second; - means its daemon did not answer.",
        dim(),
    )));
    let area = centered(f.area(), 70, lines.len() as u16 + 3);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Help ")),
        area,
    );
}
