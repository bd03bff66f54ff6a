// Drives headless Chromium (Debian's /usr/bin/chromium via playwright-core) at
// a StreamStage watch page and reports playback as JSON lines on stdout.
//
// usage: node play.mjs URL [--dash MPD_URL] — then reads commands on stdin,
// one per line (with --dash, URL only gives the page its origin: the page
// becomes a bare video element playing MPD_URL with dash.js from npm):
//   wait-time SECONDS TIMEOUT_S  → waits until video.currentTime advanced by SECONDS
//   state                        → prints the page's player state
//   wait-until TIMEOUT_S EXPR    → waits until the page's JavaScript EXPR (the rest
//                                  of the line) is true
//   throttle KBIT_PER_S          → DevTools network emulation: the page's downloads
//                                  limited to KBIT_PER_S (0 lifts the limit)
//   fill SELECTOR VALUE          → sets a form field (a range input too) as a user
//                                  would: input and change events fire (VALUE is
//                                  the rest of the line, spaces included)
//   click SELECTOR               → clicks the element (SELECTOR is the rest of
//                                  the line: Playwright selectors, :has-text too)
//   eval EXPR                    → the value of the page's JavaScript EXPR
//   quit
import readline from 'node:readline';
import { launch } from './chromium.mjs';

const url = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const { page, close } = await launch();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(m.type() + ': ' + m.text()));
page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
// Chromium's own media log (DevTools' Media panel): why the pipeline stopped
// (its buffering state says whether the demuxer ran out of data or the
// decoder could not keep up) and its errors, for stall reports.
const mediaLog = [];
const media = await page.context().newCDPSession(page);
const keep = (kind, items) => {
  for (const m of items) {
    const text = JSON.stringify(m.value ?? m.message ?? m.errorType ?? m).slice(0, 240);
    if (kind === 'event' && !/buffering|underflow|stall|error|seek/i.test(text)) continue;
    mediaLog.push(`${Date.now()} ${kind}: ${text}`);
    if (mediaLog.length > 200) mediaLog.shift();
  }
};
media.on('Media.playerEventsAdded', (e) => keep('event', e.events));
media.on('Media.playerPropertiesChanged', (e) => keep('event', e.properties.map((p) => ({ value: `${p.name}=${p.value}` }))));
media.on('Media.playerMessagesLogged', (e) => keep('message', e.messages.filter((m) => m.level !== 'debug')));
media.on('Media.playerErrorsRaised', (e) => keep('error', e.errors));
await media.send('Media.enable');
await page.goto(url);
if (process.argv[3] === '--dash') await dashPage(process.argv[4]);
out({ event: 'loaded' });

// A bare page playing an MPD with dash.js, reporting like the watch page.
async function dashPage(mpd) {
  await page.setContent('<video id="video" muted playsinline></video><p id="badge"></p><p id="title"></p>');
  await page.addScriptTag({ path: new URL('../../../node_modules/dashjs/dist/modern/umd/dash.all.min.js', import.meta.url).pathname });
  await page.evaluate((mpd) => {
    const video = document.getElementById('video');
    const state = (window.stagePlayer = { errors: [], playing: false, waitingAfterStart: 0, waits: [], waitingSince: null });
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => state.errors.push(JSON.stringify(e.error || e).slice(0, 300)));
    video.addEventListener('playing', () => {
      state.playing = true;
      if (state.waitingSince !== null) { state.waits.push(Date.now() - state.waitingSince); state.waitingSince = null; }
    });
    video.addEventListener('waiting', () => {
      if (!state.playing) return;
      state.waitingAfterStart += 1;
      if (state.waitingSince === null) state.waitingSince = Date.now();
    });
    player.initialize(video, mpd, true);
    window.dashPlayer = player;
  }, mpd);
}

const state = () => page.evaluate(() => {
  const v = document.querySelector('video');
  // A page without a player (the front page): its text only.
  if (!v) return { text: document.body.innerText.slice(0, 2000) };
  return {
    currentTime: v.currentTime, paused: v.paused, readyState: v.readyState, videoHeight: v.videoHeight,
    badge: document.getElementById('badge').textContent,
    title: document.getElementById('title').textContent,
    player: window.stagePlayer,
    chat: window.stageChat,
  };
}).then((s) => {
  if (s.player) s.player.media = mediaLog.slice(-40);
  return s;
});

let cdp = null;
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
    } else if (cmd === 'wait-until') {
      const expr = line.trim().split(/\s+/).slice(2).join(' ');
      const t0 = Date.now();
      let ok = true;
      try {
        await page.waitForFunction(expr, null, { timeout: Number(a) * 1000, polling: 100 });
      } catch (e) {
        ok = false;
      }
      out({ event: 'wait-until', ok, waited_ms: Date.now() - t0, state: await state(), console: consoleLines.slice(-20) });
    } else if (cmd === 'throttle') {
      const kbps = Number(a);
      if (!cdp) {
        cdp = await page.context().newCDPSession(page);
        await cdp.send('Network.enable');
      }
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: kbps > 0 ? 20 : 0,
        downloadThroughput: kbps > 0 ? (kbps * 1000) / 8 : -1,
        uploadThroughput: -1,
      });
      out({ event: 'throttle', kbps, at: Date.now() });
    } else if (cmd === 'fill') {
      const value = line.replace(/^\s*fill\s+\S+\s/, '');
      await page.locator(a).fill(value);
      out({ event: 'fill', at: Date.now(), state: await state() });
    } else if (cmd === 'click') {
      await page.locator(line.trim().replace(/^click\s+/, '')).click();
      out({ event: 'click', at: Date.now(), state: await state() });
    } else if (cmd === 'eval') {
      const expr = line.trim().replace(/^eval\s+/, '');
      out({ event: 'eval', value: await page.evaluate(expr) });
    } else if (cmd === 'quit') {
      break;
    }
  } catch (e) {
    out({ event: 'error', message: String(e), console: consoleLines.slice(-20) });
  }
}
await close();
out({ event: 'closed' });
