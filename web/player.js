// StreamStage player: polls the channel's live status, plays its LL-HLS with
// hls.js in low-latency mode (or native HLS), starts by itself when the
// stream comes (back) online, shows the latency in the badge and catches up
// (playback rate, or a jump when far behind) when it drifts.
// Everything shown is set with textContent: nothing is parsed as HTML.
(function () {
  'use strict';
  const parts = location.pathname.split('/').filter(Boolean);
  const channel = decodeURIComponent(parts[1] || '');
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const notice = document.getElementById('notice');
  const titleEl = document.getElementById('title');
  const descEl = document.getElementById('description');
  const POLL_MS = 2000;
  const STALL_MS = 10000;
  // Further behind the live edge than this, jump instead of speeding up.
  const JUMP_BEHIND_S = 4;
  // One id per page view, sent with every HLS request so packagerd counts
  // this viewer once (it falls back to address + browser otherwise).
  const session = (window.crypto && crypto.randomUUID)
    ? crypto.randomUUID()
    : Math.random().toString(16).slice(2) + Date.now().toString(16);

  // Exposed for tests and debugging.
  const state = (window.stagePlayer = {
    channel, live: false, streamId: null, errors: [], starts: 0, session,
    latency: null, latencies: [], playing: false, waitingAfterStart: 0, jumps: 0,
  });
  let hls = null;
  let lastTime = 0;
  let lastAdvance = Date.now();
  // Server clock − this clock, ms (from /live's server_time_ms).
  let clockOffset = 0;

  function badgeText() {
    if (!state.live) return 'OFFLINE';
    return state.latency == null ? 'LIVE' : 'LIVE · ' + (state.latency / 1000).toFixed(1) + ' s';
  }

  function show(live, text) {
    state.live = live;
    badge.textContent = badgeText();
    badge.className = 'badge ' + (live ? 'live' : 'offline');
    notice.textContent = text || '';
    notice.hidden = !text;
  }

  // Latency from ingest to this screen: the wall-clock time packagerd stamped
  // on the frame now showing (EXT-X-PROGRAM-DATE-TIME) against the server's
  // clock. Falls back to hls.js's distance from the live edge.
  function measure() {
    if (!hls || video.paused || video.readyState < 2) return;
    let ms = null;
    const shown = hls.playingDate;
    if (shown && shown.getTime() > 0) ms = Date.now() + clockOffset - shown.getTime();
    else if (typeof hls.latency === 'number' && hls.latency > 0) ms = hls.latency * 1000;
    if (ms == null || !isFinite(ms)) return;
    state.latency = Math.max(0, Math.round(ms));
    state.latencies.push([Date.now(), state.latency]);
    if (state.latencies.length > 7200) state.latencies.shift();
    badge.textContent = badgeText();
    // Far behind (a long stall, a background tab): jump to the live edge;
    // smaller drifts are caught up by hls.js's playback rate.
    const edge = hls.liveSyncPosition;
    if (edge && hls.latency > JUMP_BEHIND_S && edge > video.currentTime) {
      video.currentTime = edge;
      state.jumps += 1;
    }
  }
  setInterval(measure, 1000);

  function stop() {
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    state.streamId = null;
  }

  function start(info) {
    stop();
    state.streamId = info.stream_id;
    state.starts += 1;
    lastAdvance = Date.now();
    video.muted = true;
    if (window.STAGE_HLS_MISSING) {
      show(true, window.STAGE_HLS_MISSING);
      return;
    }
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        lowLatencyMode: true,
        // Catch up to the target latency (PART-HOLD-BACK) by playing a little
        // faster, never so fast that it sounds wrong.
        maxLiveSyncPlaybackRate: 1.15,
        backBufferLength: 30,
        manifestLoadingMaxRetry: 6,
        levelLoadingMaxRetry: 6,
        xhrSetup: function (xhr) { xhr.setRequestHeader('X-Playback-Session-Id', session); },
      });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        state.errors.push(data.type + ':' + data.details + (data.fatal ? ':fatal' : ''));
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else {
          stop(); // the next poll starts again
        }
      });
      hls.loadSource(info.playlist_url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = info.playlist_url;
    } else {
      show(true, 'This browser cannot play HLS.');
      return;
    }
    const p = video.play();
    if (p && p.catch) p.catch(function () {});
  }

  video.addEventListener('timeupdate', function () {
    if (video.currentTime !== lastTime) { lastTime = video.currentTime; lastAdvance = Date.now(); }
  });
  video.addEventListener('playing', function () { state.playing = true; });
  video.addEventListener('waiting', function () { if (state.playing) state.waitingAfterStart += 1; });

  async function poll() {
    try {
      const sent = Date.now();
      const r = await fetch('/channels/' + encodeURIComponent(channel) + '/live', { cache: 'no-store' });
      if (r.status === 404) {
        stop();
        show(false, 'No channel called “' + channel + '”.');
      } else if (r.ok) {
        const info = await r.json();
        if (typeof info.server_time_ms === 'number') {
          clockOffset = info.server_time_ms - (sent + Date.now()) / 2;
        }
        titleEl.textContent = info.title || channel;
        document.title = (info.title || channel) + ' · StreamStage';
        if (info.live && info.ready) {
          show(true, '');
          const stalled = hls && Date.now() - lastAdvance > STALL_MS;
          if (state.streamId !== info.stream_id || (!hls && !video.src) || stalled) start(info);
        } else if (info.live) {
          show(true, 'Starting…');
        } else {
          stop();
          show(false, 'The stream is offline. It starts here by itself when it goes live.');
        }
      }
    } catch (e) {
      // Server unreachable for a moment: keep what plays, try again.
    }
    setTimeout(poll, POLL_MS);
  }

  fetch('/channels/' + encodeURIComponent(channel), { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) { if (c) { titleEl.textContent = c.title || c.name; descEl.textContent = c.description || ''; } })
    .catch(function () {});
  titleEl.textContent = channel;
  poll();
})();
