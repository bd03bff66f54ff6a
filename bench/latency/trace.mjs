// Debug trace of the player page: every 250 ms hls.js's latency and target,
// the playback rate and the buffer ahead; plus hls.js's loading events and
// the video element's stalls, each with its time. For finding out why a
// player stalled or drifted (not used by the benchmarks themselves).
// usage: node trace.mjs URL SECONDS → JSON lines on stdout
import { launch } from '../../tests/e2e/browser/chromium.mjs';

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 30)];
const { page, close } = await launch(['--autoplay-policy=no-user-gesture-required']);
await page.goto(url);
const end = Date.now() + seconds * 1000;
let hooked = false;
while (Date.now() < end) {
  const out = await page.evaluate((hook) => {
    const p = window.stagePlayer; const h = p && p.hls; const v = document.querySelector('video');
    if (!h || !v) return null;
    if (hook && !window.__trace) {
      window.__trace = [];
      const E = window.Hls.Events;
      for (const ev of [E.FRAG_LOADING, E.FRAG_LOADED, E.LEVEL_LOADING, E.LEVEL_LOADED, E.ERROR, E.FRAG_BUFFERED]) {
        h.on(ev, (_e, d) => {
          const f = d.frag || {}; const part = d.part || {};
          window.__trace.push({ t: Date.now(), ev, sn: f.sn, part: part.index, url: (d.url || (part.url) || f.url || '').split('/').pop(),
            details: typeof d.details === 'string' ? d.details : undefined, fatal: d.fatal,
            end: f.end !== undefined ? Math.round((part.start !== undefined ? part.start + part.duration : f.end) * 1000) / 1000 : undefined });
        });
      }
      for (const ev of ['waiting', 'playing', 'stalled', 'seeking', 'seeked']) {
        v.addEventListener(ev, () => window.__trace.push({ t: Date.now(), ev, cur: v.currentTime }));
      }
    }
    const b = v.buffered; const d = h.latencyController && h.latencyController.levelDetails;
    const events = window.__trace ? window.__trace.splice(0) : [];
    return { events, row: { t: Date.now(), lat: h.latency, target: h.targetLatency, rate: v.playbackRate, cur: v.currentTime,
      ahead: b.length ? b.end(b.length - 1) - v.currentTime : 0, ranges: b.length, edge: d && d.edge, age: d && d.age,
      badge: p.latency } };
  }, !hooked);
  if (out) {
    hooked = true;
    for (const e of out.events) console.log(JSON.stringify(e));
    console.log(JSON.stringify(out.row));
  }
  await new Promise((r) => setTimeout(r, 250));
}
await close();
