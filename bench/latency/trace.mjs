// Root-cause trace of the player page: what the browser and hls.js did, with
// times, around every stall. Not used by the benchmarks themselves.
//
// usage: node trace.mjs URL SECONDS → JSON lines on stdout, one per event:
//   {t, k: 'hls', ev, sn, part, type, bytes, ...}   hls.js events (loading,
//        loaded, parsed, appending, appended, buffered, flushing, flushed,
//        frag changed, level switched, errors)
//   {t, k: 'sb', op: 'append'|'remove', type, bytes, ms}  each SourceBuffer
//        operation, from the call to its `updateend` (Chromium's MSE time)
//   {t, k: 'lag', ms}        the page's main thread did not run for ms (> 50)
//   {t, k: 'longtask', ms}   PerformanceObserver long tasks
//   {t, k: 'video', ev, cur, buffered}  waiting / playing / stalled / seeking
//   {t, k: 'media', ...}     Chrome DevTools Protocol `Media` domain: the
//        player's own events, property changes and messages (its pipeline)
//   {t, k: 'log', level, msg} hls.js's own log, every line
//   {t, k: 'row', ...}       every 250 ms: latency, target, rate, buffer ahead
// Extra Chromium flags can follow after `--`.
import { launch } from '../../tests/e2e/browser/chromium.mjs';

const dash = process.argv.indexOf('--');
const args = dash > 0 ? process.argv.slice(2, dash) : process.argv.slice(2);
const extra = dash > 0 ? process.argv.slice(dash + 1) : [];
const [url, seconds] = [args[0], Number(args[1] || 30)];
const { page, close } = await launch(['--autoplay-policy=no-user-gesture-required', ...extra]);
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Before any page script: time every SourceBuffer operation, watch the
// main thread's gaps and long tasks.
await page.addInitScript(() => {
  const T = (window.__trace = []);
  const push = (o) => { o.t = Date.now(); T.push(o); };
  const SB = window.SourceBuffer && window.SourceBuffer.prototype;
  if (SB) {
    const types = new WeakMap();
    const ms = window.MediaSource && window.MediaSource.prototype;
    const add = ms.addSourceBuffer;
    ms.addSourceBuffer = function (mime) {
      const sb = add.call(this, mime);
      types.set(sb, mime.split(';')[0]);
      return sb;
    };
    const wrap = (name) => {
      const orig = SB[name];
      SB[name] = function (a, b) {
        const t0 = performance.now();
        const sb = this;
        const o = { k: 'sb', op: name === 'appendBuffer' ? 'append' : 'remove', type: types.get(sb),
          bytes: a && a.byteLength, from: name === 'remove' ? a : undefined, to: name === 'remove' ? b : undefined };
        sb.addEventListener('updateend', () => { o.ms = Math.round(performance.now() - t0); push(o); }, { once: true });
        return orig.call(this, a, b);
      };
    };
    wrap('appendBuffer');
    wrap('remove');
  }
  // hls.js's own log (every line), through its `debug` option.
  let H;
  Object.defineProperty(window, 'Hls', {
    configurable: true,
    get() { return H; },
    set(v) {
      H = class extends v {
        constructor(cfg) {
          const line = (level) => (...a) => push({ k: 'log', level, msg: a.map(String).join(' ').slice(0, 400) });
          super(Object.assign({}, cfg, { debug: { trace() {}, debug() {}, log: line('log'), info: line('info'), warn: line('warn'), error: line('error') } }));
        }
      };
    },
  });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 60) push({ k: 'lag', ms: Math.round(now - last - 10) });
    last = now;
  }, 10);
  try {
    new PerformanceObserver((l) => l.getEntries().forEach((e) => push({ k: 'longtask', ms: Math.round(e.duration) })))
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { /* not supported */ }
});

const cdp = await page.context().newCDPSession(page);
cdp.on('Media.playerEventsAdded', (e) => e.events.forEach((x) => emit({ t: Date.now(), k: 'media', event: x.value })));
cdp.on('Media.playerPropertiesChanged', (e) => e.properties.forEach((p) => {
  if (!/kFramerate|kVideoPlaybackRoughness|kVideoPlaybackFreezing/.test(p.name)) emit({ t: Date.now(), k: 'media', prop: p.name, value: p.value });
}));
cdp.on('Media.playerMessagesLogged', (e) => e.messages.forEach((m) => emit({ t: Date.now(), k: 'media', level: m.level, msg: m.message })));
cdp.on('Media.playerErrorsRaised', (e) => e.errors.forEach((x) => emit({ t: Date.now(), k: 'media', error: x })));
await cdp.send('Media.enable');

