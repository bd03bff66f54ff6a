//! The publish session driven by rml_rtmp's client session, byte for byte,
//! with no socket, no database and no runtime: what a publisher sends and
//! what ingestd decides.

use bytes::Bytes;
use ingestd::session::{Action, Close, PublishSession};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use stage_media::link::LinkMessage;
use stage_media::testdata::{ASC_48K_STEREO, AVCC_720P};

const NOW: i64 = 1_800_000_000_000;

/// A client and the server session, wired back to back.
struct Rig {
    client: ClientSession,
    server: PublishSession,
    events: Vec<ClientSessionEvent>,
}

fn outbound(results: Vec<ClientSessionResult>, events: &mut Vec<ClientSessionEvent>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in results {
        match r {
            ClientSessionResult::OutboundResponse(p) => bytes.extend(p.bytes),
            ClientSessionResult::RaisedEvent(e) => events.push(e),
            ClientSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    bytes
}

impl Rig {
    /// Handshaken, nothing requested yet.
    fn new(max_message: u64) -> Rig {
        let mut server = PublishSession::new(max_message);
        let mut hs = Handshake::new(PeerType::Client);
        let mut to_server = hs.generate_outbound_p0_and_p1().unwrap();
        assert!(!server.handshaken());
        // What the server sends once its handshake is done is for the
        // client's session, not its handshake.
        let after = loop {
            let mut from_server = Vec::new();
            for a in server.input(&to_server, NOW).expect("handshake") {
                match a {
                    Action::Send(b) => from_server.extend_from_slice(&b),
                    other => panic!("during the handshake: {other:?}"),
                }
            }
            match hs.process_bytes(&from_server).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => to_server = response_bytes,
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    let mut after = remaining_bytes;
                    for a in server.input(&response_bytes, NOW).expect("handshake") {
                        match a {
                            Action::Send(b) => after.extend_from_slice(&b),
                            other => panic!("after the handshake: {other:?}"),
                        }
                    }
                    break after;
                }
            }
        };
        assert!(server.handshaken());
        let (client, initial) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut rig = Rig {
            client,
            server,
            events: Vec::new(),
        };
        if !after.is_empty() {
            let results = rig.client.handle_input(&after).unwrap();
            let back = outbound(results, &mut rig.events);
            if !back.is_empty() {
                assert!(rig.send(back).unwrap().is_empty());
            }
        }
        let bytes = outbound(initial, &mut rig.events);
        if !bytes.is_empty() {
            assert!(rig.send(bytes).unwrap().is_empty());
        }
        rig
    }

    /// Bytes to the server; what it sends back goes to the client (and the
    /// client's answers back again) until both are quiet. Returns the
    /// server's other actions.
    fn send(&mut self, bytes: Vec<u8>) -> Result<Vec<Action>, Close> {
        let actions = self.server.input(&bytes, NOW)?;
        self.bounce(actions)
    }

    fn bounce(&mut self, actions: Vec<Action>) -> Result<Vec<Action>, Close> {
        let mut decided = Vec::new();
        let mut to_client = Vec::new();
        for a in actions {
            match a {
                Action::Send(b) => to_client.extend_from_slice(&b),
                other => decided.push(other),
            }
        }
        if !to_client.is_empty() {
            let results = self.client.handle_input(&to_client).unwrap();
            let back = outbound(results, &mut self.events);
            if !back.is_empty() {
                decided.extend(self.send(back)?);
            }
        }
        Ok(decided)
    }

    fn request(&mut self, r: ClientSessionResult) -> Result<Vec<Action>, Close> {
        let bytes = outbound(vec![r], &mut self.events);
        self.send(bytes)
    }

    fn connect(&mut self, app: &str) -> Result<Vec<Action>, Close> {
        let r = self.client.request_connection(app.into()).unwrap();
        self.request(r)
    }

    fn saw(&self, want: impl Fn(&ClientSessionEvent) -> bool) -> bool {
        self.events.iter().any(want)
    }

    /// Connected to `live` and publishing `key`, accepted at `offset`.
    fn publishing(key: &str, offset: i64) -> Rig {
        let mut rig = Rig::new(1 << 20);
        assert!(rig.connect("live").unwrap().is_empty());
        assert!(rig.saw(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted)));
        let r = rig
            .client
            .request_publishing(key.into(), PublishRequestType::Live)
            .unwrap();
        let asked = rig.request(r).unwrap();
        assert!(
            matches!(&asked[..], [Action::Authorize { key: k }] if k == key.split('?').next().unwrap()),
            "{asked:?}"
        );
        let rest = rig.server.authorized(offset, NOW).unwrap();
        assert!(rig.bounce(rest).unwrap().is_empty());
        assert!(rig.saw(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted)));
        assert!(rig.server.publishing());
        rig
    }

    fn video(&mut self, body: &[u8], ts: u32) -> Result<Vec<Action>, Close> {
        let r = self
            .client
            .publish_video_data(Bytes::copy_from_slice(body), RtmpTimestamp::new(ts), false)
            .unwrap();
        self.request(r)
    }

    fn audio(&mut self, body: &[u8], ts: u32) -> Result<Vec<Action>, Close> {
        let r = self
            .client
            .publish_audio_data(Bytes::copy_from_slice(body), RtmpTimestamp::new(ts), false)
            .unwrap();
        self.request(r)
    }
}

