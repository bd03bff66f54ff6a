// Drives headless Chromium (Debian's /usr/bin/chromium via playwright-core) at
// a StreamStage watch page and reports playback as JSON lines on stdout.
//
// usage: node play.mjs URL  — then reads commands on stdin, one per line:
//   wait-time SECONDS TIMEOUT_S  → waits until video.currentTime advanced by SECONDS
//   state                        → prints the page's player state
//   quit
import readline from 'node:readline';
import { launch } from './chromium.mjs';

const url = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const { page, close } = await launch();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(m.type() + ': ' + m.text()));
page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
await page.goto(url);
out({ event: 'loaded' });

const state = () => page.evaluate(() => {
  const v = document.querySelector('video');
  return {
    currentTime: v.currentTime, paused: v.paused, readyState: v.readyState,
    badge: document.getElementById('badge').textContent,
    title: document.getElementById('title').textContent,
    player: window.stagePlayer,
  };
});

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, a, b] = line.trim().split(/\s+/);
  try {
    if (cmd === 'wait-time') {
      const need = Number(a);
      const limit = Date.now() + Number(b) * 1000;
      const start = (await state()).currentTime;
      let s = await state();
      let startedAt = null;
      while (Date.now() < limit) {
        s = await state();
        if (startedAt === null && s.currentTime > start) startedAt = Date.now();
        if (s.currentTime - start >= need) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      out({ event: 'wait-time', ok: s.currentTime - start >= need, advanced: s.currentTime - start, state: s, console: consoleLines.slice(-20) });
    } else if (cmd === 'state') {
      out({ event: 'state', state: await state() });
    } else if (cmd === 'quit') {
      break;
    }
  } catch (e) {
    out({ event: 'error', message: String(e), console: consoleLines.slice(-20) });
  }
}
await close();
out({ event: 'closed' });
