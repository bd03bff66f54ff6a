// StreamStage player: polls the channel's live status, plays its LL-HLS with
// hls.js in low-latency mode (or native HLS), starts by itself when the
// stream comes (back) online, shows the latency in the badge and keeps the
// viewer as close to live as their network allows (latency.js: a target
// that widens after stalls and near misses and narrows when calm, reached
// by playback rate, or a jump when far behind). With the server's DVR
// window it shows a seek bar to rewind the broadcast, how far behind live
// the viewer is, and a "Go live" button.
// Everything shown is set with textContent: nothing is parsed as HTML.
import { createLatencyTarget, DEFAULTS as LATENCY } from './latency.js';

(function () {
  'use strict';
  const parts = location.pathname.split('/').filter(Boolean);
  const channel = decodeURIComponent(parts[1] || '');
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const notice = document.getElementById('notice');
  const titleEl = document.getElementById('title');
  const descEl = document.getElementById('description');
  const dvrEl = document.getElementById('dvr');
  const seekEl = document.getElementById('seek');
  const behindEl = document.getElementById('behind');
  const goLiveEl = document.getElementById('golive');
  // The seek bar shows once the playlist offers this much to rewind.
  const DVR_MIN_S = 30;
  const POLL_MS = 2000;
  const STALL_MS = 10000;
  // Further behind the target than this, jump instead of speeding up.
  const JUMP_OVER_TARGET_S = 2;
  // Buffered ahead of the playhead (s) at the least when playback starts
  // later than hls.js aimed (see `played` below).
  const START_AHEAD_S = 0.3;
  // Seeking to less than this behind the live edge is going live, not
  // rewinding.
  const REWIND_S = 4;
  // The back buffer kept for rewinding without a reload: trimmed to
  // BACK_KEEP_S once it passes BACK_TRIM_S (see trimBackBuffer).
  const BACK_KEEP_S = 30;
  const BACK_TRIM_S = 60;
  // hls.js idle this long after a playlist listed a part it has not
  // loaded, with the buffer running out: stuck (see unstick).
  const STUCK_MS = 250;
  // Low-latency ABR guard: a part that takes longer than this share of its
  // duration to arrive (first byte to last) means the link no longer
  // carries the level.
  const SLOW_PART_SHARE = 0.8;
  // Levels chosen then fit in this share of the measured transfer rate.
  const SAFE_RATE_SHARE = 0.8;
  // One id per page view, sent with every HLS request so packagerd counts
  // this viewer once (it falls back to address + browser otherwise).
  const session = (window.crypto && crypto.randomUUID)
    ? crypto.randomUUID()
    : Math.random().toString(16).slice(2) + Date.now().toString(16);

  // Exposed for tests and debugging.
  const state = (window.stagePlayer = {
    channel, live: false, streamId: null, errors: [], starts: 0, session,
    latency: null, latencies: [], playing: false, waitingAfterStart: 0, jumps: 0,
    // [time, ms behind the target latency] once a second; catch-ups and
    // fall-backs started; [time, target s, why] each time the target moved;
    // back-buffer trims; times hls.js was unstuck (see unstick).
    behindTarget: [], catchups: 0, fallbacks: 0, stretches: 0, prefetches: 0, prefetchHits: 0, targets: [], target: null, trims: 0, unstuck: [],
    // The lowest the buffer dipped in latency.js's window, replayed at
    // today's target (s ahead).
    lowestAhead: null,
    // hls.js's renditions ({height, bitrate}, lowest first) and its switches
    // [time, level, height]; how long each `waiting` after the start lasted (ms).
    levels: [], switches: [], waits: [], waitingSince: null,
    // Times the page told hls.js the link had slowed (see abrGuard), and
    // loads it stopped because they came too slowly (see abrWatch).
    abrResets: 0, abrAborts: 0, abrLog: [],
    // DVR: whether the viewer rewound (no catching up then), seconds behind
    // the live edge, seconds the playlist lets them rewind, and fragments
    // loaded while rewound.
    rewound: false, behindLive: 0, dvrWindow: 0, dvrLoads: 0,
    // The last parts buffered, the last requests and, for each wait after
    // the start and each buffer error, where the playhead was and what was
    // buffered: what a stall report needs.
    recent: [], stalls: [], requests: [],
  });
  // Appends `item` to `list`, dropping the oldest beyond `max`.
  function keep(list, item, max) {
    list.push(item);
    if (list.length > max) list.shift();
  }
  let hls = null;
  const lat = createLatencyTarget();
  state.targets = lat.changes;
  // The hls.js instance, for debugging (not enumerable: state is serialized).
  Object.defineProperty(state, 'hls', { get: function () { return hls; }, enumerable: false });
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
    if (!hls || state.vod || video.paused || video.readyState < 2) return;
    let ms = null;
    const shown = hls.playingDate;
    if (shown && shown.getTime() > 0) ms = Date.now() + clockOffset - shown.getTime();
    else if (typeof hls.latency === 'number' && hls.latency > 0) ms = hls.latency * 1000;
    if (ms == null || !isFinite(ms)) return;
    state.latency = Math.max(0, Math.round(ms));
    keep(state.latencies, [Date.now(), state.latency], 7200);
    badge.textContent = badgeText();
    if (hls.latency > 0) {
      keep(state.behindTarget, [Date.now(), Math.round((hls.latency - lat.target()) * 1000)], 7200);
    }
    // Far behind (a long stall, a background tab): jump to the live edge;
    // smaller drifts are caught up by steer's playback rate. Not when the
    // viewer rewound on purpose.
    const edge = hls.liveSyncPosition;
    if (!state.rewound && edge && hls.latency > lat.target() + JUMP_OVER_TARGET_S && edge > video.currentTime) {
      jumpTo(edge);
      state.jumps += 1;
    }
  }
  setInterval(measure, 1000);

  function ahead() {
    const b = video.buffered;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= video.currentTime + 0.05 && video.currentTime < b.end(i)) return b.end(i) - video.currentTime;
    }
    return 0;
  }

  // hls.js changes the playback rate only with more than a second buffered,
  // which a low-latency stream held three parts behind the edge never has,
  // and its target is fixed. The page steers instead: it samples how much
  // is buffered ahead (latency.js widens the target on near misses and
  // narrows it when calm), hands hls.js the target (so its live sync
  // position agrees) and plays a little faster or slower toward it.
  function steer() {
    if (!hls || state.vod || video.paused) return;
    if (state.rewound) {
      if (video.playbackRate !== 1) video.playbackRate = 1;
      return;
    }
    const latency = hls.latency;
    if (!(latency > 0) || video.readyState < 3) return;
    const a = ahead();
    const target = lat.sample(Date.now(), a);
    state.lowestAhead = +lat.lowestAhead(Date.now()).toFixed(3);
    if (state.target === null || Math.abs(target - state.target) >= 0.01) {
      state.target = +target.toFixed(3);
      hls.targetLatency = target;
    }
    const rate = lat.rate(latency, a, Date.now());
    if (video.playbackRate !== rate) {
      if (rate > 1) state.catchups += 1;
      if (rate < 1 && video.playbackRate >= 1) {
        if (rate < LATENCY.SLOW) state.stretches += 1; else state.fallbacks += 1;
      }
      video.playbackRate = rate;
    }
  }
  // Ten times a second, not on timeupdate (four): the lowest the buffer
  // dips between two parts is what latency.js narrows by.
  setInterval(steer, 100);

  // The back buffer, trimmed by the page rather than by hls.js: hls.js's
  // own trim (backBufferLength) runs as the playhead enters each segment,
  // usually while a part of that segment is loading, and when the removal
  // finishes between that part's load and its append, hls.js forgets the
  // segment's earlier parts; at the next segment boundary it then waits,
  // loading nothing, until the server stops listing that segment's parts:
  // a 2-4 s stall (bench/README.md, "the stall, found"). The page trims
  // right after the newest listed part is buffered, when no part can be
  // loading until the next playlist reload.
  function trimBackBuffer(data) {
    const details = hls && hls.latestLevelDetails;
    const list = details && details.partList;
    const last = list && list[list.length - 1];
    if (!data.part || !last || last.index !== data.part.index || last.fragment.sn !== data.frag.sn) return;
    const b = video.buffered;
    if (!b.length || video.currentTime - b.start(0) < BACK_TRIM_S) return;
    state.trims += 1;
    hls.trigger(window.Hls.Events.BUFFER_FLUSHING, {
      startOffset: 0, endOffset: video.currentTime - BACK_KEEP_S, type: null,
    });
  }

  // A watchdog for the other ways hls.js 1.7 forgets parts it buffered
  // (seen at start-up, when a segment completes while its first parts are
  // being appended, and around ABR switches): its fragment tracker calls
  // the segment at the buffer's end complete while its part list says a
  // part of it is missing, so it loads neither that part nor the next and
  // idles. When hls.js has loaded nothing for STUCK_MS while a part after
  // the buffer's end is listed, less than the target is buffered, and the
  // segment there is the one it calls complete, the page tells hls.js to forget that segment (it then loads
  // its parts again from the first independent one, then the next).
  // Uses hls.js internals, checked before use; `stagePlayer.unstuck`
  // records each time ([when, sn, s buffered ahead]).
  // Loads in flight (level/sn.part → since when); one that never reported
  // back (aborted by a level switch) stops counting after 3 s.
  const loading = new Map();
  let idleSince = 0;
  const loadKey = function (data) {
    return [data.frag.level, data.frag.sn, data.part ? data.part.index : -1];
  };
  function busy(now) {
    let any = false;
    loading.forEach(function (since, key) {
      if (now - since > 3000) loading.delete(key); else any = true;
    });
    return any;
  }
  let seen = null;
  function unstick() {
    if (!hls || busy(Date.now()) || state.vod || state.rewound || video.paused) return;
    const sc = hls.streamController;
    const tracker = sc && sc.fragmentTracker;
    const details = hls.latestLevelDetails;
    if (!tracker || typeof tracker.removeFragment !== 'function' || typeof tracker.getState !== 'function' ||
        !details || !details.live) return;
    const a = ahead();
    if (a > lat.target()) return;
    const end = video.currentTime + a;
    const next = (details.partList || []).find(function (p) { return p.start >= end - 0.02 && !p.loaded; });
    if (!next) { seen = null; return; }
    const now = Date.now();
    const key = next.fragment.sn + '.' + next.index;
    if (!seen || seen.key !== key) { seen = { key: key, at: now }; return; }
    if (now - Math.max(seen.at, idleSince) < STUCK_MS) return;
    const frag = details.fragments.find(function (f) { return f && f.start <= end - 0.01 && end - 0.01 < f.end; });
    if (!frag || tracker.getState(frag) !== 'OK') return;
    keep(state.unstuck, [now, frag.sn, +(end - video.currentTime).toFixed(3)], 100);
    tracker.removeFragment(frag);
    seen = null;
  }
  setInterval(unstick, 50);

  // The highest level whose bitrate fits in SAFE_RATE_SHARE of `bps`
  // (the lowest when none does).
  function fittingLevel(bps) {
    let fit = 0;
    hls.levels.forEach(function (l, i) { if (l.bitrate <= SAFE_RATE_SHARE * bps) fit = i; });
    return fit;
  }

  // hls.js estimates bandwidth with averages over seconds and abandons a
  // load only once half a part has passed and the rest would outlast the
  // buffer; a player held well under a second behind the edge has run dry
  // by then (seen as multi-second stalls under a 1 Mbit/s limit). The page
  // measures each part's transfer (first to last byte: a blocking request's
  // wait for the part is not transfer) and, when parts arrive slower than
  // they play, hands hls.js the measured rate, so its own ABR picks a level
  // that fits at once. Going back up is left to hls.js.
  // What the page's own ABR steps did, for stall reports: when, which,
  // from and to which level, the rate measured (kbit/s), the buffer ahead.
  function noteAbr(what, from, to, bps) {
    state.abrLog.push([Date.now(), what, from, to, Math.round(bps / 1000), +ahead().toFixed(3)]);
    if (state.abrLog.length > 20) state.abrLog.shift();
  }

  function abrGuard(data) {
    if (!hls || !data.part || !hls.autoLevelEnabled) return;
    const t = transfer(data.part);
    if (!t || !(data.part.duration > 0)) return;
    if (t.ms < SLOW_PART_SHARE * data.part.duration * 1000) return;
    const rate = t.bps;
    const fit = fittingLevel(rate);
    if (fit >= data.frag.level) return;
    state.abrResets += 1;
    noteAbr('reset', data.frag.level, fit, rate);
    hls.bandwidthEstimate = rate;
    hls.nextLoadLevel = Math.max(fit, hls.minAutoLevel || 0);
  }

  // The same, while a part loads. hls.js loads the parts of a segment that
  // a playlist already lists one after another without asking its ABR
  // again, so a switch decided when a slow part has arrived waits for the
  // next part at the same level (as slow), and the lower level then loads
  // again from its last independent part at or before it: under a sudden
  // 1.2 Mbit/s limit a 720p keyframe part took 600 ms, the chained one
  // 300 ms, the 360p init and parts from the switch point 450 ms more, and
  // 3 runs in 8 waited 260-470 ms (bench/README.md, "switching down").
  // The page watches the first part of each run (the one hls.js announces
  // with FRAG_LOADING): once bytes have come for WATCH_MS slower than the
  // level's bitrate, and the rest would take more than half a part's duration,
  // it hands hls.js the measured rate and stops that load, as hls.js's own
  // emergency switch does (which waits until the rest would outlast the
  // whole buffer). A chained part is never stopped: hls.js has the parts
  // before it to finish parsing then.
  const WATCH_MS = 120;
  const ABORT_HEADROOM_S = 1.0;
  let head = null;
  function abrWatch() {
    if (!hls || !head || state.vod || state.rewound || !hls.autoLevelEnabled) return;
    const frag = head.frag;
    const part = head.part;
    const loader = frag.loader;
    const st = (part || frag).stats;
    // Still the load hls.js started (not a later part of the run, not done).
    if (!loader || loader.stats !== st || st.aborted || st.loading.end > 0 || !(st.loading.first > 0)) return;
    const ms = performance.now() - st.loading.first;
    if (ms < WATCH_MS || !(st.loaded > 0)) return;
    const level = hls.levels[frag.level];
    if (!level || frag.level <= (hls.minAutoLevel || 0)) return;
    const bps = (st.loaded * 8000) / ms;
    if (bps >= level.bitrate) return;
    const dur = (part || frag).duration;
    const total = st.total > st.loaded ? st.total : (level.bitrate * dur) / 8;
    const rest = ((total - st.loaded) * 8) / bps;
    if (rest < dur / 2) return;
    // With the rest due while more than ABORT_HEADROOM_S is still buffered
    // (the start-up burst: 2.5 s), the slow part cannot stall playback, and
    // stopping it costs a switch down and back up within a second or two,
    // each a decoder reconfiguration (seen: a 720p load stopped at start
    // with 2.48 s ahead on a busy machine left a hole in the buffer and a
    // wait at the next switch).
    if (ahead() > rest + ABORT_HEADROOM_S) return;
    const fit = Math.max(fittingLevel(bps), hls.minAutoLevel || 0);
    if (fit >= frag.level || typeof frag.abortRequests !== 'function') return;
    // Stopping a segment's first part leaves the buffer ending where the
    // segment starts; when the lower level's copy of that segment is dated
    // a millisecond later (each rendition's dates are estimated apart),
    // hls.js takes that point for the end of the segment before and loads
    // that one again from its last independent part (seen: 4 parts, a
    // 643 ms wait). Only when the lower level's segment starts no later.
    // (packagerd now dates every rung by the source's clock; this stays for
    // a lower level's playlist loaded before a date moved, or another
    // server.)
    if (part && part.index === 0) {
      const details = hls.levels[fit] && hls.levels[fit].details;
      const same = details && details.fragments.find(function (f) { return f.sn === frag.sn; });
      if (!same || same.start > frag.start + 0.0005) return;
    }
    head = null;
    state.abrAborts += 1;
    noteAbr('abort', frag.level, fit, bps);
    hls.bandwidthEstimate = bps;
    hls.nextLoadLevel = fit;
    frag.abortRequests();
    hls.trigger(window.Hls.Events.FRAG_LOAD_EMERGENCY_ABORTED, { frag: frag, part: part, stats: st });
  }
  setInterval(abrWatch, 40);

  // Preload hints. hls.js 1.7 reads EXT-X-PRELOAD-HINT but does not fetch
  // the hinted part: it asks for each part only once a playlist lists it
  // and the previous part is buffered, one round trip per part. Over a
  // phone's 100-200 ms round trips that is slower than the parts play
  // (200 ms each), and the player drains however far back it sits. The
  // page fetches the hinted part as soon as a playlist names it (packagerd
  // holds the request until the part exists); parts are immutable and
  // cacheable, so hls.js's own request for it, moments later, is answered
  // by the browser's cache (joining the fetch if it is still running).
  // Each prefetch's transfer (first to last byte) is the link's speed,
  // which hls.js no longer sees (transfer below). Only with one rendition:
  // with a ladder, hls.js's ABR reads each load's own timing (and under a
  // 1.2 Mbit/s limit, fed the prefetches' instead, it stayed on 720p and
  // stalled), so a ladder's player relies on ABR, and pays a round trip
  // per part.
  // At most PREFETCHES at once: over a slow link one is still arriving
  // when the next playlist names the next part. Browsers open six
  // connections to a host: this leaves hls.js its playlist and part.
  const PREFETCHES = 4;
  const prefetched = new Map();
  let prefetching = 0;
  function prefetchHint(details) {
    if (!hls || state.vod || state.rewound || !details || !details.live) return;
    if (hls.levels.length !== 1) return;
    // Parts already listed that the buffer does not hold yet, earliest
    // first: after a freeze of the link, hls.js would load them one round
    // trip each, slower than they play over a 300 ms round trip, and stall
    // again and again while it catches up (six waits after one 1 s freeze
    // under the `bad` profile). Fetched together they come in one.
    const end = bufferEnd();
    const parts = details.partList || [];
    for (let i = 0; i < parts.length && prefetching < PREFETCHES; i++) {
      const p = parts[i];
      if (p.end > end + 0.02 && !p.loaded && p.url) prefetch(new URL(p.url, details.url).href);
    }
    const hint = details.preloadHint;
    if (!hint || hint.TYPE !== 'PART' || !hint.URI || hint['BYTERANGE-START'] !== undefined) return;
    prefetch(new URL(hint.URI, details.url).href);
  }
  function bufferEnd() {
    const b = video.buffered;
    return b.length ? b.end(b.length - 1) : 0;
  }
  function prefetch(url) {
    if (prefetched.has(url) || prefetching >= PREFETCHES) return;
    const rec = { t0: performance.now() };
    prefetched.set(url, rec);
    if (prefetched.size > 30) prefetched.delete(prefetched.keys().next().value);
    prefetching += 1;
    state.prefetches += 1;
    fetch(withToken(url), { headers: { 'X-Playback-Session-Id': session }, credentials: 'same-origin' })
      .then(function (r) {
        rec.first = performance.now();
        rec.ok = r.ok;
        return r.arrayBuffer();
      })
      .then(function (body) { rec.end = performance.now(); rec.bytes = body.byteLength; })
      .catch(function () { rec.failed = true; })
      .finally(function () { prefetching -= 1; });
  }
  // A part's transfer: {bytes, ms, bps, prefetched}, from the page's
  // prefetch when there was one, else from hls.js's load.
  function transfer(part) {
    const rec = prefetched.get(part.url);
    if (rec && rec.ok && rec.bytes > 0 && rec.end > 0) {
      if (!rec.used) state.prefetchHits += 1;
      rec.used = true;
      const ms = Math.max(1, rec.end - rec.first);
      return { bytes: rec.bytes, ms: ms, bps: (rec.bytes * 8000) / ms, prefetched: true };
    }
    const st = part.stats;
    const ms = st.loading.end - st.loading.first;
    if (!(st.loaded > 0) || !(ms > 0)) return null;
    return { bytes: st.loaded, ms: ms, bps: (st.loaded * 8000) / ms, prefetched: false };
  }

  // With a prefetched part hls.js read it from the browser's cache, and
  // its bandwidth estimate (sampled as the part is buffered) is the cache's
  // speed: the page puts the link's back, an average of its prefetches'.
  let linkBps = 0;
  function linkEstimate(data) {
    if (!hls || !data.part || !hls.autoLevelEnabled) return;
    const t = transfer(data.part);
    if (!t || !t.prefetched) return;
    linkBps = linkBps ? 0.7 * linkBps + 0.3 * t.bps : t.bps;
    hls.bandwidthEstimate = linkBps;
  }

  // Plays, ignoring a refused autoplay (the viewer's click plays).
  function play() {
    const p = video.play();
    if (p && p.catch) p.catch(function () {});
  }

  // Seeks the page makes itself (catching up, going live) are not the
  // viewer rewinding.
  let ownSeek = false;
  function jumpTo(t) {
    ownSeek = true;
    video.currentTime = t;
  }
  video.addEventListener('seeked', function () { ownSeek = false; });
  // A seek by the viewer (the seek bar, the video's own controls, keys) to
  // well behind the edge is a rewind: the page stops pulling them forward.
  video.addEventListener('seeking', function () {
    if (ownSeek || !hls || state.vod) return;
    const edge = hls.liveSyncPosition;
    state.rewound = !!edge && edge - video.currentTime > REWIND_S;
  });

  const clock = window.stageCards ? window.stageCards.clock : function (x) { return Math.round(x) + ' s'; };

  // The DVR bar: from the oldest moment the playlist lists (left) to the
  // live edge (right); its value is minus the seconds behind live.
  let dragging = false;
  function updateDvr() {
    const edge = hls && !state.vod && state.live ? hls.liveSyncPosition : null;
    const s = video.seekable;
    if (!(edge > 0) || !s.length) { dvrEl.hidden = true; return; }
    const windowS = edge - s.start(0);
    state.dvrWindow = Math.max(0, Math.round(windowS));
    state.behindLive = Math.max(0, edge - video.currentTime);
    dvrEl.hidden = windowS < DVR_MIN_S;
    if (!dragging) {
      seekEl.min = String(-Math.floor(windowS));
      seekEl.value = String(-Math.round(state.behindLive));
    }
    behindEl.textContent = state.rewound ? clock(state.behindLive) + ' behind live' : 'LIVE';
    goLiveEl.hidden = !state.rewound;
  }
  setInterval(updateDvr, 500);
  seekEl.addEventListener('input', function () { dragging = true; });
  seekEl.addEventListener('change', function () {
    dragging = false;
    if (!hls) return;
    const behind = -Number(seekEl.value);
    if (behind <= REWIND_S) { goLive(); return; }
    state.rewound = true;
    video.currentTime = hls.liveSyncPosition - behind;
    play();
    updateDvr();
  });
  function goLive() {
    state.rewound = false;
    if (hls && hls.liveSyncPosition) jumpTo(hls.liveSyncPosition);
    play();
    updateDvr();
  }
  goLiveEl.addEventListener('click', goLive);

  function stop() {
    if (hls) { hls.destroy(); hls = null; }
    state.rewound = false;
    video.removeAttribute('src');
    state.streamId = null;
  }

  // Playlist loads: a blocking reload waits up to three part targets; past
  // maxLoadMs it is retried, and errors are retried 6 times with back-off.
  function loadPolicy(maxLoadMs) {
    return {
      maxTimeToFirstByteMs: maxLoadMs / 2, maxLoadTimeMs: maxLoadMs,
      timeoutRetry: { maxNumRetry: 6, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 6, retryDelayMs: 1000, maxRetryDelayMs: 8000 },
    };
  }

  // Members-only streams: packagerd renders every playlist with the token
  // it was asked with on every URI it lists, so parts and segments carry
  // the newest token of the playlist that listed them. Only the playlists'
  // own URLs (from the multivariant playlist, loaded once) would keep the
  // first token: the page puts the renewed one on those (members.js renews
  // a minute before expiry, so a part listed just before is still good).
  function withToken(url) {
    const t = window.stageMembers && window.stageMembers.current();
    if (!t || !/\.(m3u8|mpd)([?#]|$)/.test(url)) return url;
    return url.replace(/([?&]token=)[^&]*/, '$1' + encodeURIComponent(t));
  }
  function xhrSetup(xhr, url) {
    if (!xhr.readyState) xhr.open('GET', withToken(url), true);
    xhr.setRequestHeader('X-Playback-Session-Id', session);
    // The last requests (path and query, when sent, first byte, end,
    // status) for the stall report.
    const r = { t: Date.now(), url: url.replace(/^[a-z]+:\/\/[^/]+/, '').replace(/([?&]token=)[^&]*/, '$1…') };
    keep(state.requests, r, 24);
    xhr.addEventListener('readystatechange', function () {
      if (xhr.readyState === 2 && r.first == null) r.first = Date.now() - r.t;
    });
    xhr.addEventListener('loadend', function () { r.end = Date.now() - r.t; r.status = xhr.status; });
  }

  // hls.js's warnings and errors, the last 60, for the stall report; with
  // `?trace` in the page's address its whole log (each load, parse and
  // append).
  const trace = /[?&]trace\b/.test(location.search);
  state.hlsLog = [];
  function logTo(level) {
    return function () {
      const line = Array.prototype.map.call(arguments, String).join(' ');
      keep(state.hlsLog, (Date.now() % 100000) + ' ' + level + ' ' + line.slice(0, 300), 60);
    };
  }
  const quiet = function () {};
  const hlsLog = {
    trace: quiet, debug: quiet, info: trace ? logTo('info') : quiet,
    log: trace ? logTo('log') : quiet, warn: logTo('warn'), error: logTo('error'),
  };

  function start(info, token) {
    stop();
    state.streamId = info.stream_id;
    state.starts += 1;
    const src = token ? info.playlist_url + '?token=' + encodeURIComponent(token) : info.playlist_url;
    lastAdvance = Date.now();
    video.muted = true;
    if (window.STAGE_HLS_MISSING) {
      show(true, window.STAGE_HLS_MISSING);
      return;
    }
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        debug: hlsLog,
        lowLatencyMode: true,
        // The page steers the latency (steer above); hls.js's own catch-up
        // would set the rate back to 1 on every timeupdate, and its own
        // widening after a stall (1 s each) is latency.js's job.
        maxLiveSyncPlaybackRate: 1,
        liveSyncOnStallIncrease: 0,
        // The page trims the back buffer itself (trimBackBuffer above).
        backBufferLength: Infinity,
        manifestLoadPolicy: { default: loadPolicy(20000) },
        playlistLoadPolicy: { default: loadPolicy(20000) },
        xhrSetup: xhrSetup,
      });
      hls.on(window.Hls.Events.LEVEL_UPDATED, function (_e, data) {
        const d = data.details;
        lat.setBase(d.partHoldBack || d.holdBack || 0);
        // Until playing, hand hls.js the target as soon as the playlist
        // says PART-HOLD-BACK: it picks where to start right after this
        // event, and would start at PART-HOLD-BACK, below a ladder's
        // target, with only a slowed playback to reach it (a sudden limit
        // in the first seconds then found the buffer short).
        if (state.target === null) hls.targetLatency = lat.target();
      });
      hls.on(window.Hls.Events.FRAG_LOADING, function (_e, data) {
        if (data.frag && typeof data.frag.sn === 'number') loading.set(loadKey(data).join('/'), Date.now());
        head = data.frag && data.frag.type === 'main' && typeof data.frag.sn === 'number'
          ? { frag: data.frag, part: data.part || null } : null;
      });
      hls.on(window.Hls.Events.LEVEL_LOADED, function (_e, data) { prefetchHint(data.details); });
      // A load is done when it or a later part of that level is buffered
      // (hls.js loads the parts listed at start-up as one run and reports
      // only the last one buffered), or fails.
      const done = function (_e, data) {
        if (!data.frag || typeof data.frag.sn !== 'number') return;
        const [level, sn, part] = loadKey(data);
        loading.forEach(function (_since, key) {
          const k = key.split('/').map(Number);
          if (k[0] === level && (k[1] < sn || (k[1] === sn && (part < 0 || k[2] <= part)))) loading.delete(key);
        });
        idleSince = Date.now();
      };
      hls.on(window.Hls.Events.FRAG_BUFFERED, done);
      // Play once hls.js has placed the playhead at its start position.
      // Played at once, the browser starts at the first frame buffered
      // (the keyframe, up to a GOP before that position) and hls.js seeks
      // forward when its first run of parts is buffered: a seek that fires
      // `waiting` a second in, which the page took for a stall and widened
      // its target by 0.5 s (bench/README.md, "starting").
      let played = false;
      hls.on(window.Hls.Events.FRAG_BUFFERED, function () {
        if (played || !hls || !hls.hasEnoughToStart) return;
        played = true;
        // The first run of parts can take longer than it plays (a slow
        // link loads a part per round trip): start as near the live sync
        // position as the buffer allows, not where hls.js aimed when the
        // run began, so that the page need not jump right after starting.
        const b = video.buffered;
        const end = b.length ? b.end(b.length - 1) : 0;
        const from = Math.min(hls.liveSyncPosition || 0, end - START_AHEAD_S);
        if (from > video.currentTime + START_AHEAD_S) jumpTo(from);
        // After hls.js's seek there, so that no `waiting` fires at all.
        if (video.seeking) video.addEventListener('seeked', play, { once: true });
        else play();
      });
      hls.on(window.Hls.Events.FRAG_LOAD_EMERGENCY_ABORTED, done);
      hls.on(window.Hls.Events.ERROR, done);
      hls.on(window.Hls.Events.MANIFEST_PARSED, function (_e, data) {
        state.levels = data.levels.map(function (l) { return { height: l.height, bitrate: l.bitrate }; });
        lat.setMargin(data.levels.length > 1 ? LATENCY.LADDER_MARGIN : LATENCY.MARGIN);
      });
      hls.on(window.Hls.Events.FRAG_LOADED, function (_e, data) {
        if (state.rewound) state.dvrLoads += 1;
        abrGuard(data);
      });
      hls.on(window.Hls.Events.FRAG_BUFFERED, function (_e, data) {
        const f = data.part || data.frag;
        const l = f.stats.loading;
        keep(state.recent, {
          t: Date.now(), sn: data.frag.sn, part: data.part ? data.part.index : null,
          start: +f.start.toFixed(3), dur: +f.duration.toFixed(3),
          waitMs: Math.round(l.first - l.start), loadMs: Math.round(l.end - l.first),
          bufferedMs: Math.round(Date.now() - l.end),
        }, 12);
        trimBackBuffer(data);
        linkEstimate(data);
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, function (_e, data) {
        const l = hls.levels[data.level];
        keep(state.switches, [Date.now(), data.level, l ? l.height : null], 1000);
      });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        state.errors.push(data.type + ':' + data.details + (data.fatal ? ':fatal' : ''));
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) noteStall(data.details);
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else {
          stop(); // the next poll starts again
        }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
      play();
    } else {
      show(true, 'This browser cannot play HLS.');
    }
  }

  function waitOver() {
    if (state.waitingSince === null) return;
    const ms = Date.now() - state.waitingSince;
    keep(state.waits, ms, 1000);
    state.waitingSince = null;
    // A stall at the live edge: sit further back from now on.
    if (hls && !state.vod && !state.rewound) lat.stalled(Date.now(), ms);
  }
  video.addEventListener('timeupdate', function () {
    if (video.currentTime !== lastTime) {
      lastTime = video.currentTime;
      lastAdvance = Date.now();
      if (!video.paused && video.readyState >= 3) waitOver();
    }
  });
  video.addEventListener('playing', function () { state.playing = true; waitOver(); });
  function ranges(r) {
    const out = [];
    for (let i = 0; r && i < r.length; i++) out.push([+r.start(i).toFixed(3), +r.end(i).toFixed(3)]);
    return out;
  }
  function noteStall(why) {
    const s = { t: Date.now(), why: why, at: +video.currentTime.toFixed(3), buffered: ranges(video.buffered) };
    // hls.js's SourceBuffers, [type, buffer] pairs (internal; skipped when
    // another version lays them out differently).
    const bufs = hls && hls.bufferController && hls.bufferController.sourceBuffers;
    if (Array.isArray(bufs)) {
      bufs.forEach(function (pair) {
        try { if (pair && pair[0] && pair[1]) s[pair[0]] = ranges(pair[1].buffered); } catch (e) { /* removed */ }
      });
    }
    s.recent = state.recent.slice();
    s.requests = state.requests.map(function (r) { return Object.assign({}, r); });
    s.hlsLog = state.hlsLog.slice(-30);
    keep(state.stalls, s, 20);
  }
  video.addEventListener('waiting', function () {
    if (!state.playing) return;
    state.waitingAfterStart += 1;
    noteStall('waiting');
    if (state.waitingSince === null) state.waitingSince = Date.now();
  });

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
        const members = window.stageMembers;
        const token = info.live && info.members_only && members ? await members.playbackToken() : null;
        if (info.live && info.members_only && !token) {
          // Not (or no longer) a member: the subscribe screen, no playback.
          stop();
          state.streamId = info.stream_id;
          show(true, '');
          if (members) members.showGate(true);
        } else if (info.live && info.ready) {
          show(true, '');
          if (members && members.gate) members.showGate(false);
          const stalled = hls && Date.now() - lastAdvance > STALL_MS;
          if (state.streamId !== info.stream_id || (!hls && !video.src) || stalled) start(info, token);
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

  // A recording (/vod/{id}): plays from the start with the seek bar, no
  // live polling.
  function startVod(id) {
    state.vod = id;
    show(false, '');
    badge.textContent = 'REPLAY';
    badge.className = 'badge offline';
    fetch('/vods/' + encodeURIComponent(id), { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(async function (v) {
        if (!v) { show(false, 'No such recording.'); return; }
        titleEl.textContent = v.title || v.channel;
        document.title = (v.title || v.channel) + ' · StreamStage';
        video.muted = true;
        // A members-only broadcast's replay is for members too.
        let src = v.playlist_url;
        if (v.members_only) {
          const token = window.stageMembers ? await window.stageMembers.playbackToken() : null;
          if (!token) {
            if (window.stageMembers) window.stageMembers.showGate(true);
            return;
          }
          src += '?token=' + encodeURIComponent(token);
        }
        if (window.Hls && window.Hls.isSupported()) {
          hls = new window.Hls({ xhrSetup: xhrSetup });
          hls.on(window.Hls.Events.ERROR, function (_e, data) {
            state.errors.push(data.type + ':' + data.details + (data.fatal ? ':fatal' : ''));
            if (data.fatal && data.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
          });
          hls.loadSource(src);
          hls.attachMedia(video);
        } else {
          video.src = src;
        }
        play();
      })
      .catch(function () { show(false, 'The recording could not be loaded.'); });
  }
  if (parts[0] === 'vod') {
    startVod(parts[1] || '');
    return;
  }

  fetch('/channels/' + encodeURIComponent(channel), { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) { if (c) { titleEl.textContent = c.title || c.name; descEl.textContent = c.description || ''; } })
    .catch(function () {});
  // The channel's past broadcasts, under the player.
  fetch('/vods?limit=6&channel=' + encodeURIComponent(channel), { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (l) {
      if (!l || !window.stageCards || !l.vods.length) return;
      window.stageCards.fill(document.getElementById('pastlist'), document.createElement('p'),
        l.vods.map(window.stageCards.vodCard));
      document.getElementById('past').hidden = false;
    })
    .catch(function () {});
  titleEl.textContent = channel;
  poll();
})();