/// An FLV AVC tag body: header, composition time 0, then `payload`.
fn avc(keyframe: bool, packet_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![if keyframe { 0x17 } else { 0x27 }, packet_type, 0, 0, 0];
    b.extend_from_slice(payload);
    b
}

/// One length-prefixed NAL unit (4-byte lengths, as AVCC_720P says).
fn nalu(kind: u8, len: usize) -> Vec<u8> {
    let mut b = (len as u32 + 1).to_be_bytes().to_vec();
    b.push(kind);
    b.extend(std::iter::repeat_n(0xAB, len));
    b
}

fn forwarded(actions: &[Action]) -> Vec<&LinkMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Forward(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn a_publish_waits_for_its_key_then_forwards_access_units_on_the_stream_timeline() {
    let mut rig = Rig::publishing("secret-key?obs=30", 5_000);
    let config = rig.video(&avc(true, 0, AVCC_720P), 0).unwrap();
    assert!(matches!(
        forwarded(&config)[..],
        [LinkMessage::VideoConfig(_)]
    ));
    let key = rig.video(&avc(true, 1, &nalu(5, 300)), 0).unwrap();
    let next = rig.video(&avc(false, 1, &nalu(1, 100)), 33).unwrap();
    let (LinkMessage::Video(k), LinkMessage::Video(n)) = (forwarded(&key)[0], forwarded(&next)[0])
    else {
        panic!("{key:?} {next:?}");
    };
    assert!(k.keyframe && !n.keyframe);
    assert_eq!(
        k.dts_ms, 5_000,
        "a resumed stream's timeline goes on from its offset"
    );
    assert_eq!(n.dts_ms - k.dts_ms, 33);
    assert_eq!(k.wallclock_ms, NOW);
    assert_eq!(k.data.len(), 4 + 301);

    let asc = rig
        .audio(&[&[0xAF, 0x00][..], ASC_48K_STEREO].concat(), 0)
        .unwrap();
    assert!(matches!(forwarded(&asc)[..], [LinkMessage::AudioConfig(_)]));
    let frame = rig.audio(&[0xAF, 0x01, 0x21, 0x10, 0x04], 21).unwrap();
    assert!(
        matches!(forwarded(&frame)[..], [LinkMessage::Audio(f)] if f.dts_ms == 5_021 && f.data.len() == 3)
    );
}

#[test]
fn frames_before_their_configuration_are_dropped() {
    let mut rig = Rig::publishing("k", 0);
    assert!(
        rig.video(&avc(true, 1, &nalu(5, 10)), 0)
            .unwrap()
            .is_empty()
    );
    assert!(rig.audio(&[0xAF, 0x01, 1, 2, 3], 0).unwrap().is_empty());
}

#[test]
fn media_before_a_publish_is_accepted_goes_nowhere() {
    let mut rig = Rig::new(1 << 20);
    rig.connect("live").unwrap();
    let r = rig
        .client
        .request_publishing("k".into(), PublishRequestType::Live)
        .unwrap();
    assert!(matches!(
        rig.request(r).unwrap()[..],
        [Action::Authorize { .. }]
    ));
    assert!(!rig.server.publishing(), "asking is not publishing");
    // What the client says while the key is checked waits for the answer.
    let (ping, _) = rig.client.send_ping_request().unwrap();
    let held = rig.send(ping.bytes).unwrap();
    assert!(held.is_empty(), "{held:?}");
    assert!(!rig.saw(|e| matches!(e, ClientSessionEvent::PingResponseReceived { .. })));
    let answered = rig.server.authorized(0, NOW).unwrap();
    assert!(rig.bounce(answered).unwrap().is_empty());
    assert!(rig.saw(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted)));
    assert!(rig.saw(|e| matches!(e, ClientSessionEvent::PingResponseReceived { .. })));
}

