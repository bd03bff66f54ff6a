// The soak's viewer: opens a watch page in headless Chromium and, every 10 s
// for SECONDS, prints one JSON line with what the page's player saw: its
// waits after the start, the latency (PROGRAM-DATE-TIME badge, ms), its
// target, and how often it caught up, fell back, trimmed or was unstuck.
// usage: node watch.mjs URL SECONDS
import { launch } from '../../tests/e2e/browser/chromium.mjs';

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 3600)];
const { page, close } = await launch(['--autoplay-policy=no-user-gesture-required']);
await page.goto(url);
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  await new Promise((r) => setTimeout(r, 10000));
  const s = await page.evaluate(() => {
    const p = window.stagePlayer;
    if (!p) return null;
    return {
      playing: p.playing, waits: p.waits, waitingSince: p.waitingSince, latency: p.latency, target: p.target,
      catchups: p.catchups, fallbacks: p.fallbacks, trims: p.trims, unstuck: p.unstuck.length, jumps: p.jumps,
      errors: p.errors.slice(-5), latencies: p.latencies.slice(-10).map((x) => x[1]),
      heap: performance.memory ? performance.memory.usedJSHeapSize : null,
    };
  });
  process.stdout.write(JSON.stringify({ t: Date.now(), ...s }) + '\n');
}
await close();
// Chromium's pipes can keep Node's event loop alive after close (seen at
// the end of the first hour-long run): the soak waits for this to exit.
process.exit(0);
