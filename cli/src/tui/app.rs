//! The dashboard's state and what each key does to it. No I/O: a key may
//! return a [`Command`] for the runner to carry out, whose outcome comes
//! back as an [`Action`].

use super::model::{Fleet, StreamRow};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{HashMap, VecDeque};

/// Samples kept per sparkline (one per refresh).
pub const HISTORY: usize = 120;

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Streams,
    Detail,
    Channels,
    Vods,
}

/// A channel as the management screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    pub name: String,
    pub enabled: bool,
    pub members_only: bool,
    pub live: bool,
    pub key_rotated: String,
}

/// A recording as the VOD screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct VodRow {
    pub id: i64,
    pub channel: String,
    pub title: String,
    pub started: String,
    pub duration: String,
    pub published: bool,
}

/// A chat message in the detail view.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatLine {
    pub id: String,
    pub at_ms: i64,
    pub user: String,
    pub body: String,
    pub deleted: bool,
    pub tip: Option<String>,
}

/// What the runner is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    LoadChannels,
    LoadVods,
    LoadChat {
        stream_id: i64,
    },
    CreateChannel(String),
    SetEnabled {
        channel: String,
        enabled: bool,
    },
    RotateKey(String),
    SetPublished {
        id: i64,
        published: bool,
    },
    DeleteVod(i64),
    DeleteMessage {
        channel: String,
        id: String,
    },
    Timeout {
        channel: String,
        user: String,
    },
    Ban {
        channel: String,
        user: String,
    },
    Kick(String),
    /// Put text on the operator's clipboard (OSC 52: works over SSH in most
    /// terminals).
    Copy(String),
}

/// What comes back to the app.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Fleet(Fleet),
    Channels(Vec<ChannelRow>),
    Vods(Vec<VodRow>),
    Chat(Vec<ChatLine>),
    /// A new stream key, shown once.
    NewKey(String, String),
    /// The outcome of a command, for the status line.
    Done(Result<String, String>),
    Tick,
}

/// Text being typed (a new channel's name).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub label: &'static str,
    pub text: String,
}

/// An action waiting for y/n.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub then: Command,
}

#[derive(Debug, Default)]
pub struct History {
    pub bitrate_kbps: VecDeque<u64>,
    pub viewers: VecDeque<u64>,
    pub latency_ms: VecDeque<u64>,
}

fn push(q: &mut VecDeque<u64>, v: u64) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

pub struct App {
    pub fleet: Fleet,
    pub view: View,
    pub selected: usize,
    pub help: bool,
    pub history: HashMap<String, History>,
    pub channels: Vec<ChannelRow>,
    pub vods: Vec<VodRow>,
    pub chat: Vec<ChatLine>,
    pub chat_selected: Option<usize>,
    pub prompt: Option<Prompt>,
    pub confirm: Option<Confirm>,
    /// (channel, key): a freshly rotated key, until dismissed.
    pub new_key: Option<(String, String)>,
    pub status: Option<Result<String, String>>,
    /// Unix ms of the last fleet update.
    pub updated_ms: i64,
    pub quit: bool,
}

impl App {
    pub fn new() -> App {
        App {
            fleet: Fleet::default(),
            view: View::Streams,
            selected: 0,
            help: false,
            history: HashMap::new(),
            channels: Vec::new(),
            vods: Vec::new(),
            chat: Vec::new(),
            chat_selected: None,
            prompt: None,
            confirm: None,
            new_key: None,
            status: None,
            updated_ms: 0,
            quit: false,
        }
    }

    /// The stream the cursor is on (streams and detail views).
    pub fn current(&self) -> Option<&StreamRow> {
        self.fleet.streams.get(self.selected)
    }

    fn rows(&self) -> usize {
        match self.view {
            View::Streams | View::Detail => self.fleet.streams.len(),
            View::Channels => self.channels.len(),
            View::Vods => self.vods.len(),
        }
    }