#[test]
fn an_unknown_application_is_refused() {
    let mut rig = Rig::new(1 << 20);
    match rig.connect("other") {
        Err(Close::Refused(why)) => assert!(why.contains("unknown application `other`"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn playback_is_refused() {
    let mut rig = Rig::new(1 << 20);
    rig.connect("live").unwrap();
    let r = rig.client.request_playback("k".into()).unwrap();
    match rig.request(r) {
        Err(Close::Refused(why)) => assert!(why.contains("watch over HLS"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_handshake_is_a_protocol_error() {
    let mut s = PublishSession::new(1 << 20);
    let mut garbage = vec![0x09u8];
    garbage.extend(std::iter::repeat_n(0x55, 1536));
    match s.input(&garbage, NOW) {
        Err(Close::Protocol(why)) => assert!(why.contains("handshake"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_malformed_or_unsupported_tag_closes_the_connection() {
    let mut rig = Rig::publishing("k", 0);
    match rig.video(&[0x17], 0) {
        Err(Close::Protocol(why)) => assert!(why.contains("bad video tag"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Sorenson H.263 (codec 2): not ours to take.
    let mut rig = Rig::publishing("k", 0);
    assert!(matches!(
        rig.video(&[0x12, 0, 0, 0, 0], 0),
        Err(Close::Refused(_))
    ));
    // A frame whose NAL lengths run past its end.
    let mut rig = Rig::publishing("k", 0);
    rig.video(&avc(true, 0, AVCC_720P), 0).unwrap();
    let mut bad = nalu(5, 10);
    bad[3] = 200;
    match rig.video(&avc(true, 1, &bad), 0) {
        Err(Close::Protocol(why)) => assert!(why.contains("bad H.264 frame"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_over_the_limit_closes_the_connection() {
    let mut rig = Rig::new(20_000);
    rig.connect("live").unwrap();
    let r = rig
        .client
        .request_publishing("k".into(), PublishRequestType::Live)
        .unwrap();
    rig.request(r).unwrap();
    let accepted = rig.server.authorized(0, NOW).unwrap();
    rig.bounce(accepted).unwrap();
    rig.video(&avc(true, 0, AVCC_720P), 0).unwrap();
    assert!(matches!(
        rig.video(&avc(true, 1, &nalu(5, 30_000)), 0),
        Err(Close::Protocol(_))
    ));
}

#[test]
fn a_publisher_that_stops_may_publish_again() {
    let mut rig = Rig::publishing("k", 0);
    let r = rig.client.stop_publishing().unwrap();
    let bytes = outbound(r, &mut rig.events);
    let stopped = rig.send(bytes).unwrap();
    assert!(matches!(stopped[..], [Action::Stopped]), "{stopped:?}");
    assert!(!rig.server.publishing() && rig.server.published());
    let r = rig
        .client
        .request_publishing("k2".into(), PublishRequestType::Live)
        .unwrap();
    assert!(matches!(&rig.request(r).unwrap()[..], [Action::Authorize { key }] if key == "k2"));
    let accepted = rig.server.authorized(0, NOW).unwrap();
    rig.bounce(accepted).unwrap();
    assert!(rig.server.publishing());
    assert!(
        matches!(rig.server.authorized(0, NOW), Err(Close::Protocol(_))),
        "an answer nobody asked for"
    );
}
