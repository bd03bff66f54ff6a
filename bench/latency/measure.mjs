// Glass-to-glass probe: opens a player page in headless Chromium and, for
// every frame the video element presents, reads the wall-clock time that
// bench/latency/bench.py painted into the frame (a row of black/white blocks)
// and compares it with the time the frame is shown.
//
// usage: node measure.mjs URL SECONDS   → one JSON line on stdout
import { launch } from '../../tests/e2e/browser/chromium.mjs';

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 60)];
const { page, close } = await launch(['--autoplay-policy=no-user-gesture-required']);
await page.goto(url);

const result = await page.evaluate(async (seconds) => {
  const BITS = 32, BLOCK = 16, X0 = 32, Y0 = 8;
  const video = await new Promise((resolve) => {
    const find = () => { const v = document.querySelector('video'); if (v) resolve(v); else setTimeout(find, 100); };
    find();
  });
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 360;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const samples = [];
  let waiting = 0, playing = false, firstPlayAt = null, undecodable = 0;
  video.addEventListener('playing', () => { playing = true; if (firstPlayAt === null) firstPlayAt = Date.now(); });
  // Each stall after the start: [s after the first play, ms until playing again].
  const stalls = [];
  let waitingSince = null;
  video.addEventListener('waiting', () => {
    if (playing) { waiting += 1; waitingSince = Date.now(); }
  });
  video.addEventListener('playing', () => {
    if (waitingSince !== null) {
      stalls.push([Math.round((waitingSince - firstPlayAt) / 100) / 10, Date.now() - waitingSince]);
      waitingSince = null;
    }
  });
  // Decodes the painted time: bit i is block i (white = 1), a white block
  // before and after as guards.
  function decode() {
    ctx.drawImage(video, 0, 0, 640, 360);
    const row = ctx.getImageData(0, Y0 + BLOCK / 2, 640, 1).data;
    const lum = (x) => row[4 * x];
    if (lum(X0 - BLOCK / 2) < 128 || lum(X0 + BITS * BLOCK + BLOCK / 2) < 128) return null;
    let v = 0;
    for (let i = 0; i < BITS; i++) {
      v = v * 2 + (lum(X0 + i * BLOCK + BLOCK / 2) >= 128 ? 1 : 0);
    }
    return v;
  }
  const end = Date.now() + seconds * 1000 + 30000;
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      const shownAt = performance.timeOrigin + (meta.expectedDisplayTime || now);
      const painted = decode();
      if (painted === null) undecodable += 1;
      else {
        // The painter writes wall-clock ms modulo 2^32.
        const base = Math.floor(shownAt / 4294967296) * 4294967296;
        let t = base + painted;
        if (t > shownAt + 1e9) t -= 4294967296;
        samples.push([Date.now(), Math.round(shownAt - t)]);
      }
      const enough = firstPlayAt !== null && Date.now() - firstPlayAt > seconds * 1000;
      if (enough || Date.now() > end) resolve(); else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(resolve, end - Date.now()); // never played: report what there is
  });
  return { samples, waiting, stalls, undecodable, startedAfterMs: firstPlayAt ? firstPlayAt - (end - seconds * 1000 - 30000) : null };
}, seconds);

// StreamStage's page: how far hls.js's own latency estimate sat behind its
// target (PART-HOLD-BACK) over the second half, and how often the page sped up.
const player = await page.evaluate(() => {
  const p = window.stagePlayer;
  return p ? {
    behind: p.behindTarget.map((x) => x[1]), catchups: p.catchups, stretches: p.stretches, rewound: p.rewound,
    first_behind: p.behindTarget.slice(0, 8).map((x) => x[1]),
    target: p.target, lowest_ahead: p.lowestAhead, target_changes: p.targets.length,
    last_targets: p.targets.slice(-12).map((x) => [x[1], x[2]]),
  } : null;
});
const behind = player ? player.behind.slice(Math.floor(player.behind.length / 2)).sort((a, b) => a - b) : [];

const lat = result.samples.map((s) => s[1]).sort((a, b) => a - b);
const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.round((lat.length - 1) * p))] : null;
const half = Math.floor(result.samples.length / 2);
const med = (arr) => { const a = arr.map((s) => s[1]).sort((x, y) => x - y); return a.length ? a[Math.floor(a.length / 2)] : null; };
process.stdout.write(JSON.stringify({
  url, frames: lat.length, median_ms: pct(0.5), p90_ms: pct(0.9), p99_ms: pct(0.99), max_ms: pct(1),
  first_half_median_ms: med(result.samples.slice(0, half)), second_half_median_ms: med(result.samples.slice(half)),
  behind_target_median_ms: behind.length ? behind[Math.floor(behind.length / 2)] : null,
  catchups: player ? player.catchups : null, stretches: player ? player.stretches : null,
  rewound: player ? player.rewound : null, first_behind_target_ms: player ? player.first_behind : null,
  target_s: player ? player.target : null, lowest_ahead_s: player ? player.lowest_ahead : null,
  target_changes: player ? player.target_changes : null, last_targets: player ? player.last_targets : null,
  waiting_after_start: result.waiting, stalls: result.stalls, undecodable: result.undecodable, startup_ms: result.startedAfterMs,
}) + '\n');
await close();