await page.goto(url);
const end = Date.now() + seconds * 1000;
let hooked = false;
while (Date.now() < end) {
  const out = await page.evaluate((hook) => {
    const p = window.stagePlayer; const h = p && p.hls; const v = document.querySelector('video');
    if (!h || !v) return null;
    const T = window.__trace;
    const ranges = (r) => { const o = []; for (let i = 0; i < r.length; i++) o.push([+r.start(i).toFixed(3), +r.end(i).toFixed(3)]); return o; };
    if (hook && !window.__hooked) {
      window.__hooked = true;
      const E = window.Hls.Events;
      for (const ev of [E.FRAG_LOADING, E.FRAG_LOADED, E.FRAG_PARSED, E.FRAG_PARSING_INIT_SEGMENT, E.BUFFER_APPENDING,
        E.BUFFER_APPENDED, E.FRAG_BUFFERED, E.BUFFER_FLUSHING, E.BUFFER_FLUSHED, E.FRAG_CHANGED, E.LEVEL_SWITCHING,
        E.LEVEL_SWITCHED, E.LEVEL_LOADED, E.ERROR, E.BACK_BUFFER_REACHED]) {
        h.on(ev, (_e, d) => {
          const f = d.frag || {}; const part = d.part || {};
          T.push({ t: Date.now(), k: 'hls', ev, sn: f.sn, part: part.index, type: d.type, level: d.level,
            bytes: d.data && d.data.byteLength, start: d.startOffset, end: d.endOffset,
            details: typeof d.details === 'string' ? d.details : undefined, fatal: d.fatal,
            // Playlist loads: what was asked (msn, part) and what came back
            // (last segment, its last part).
            ask: ev === E.LEVEL_LOADED && d.details && d.details.url ? (d.details.url.match(/_HLS_msn=\d+(&_HLS_part=\d+)?/) || [''])[0] : undefined,
            got: ev === E.LEVEL_LOADED && d.details ? [d.details.endSN, d.details.partList ? d.details.partList[d.details.partList.length - 1].index : null, Math.round((d.stats && d.stats.loading) ? d.stats.loading.end - d.stats.loading.start : -1)] : undefined,
            stats: ev === E.FRAG_LOADED && (part.stats || f.stats) ? (() => { const l = (part.stats || f.stats).loading; return [Math.round(l.first - l.start), Math.round(l.end - l.first)]; })() : undefined });
        });
      }
      // After each playlist load that left hls.js idle: what its stream
      // controller would load next, and why not (its internals; for
      // debugging only).
      // Every playlist load: its parts, segment by segment, with the
      // ones hls.js counts as loaded ('sn:count/loaded').
      h.on(E.LEVEL_LOADED, (_e, d) => {
        const pl = (d.details && d.details.partList) || [];
        const segs = [];
        for (const p of pl) {
          const last = segs[segs.length - 1];
          if (!last || last[0] !== p.fragment.sn) segs.push([p.fragment.sn, 0, 0, p.index]);
          const s = segs[segs.length - 1];
          s[1] += 1; s[2] += p.loaded ? 1 : 0;
        }
        T.push({ t: Date.now(), k: 'parts', skip: d.details && d.details.skippedSegments, list: segs.map((s) => s[0] + ':' + s[1] + '/' + s[2] + (s[3] ? '@' + s[3] : '')).join(' ') });
      });
      h.on(E.LEVEL_LOADED, () => setTimeout(() => {
        const sc = h.streamController;
        if (!sc) { T.push({ t: Date.now(), k: 'probe', err: 'no streamController: ' + Object.keys(h).join(',') }); return; }
        if (sc.state !== 'IDLE') return;
        try {
          const d = sc.getLevelDetails();
          const bi = sc.getMainFwdBufferInfo();
          const f = d && bi ? sc.getNextFragment(bi.end, d) : null;
          const pl = (d && d.partList) || [];
          T.push({ t: Date.now(), k: 'probe', lp: sc.loadingParts, end: bi && +bi.end.toFixed(3), len: bi && +bi.len.toFixed(3),
            f: f && [f.sn, +f.start.toFixed(3), +f.end.toFixed(3), !!f.url, sc.fragmentTracker.getState(f)],
            np: f ? sc.getNextPart(pl, f, bi.end) : null,
            hint: d && d.fragmentHint ? [d.fragmentHint.sn, pl.length ? d.fragmentHint === pl[pl.length - 1].fragment : null] : null,
            prev: sc.fragPrevious ? [sc.fragPrevious.sn, sc.fragmentTracker.getState(sc.fragPrevious)] : null,
            parts: pl.slice(-12).map((p) => [p.fragment.sn, p.index, p.loaded ? 1 : 0, p.fragment === f ? 1 : 0, +p.start.toFixed(3)]) });
        } catch (e) { T.push({ t: Date.now(), k: 'probe', err: String(e) }); }
      }, 0));
      for (const ev of ['waiting', 'playing', 'stalled', 'seeking', 'seeked', 'ratechange']) {
        v.addEventListener(ev, () => T.push({ t: Date.now(), k: 'video', ev, cur: +v.currentTime.toFixed(3), rate: v.playbackRate, buffered: ranges(v.buffered) }));
      }
    }
    const b = v.buffered;
    const events = T.splice(0);
    return { events, row: { t: Date.now(), k: 'row', lat: h.latency && +h.latency.toFixed(3), target: h.targetLatency && +h.targetLatency.toFixed(3),
      rate: v.playbackRate, cur: +v.currentTime.toFixed(3), ahead: b.length ? +(b.end(b.length - 1) - v.currentTime).toFixed(3) : 0,
      ranges: b.length, badge: p.latency, waiting: p.waitingAfterStart, unstuck: p.unstuck.length, prefetches: p.prefetches, target: p.target } };
  }, !hooked);
  if (out) {
    hooked = true;
    for (const e of out.events) emit(e);
    emit(out.row);
  }
  await new Promise((r) => setTimeout(r, 250));
}
await close();
