// StreamStage player: polls the channel's live status, plays its HLS with
// hls.js (or native HLS), starts by itself when the stream comes (back)
// online. Everything shown is set with textContent: nothing is parsed as HTML.
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

  // Exposed for tests and debugging.
  const state = (window.stagePlayer = { channel, live: false, streamId: null, errors: [], starts: 0 });
  let hls = null;
  let lastTime = 0;
  let lastAdvance = Date.now();

  function show(live, text) {
    state.live = live;
    badge.textContent = live ? 'LIVE' : 'OFFLINE';
    badge.className = 'badge ' + (live ? 'live' : 'offline');
    notice.textContent = text || '';
    notice.hidden = !text;
  }

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
      hls = new window.Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 6, levelLoadingMaxRetry: 6 });
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

  async function poll() {
    try {
      const r = await fetch('/channels/' + encodeURIComponent(channel) + '/live', { cache: 'no-store' });
      if (r.status === 404) {
        stop();
        show(false, 'No channel called “' + channel + '”.');
      } else if (r.ok) {
        const info = await r.json();
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