    /// Applies an action; returns commands for the runner.
    pub fn update(&mut self, action: Action, now_ms: i64) -> Vec<Command> {
        match action {
            Action::Key(k) => return self.key(k),
            Action::Fleet(f) => {
                let chosen = self.current().map(|s| s.channel.clone());
                for s in &f.streams {
                    let h = self.history.entry(s.channel.clone()).or_default();
                    push(&mut h.bitrate_kbps, s.bitrate_bps.unwrap_or(0) / 1000);
                    push(
                        &mut h.viewers,
                        s.hls_viewers.unwrap_or(0).max(s.chat_viewers.unwrap_or(0)),
                    );
                    push(&mut h.latency_ms, s.latency_ms.unwrap_or(0).max(0) as u64);
                }
                self.history
                    .retain(|c, _| f.streams.iter().any(|s| &s.channel == c));
                self.fleet = f;
                self.updated_ms = now_ms;
                // The cursor stays on its channel as rows come and go.
                if let Some(c) = chosen
                    && let Some(i) = self.fleet.streams.iter().position(|s| s.channel == c)
                {
                    self.selected = i;
                }
                self.clamp();
                if self.view == View::Detail {
                    return self
                        .current()
                        .map(|s| Command::LoadChat {
                            stream_id: s.stream_id,
                        })
                        .into_iter()
                        .collect();
                }
            }
            Action::Channels(c) => {
                self.channels = c;
                self.clamp();
            }
            Action::Vods(v) => {
                self.vods = v;
                self.clamp();
            }
            Action::Chat(c) => {
                self.chat = c;
                if let Some(i) = self.chat_selected {
                    self.chat_selected = Some(i.min(self.chat.len().saturating_sub(1)));
                }
            }
            Action::NewKey(channel, key) => {
                self.new_key = Some((channel, key));
                if self.view == View::Channels {
                    return vec![Command::LoadChannels];
                }
            }
            Action::Done(r) => {
                let ok = r.is_ok();
                self.status = Some(r);
                if ok {
                    return match self.view {
                        View::Channels => vec![Command::LoadChannels],
                        View::Vods => vec![Command::LoadVods],
                        View::Detail => self
                            .current()
                            .map(|s| Command::LoadChat {
                                stream_id: s.stream_id,
                            })
                            .into_iter()
                            .collect(),
                        View::Streams => vec![],
                    };
                }
            }
            Action::Tick => {}
        }
        Vec::new()
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.rows().saturating_sub(1));
        if self.view == View::Detail && self.fleet.streams.is_empty() {
            self.view = View::Streams;
        }
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Command> {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![Command::Quit];
        }
        if let Some(p) = &mut self.prompt {
            match k.code {
                KeyCode::Esc => self.prompt = None,
                KeyCode::Enter => {
                    let name = p.text.trim().to_string();
                    self.prompt = None;
                    if !name.is_empty() {
                        return vec![Command::CreateChannel(name)];
                    }
                }
                KeyCode::Backspace => {
                    p.text.pop();
                }
                KeyCode::Char(c) if p.text.len() < 64 => p.text.push(c),
                _ => {}
            }
            return Vec::new();
        }
        if let Some(c) = self.confirm.take() {
            return match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => vec![c.then],
                _ => {
                    self.status = Some(Ok("cancelled".into()));
                    Vec::new()
                }
            };
        }
        if let Some((_, key)) = &self.new_key {
            let key = key.clone();
            return match k.code {
                KeyCode::Char('y') => vec![Command::Copy(key)],
                _ => {
                    self.new_key = None;
                    Vec::new()
                }
            };
        }
        if self.help {
            self.help = false;
            return Vec::new();
        }
        match k.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return vec![Command::Quit];
            }
            KeyCode::Char('?') | KeyCode::F(1) => self.help = true,
            KeyCode::Esc | KeyCode::Backspace if self.view != View::Streams => {
                self.view = View::Streams;
                self.chat_selected = None;
                self.selected = 0;
            }
            KeyCode::Char('s') => {
                self.view = View::Streams;
                self.selected = 0;
            }
            KeyCode::Char('c') if self.view != View::Detail => {
                self.view = View::Channels;
                self.selected = 0;
                return vec![Command::LoadChannels];
            }
            KeyCode::Char('v') if self.view != View::Detail => {
                self.view = View::Vods;
                self.selected = 0;
                return vec![Command::LoadVods];
            }
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            _ => return self.view_key(k.code),
        }
        Vec::new()
    }

    fn step(&mut self, by: i64) {
        if self.view == View::Detail {
            if self.chat.is_empty() {
                return;
            }
            let last = self.chat.len() as i64 - 1;
            let at = self.chat_selected.map_or(last + 1, |i| i as i64);
            self.chat_selected = Some((at + by).clamp(0, last) as usize);
            return;
        }
        let n = self.rows() as i64;
        if n > 0 {
            self.selected = (self.selected as i64 + by).clamp(0, n - 1) as usize;
        }
    }

    fn view_key(&mut self, code: KeyCode) -> Vec<Command> {
        match self.view {
            View::Streams => match code {
                KeyCode::Enter => {
                    if let Some(s) = self.current() {
                        let id = s.stream_id;
                        self.view = View::Detail;
                        self.chat.clear();
                        self.chat_selected = None;
                        return vec![Command::LoadChat { stream_id: id }];
                    }
                }
                KeyCode::Char('K') => {
                    if let Some(s) = self.current() {
                        self.confirm = Some(Confirm {
                            question: format!("Disconnect the publisher of #{}?", s.channel),
                            then: Command::Kick(s.channel.clone()),
                        });
                    }
                }
                _ => {}
            },
            View::Detail => {
                let Some(channel) = self.current().map(|s| s.channel.clone()) else {
                    return Vec::new();
                };
                let msg = self
                    .chat_selected
                    .and_then(|i| self.chat.get(i))
                    .filter(|m| !m.deleted)
                    .cloned();
                match (code, msg) {
                    (KeyCode::Char('d'), Some(m)) => {
                        return vec![Command::DeleteMessage { channel, id: m.id }];
                    }
                    (KeyCode::Char('t'), Some(m)) => {
                        return vec![Command::Timeout {
                            channel,
                            user: m.user,
                        }];
                    }
                    (KeyCode::Char('b'), Some(m)) => {
                        self.confirm = Some(Confirm {
                            question: format!("Ban {} from #{channel}?", m.user),
                            then: Command::Ban {
                                channel,
                                user: m.user,
                            },
                        });
                    }
                    (KeyCode::Char('d' | 't' | 'b'), None) => {
                        self.status = Some(Err("select a message first (↑/↓)".into()));
                    }
                    _ => {}
                }
            }
            View::Channels => {
                let ch = self.channels.get(self.selected).cloned();
                match (code, ch) {
                    (KeyCode::Char('n'), _) => {
                        self.prompt = Some(Prompt {
                            label: "New channel name",
                            text: String::new(),
                        })
                    }
                    (KeyCode::Char('e'), Some(c)) => {
                        return vec![Command::SetEnabled {
                            channel: c.name,
                            enabled: !c.enabled,
                        }];
                    }
                    (KeyCode::Char('r'), Some(c)) => {
                        self.confirm = Some(Confirm {
                            question: format!(
                                "Rotate the stream key of #{}? The old key stops working.",
                                c.name
                            ),
                            then: Command::RotateKey(c.name),
                        });
                    }
                    _ => {}
                }
            }
            View::Vods => {
                let v = self.vods.get(self.selected).cloned();
                match (code, v) {
                    (KeyCode::Char('p'), Some(v)) => {
                        return vec![Command::SetPublished {
                            id: v.id,
                            published: !v.published,
                        }];
                    }
                    (KeyCode::Char('x') | KeyCode::Delete, Some(v)) => {
                        self.confirm = Some(Confirm {
                            question: format!("Delete VOD {} ({}) for good?", v.id, v.title),
                            then: Command::DeleteVod(v.id),
                        });
                    }
                    _ => {}
                }
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> Action {
        Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn fleet(channels: &[&str]) -> Fleet {
        Fleet {
            streams: channels
                .iter()
                .enumerate()
                .map(|(i, c)| StreamRow {
                    channel: c.to_string(),
                    stream_id: i as i64 + 1,
                    state: "live".into(),
                    bitrate_bps: Some(1_000_000),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_cursor_follows_its_channel_when_rows_change() {
        let mut a = App::new();
        a.update(Action::Fleet(fleet(&["b", "c"])), 0);
        a.update(key(KeyCode::Down), 0);
        assert_eq!(a.current().unwrap().channel, "c");
        a.update(Action::Fleet(fleet(&["a", "b", "c"])), 0);
        assert_eq!(a.current().unwrap().channel, "c");
        assert_eq!(a.history["c"].bitrate_kbps.len(), 2);
        a.update(Action::Fleet(fleet(&["a"])), 0);
        assert_eq!(a.current().unwrap().channel, "a");
        assert!(
            !a.history.contains_key("c"),
            "gone streams drop their history"
        );
    }

    #[test]
    fn moderation_needs_a_selected_message_and_ban_asks_first() {
        let mut a = App::new();
        a.update(Action::Fleet(fleet(&["demo"])), 0);
        assert_eq!(
            a.update(key(KeyCode::Enter), 0),
            vec![Command::LoadChat { stream_id: 1 }]
        );
        a.update(
            Action::Chat(vec![ChatLine {
                id: "m1".into(),
                at_ms: 0,
                user: "troll".into(),
                body: "spam".into(),
                deleted: false,
                tip: None,
            }]),
            0,
        );
        assert!(a.update(key(KeyCode::Char('d')), 0).is_empty());
        a.update(key(KeyCode::Up), 0);
        assert_eq!(
            a.update(key(KeyCode::Char('d')), 0),
            vec![Command::DeleteMessage {
                channel: "demo".into(),
                id: "m1".into()
            }]
        );
        assert!(a.update(key(KeyCode::Char('b')), 0).is_empty());
        assert!(a.confirm.is_some());
        assert_eq!(
            a.update(key(KeyCode::Char('y')), 0),
            vec![Command::Ban {
                channel: "demo".into(),
                user: "troll".into()
            }]
        );
    }

    #[test]
    fn a_new_channel_is_typed_then_created_and_a_rotated_key_can_be_copied() {
        let mut a = App::new();
        assert_eq!(
            a.update(key(KeyCode::Char('c')), 0),
            vec![Command::LoadChannels]
        );
        a.update(key(KeyCode::Char('n')), 0);
        for c in "news".chars() {
            a.update(key(KeyCode::Char(c)), 0);
        }
        assert_eq!(
            a.update(key(KeyCode::Enter), 0),
            vec![Command::CreateChannel("news".into())]
        );
        a.update(Action::NewKey("news".into(), "k3y".into()), 0);
        assert_eq!(
            a.update(key(KeyCode::Char('y')), 0),
            vec![Command::Copy("k3y".into())]
        );
        a.update(key(KeyCode::Esc), 0);
        assert!(a.new_key.is_none());
        assert_eq!(a.view, View::Channels);
    }

    #[test]
    fn q_quits_and_help_closes_on_any_key() {
        let mut a = App::new();
        a.update(key(KeyCode::Char('?')), 0);
        assert!(a.help);
        assert!(a.update(key(KeyCode::Char('q')), 0).is_empty());
        assert!(!a.help && !a.quit);
        assert_eq!(a.update(key(KeyCode::Char('q')), 0), vec![Command::Quit]);
        assert!(a.quit);
    }
}
