// Unit tests for web/latency.js: node --test web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLatencyTarget, DEFAULTS as D } from './latency.js';

const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('a calm player aims at PART-HOLD-BACK plus MARGIN', () => {
  const t = createLatencyTarget(0.609);
  for (let ms = 0; ms < 60000; ms += 250) t.sample(ms, 0.5);
  close(t.target(), 0.609 + D.MARGIN);
  assert.equal(t.changes.length, 0);
});

test('a stall widens the target by its length, at least STALL_STEP', () => {
  const t = createLatencyTarget(0.6);
  t.stalled(1000, 120);
  close(t.target(), 0.6 + D.MARGIN + D.STALL_STEP);
  t.stalled(2000, 900);
  close(t.target(), 0.6 + D.MARGIN + D.STALL_STEP + 0.9);
});

test('stalls in a burst widen the target once, then by their own lengths', () => {
  const t = createLatencyTarget(0.6);
  t.stalled(10000, 270);
  t.stalled(10700, 220);
  t.stalled(11500, 140);
  close(t.cushion(), D.STALL_STEP + 0.22 + 0.14);
  // A stall after the burst is new trouble.
  t.stalled(11500 + D.EPISODE_MS + 1000, 100);
  close(t.cushion(), 2 * D.STALL_STEP + 0.22 + 0.14);
});

test('a wait of a frame or two is a near miss, not a stall', () => {
  const t = createLatencyTarget(0.6);
  t.stalled(1000, 10);
  close(t.cushion(), D.NEAR_MISS_STEP);
  // A dip right after counts as the same near miss.
  t.sample(1500, 0.1);
  close(t.cushion(), D.NEAR_MISS_STEP);
  t.stalled(3000, D.SHORT_WAIT_MS);
  close(t.cushion(), D.NEAR_MISS_STEP + D.STALL_STEP);
});

// What a player at the target has ahead on a link whose parts come in
// `lag` s late: the target less the lag, in a part-long sawtooth (the
// buffer grows by a part when one lands). `drain(ms)` takes more away.
function play(t, from, to, { lag = 0.15, drain = () => 0, step = 100 } = {}) {
  let lows = 0;
  let lowest = Infinity;
  for (let ms = from; ms < to; ms += step) {
    const ahead = Math.max(0, t.target() - lag - (ms % 200) / 1000 - drain(ms));
    if (ahead < D.LOW_WATER) lows += 1;
    lowest = Math.min(lowest, ahead);
    t.sample(ms, ahead);
  }
  return { lows, lowest };
}

test('near misses widen at most once per WIDEN_MS and calm narrows slowly back to the base', () => {
  const t = createLatencyTarget(0.6);
  // A 300 ms freeze: the buffer dips for a second, sampled 4 times a second.
  for (let ms = 0; ms < 1000; ms += 250) t.sample(ms, 0.1);
  close(t.cushion(), D.NEAR_MISS_STEP);
  // Sustained jitter: dips every second for 10 s.
  for (let ms = 1000; ms < 11000; ms += 1000) t.sample(ms, 0.15);
  const wide = t.cushion();
  assert.ok(wide >= 5 * D.NEAR_MISS_STEP - 1e-9, `cushion ${wide}`);
  // Calm: the dips keep it wide for WINDOW_MS, then a step every NARROW_MS.
  play(t, 11000, 10000 + D.WINDOW_MS);
  close(t.cushion(), wide);
  let ms = 10000 + D.WINDOW_MS;
  for (; t.cushion() > 0 && ms < 10000 + 2 * D.WINDOW_MS; ms += 100) play(t, ms, ms + 100);
  const took = ms - (10000 + D.WINDOW_MS);
  const steps = Math.round(wide / D.NARROW_STEP);
  assert.ok(took >= (steps - 1) * D.NARROW_MS && took <= (steps + 1) * D.NARROW_MS, `narrowed in ${took} ms`);
  close(t.target(), 0.6 + D.MARGIN);
});

test('a link that freezes every 20 s holds the target where the freezes leave room, without narrowing into the next one', () => {
  const t = createLatencyTarget(0.6);
  // 300 ms freezes (wifi) plus their delay: the buffer drains 0.4 s more
  // over the second each takes to recover from.
  const freeze = (ms) => (ms % 20000 < 1000 ? 0.4 * Math.min(1, (ms % 20000) / 400) : 0);
  play(t, 0, 60000, { drain: freeze });
  const settled = t.cushion();
  assert.ok(settled > 0, 'the freezes widened the target');
  const before = t.changes.length;
  const { lows, lowest } = play(t, 60000, 660000, { drain: freeze });
  assert.equal(lows, 0, `dipped under LOW_WATER; lowest ${lowest} s ahead; changes ${JSON.stringify(t.changes)}`);
  assert.ok(t.changes.length - before <= 1, `moved ${t.changes.length - before} times in 10 min: ${JSON.stringify(t.changes.slice(before))}`);
  assert.ok(t.cushion() <= settled + 1e-9, `cushion ${t.cushion()} > ${settled}`);
});

test('a stall keeps the target from narrowing for WINDOW_MS, then calm brings it back', () => {
  const t = createLatencyTarget(0.6);
  t.stalled(1000, 800);
  close(t.cushion(), 0.8);
  play(t, 2000, 1000 + D.WINDOW_MS);
  close(t.cushion(), 0.8);
  play(t, 1000 + D.WINDOW_MS, 1000 + D.WINDOW_MS + 12 * D.NARROW_MS);
  close(t.cushion(), 0);
});

test('a calm link on a wide target narrows only as far as its own dips allow', () => {
  const t = createLatencyTarget(0.6);
  t.stalled(0, 600);
  // Parts come 0.35 s late: at the base the buffer would dip to 0.05 s.
  play(t, 1000, 1000 + 3 * D.WINDOW_MS, { lag: 0.35 });
  const low = t.lowestAhead(1000 + 3 * D.WINDOW_MS);
  assert.ok(low >= D.LOW_WATER + D.GUARD - 1e-9, `lowest ahead ${low}`);
  assert.ok(t.cushion() > 0 && t.cushion() < 0.6, `cushion ${t.cushion()}`);
});

test('the target never exceeds MAX', () => {
  const t = createLatencyTarget(0.6);
  for (let i = 0; i < 10; i++) t.stalled(i * 1000, 3000);
  assert.equal(t.target(), D.MAX);
  for (let ms = 0; ms < 20000; ms += 250) t.sample(ms, 0);
  assert.equal(t.target(), D.MAX);
});

test('the rate catches up and falls back with hysteresis, and never catches up on an empty buffer', () => {
  const t = createLatencyTarget(0.6);
  const goal = t.target();
  assert.equal(t.rate(goal + 0.1, 1, 0), 1, 'inside the dead band');
  assert.equal(t.rate(goal + 0.2, 0.35, 100), 1, 'too little buffered to catch up');
  assert.equal(t.rate(goal + 0.2, 0.6, 200), D.FAST);
  assert.equal(t.rate(goal + 0.05, 0.6, 300), D.FAST, 'keeps going until settled');
  assert.equal(t.rate(goal + 0.01, 0.6, 400), 1);
  assert.equal(t.rate(goal - 0.05, 0.6, 500), 1, 'inside the dead band');
  assert.equal(t.rate(goal - 0.2, 0.6, 600), D.SLOW);
  assert.equal(t.rate(goal - 0.05, 0.6, 700), D.SLOW, 'keeps going until settled');
  assert.equal(t.rate(goal - 0.01, 0.6, 800), 1);
});

test('a lag inside the dead band that lasts DRIFT_MS is caught up; a moment of it is not', () => {
  const t = createLatencyTarget(0.6);
  const goal = t.target();
  const lag = (D.DRIFT + D.CATCH_UP) / 2;
  // A moment behind (a late part), then back: left alone, and the clock
  // starts again.
  for (let ms = 0; ms < D.DRIFT_MS - 500; ms += 100) assert.equal(t.rate(goal + lag, 0.6, ms), 1);
  assert.equal(t.rate(goal + 0.01, 0.6, D.DRIFT_MS - 500), 1);
  let ms = D.DRIFT_MS;
  for (const end = ms + D.DRIFT_MS - 100; ms < end; ms += 100) assert.equal(t.rate(goal + lag, 0.6, ms), 1, `at ${ms} ms`);
  // The buffer running low meanwhile starts the clock again too.
  assert.equal(t.rate(goal + lag, 0.4, ms), 1);
  const from = (ms += 100);
  for (; ms < from + D.DRIFT_MS; ms += 100) assert.equal(t.rate(goal + lag, 0.6, ms), 1, `at ${ms} ms`);
  assert.equal(t.rate(goal + lag, 0.6, ms), D.FAST, 'lasted DRIFT_MS');
  assert.equal(t.rate(goal + D.SETTLED + 0.01, 0.6, ms + 100), D.FAST, 'keeps going until settled');
  assert.equal(t.rate(goal + 0.01, 0.6, ms + 200), 1);
  // A lag under DRIFT is never caught up.
  for (let at = ms + 300; at < ms + 300 + 3 * D.DRIFT_MS; at += 100) {
    assert.equal(t.rate(goal + D.DRIFT - 0.01, 0.6, at), 1);
  }
});

test('a ladder keeps room for a switch down', () => {
  const t = createLatencyTarget(0.6);
  t.setMargin(D.LADDER_MARGIN);
  close(t.target(), 0.6 + D.LADDER_MARGIN);
  t.setMargin(D.MARGIN);
  close(t.target(), 0.6 + D.MARGIN);
});

test('a buffer running out is stretched, deeper the lower it runs, and steering resumes once it fills', () => {
  const t = createLatencyTarget(0.6);
  const floor = D.STRETCH_SHARE * t.target();
  assert.equal(t.rate(t.target(), floor + 0.01, 0), 1, 'above the floor');
  const mild = t.rate(t.target(), floor * 0.9, 100);
  assert.ok(mild < 1 && mild > D.STRETCH, `just under the floor: ${mild}`);
  assert.equal(t.rate(t.target(), floor / 2, 200), D.STRETCH);
  assert.equal(t.rate(t.target(), 0, 300), D.STRETCH, 'never slower than STRETCH');
  // Filled again, well behind the target now: catch up.
  assert.equal(t.rate(t.target() + 0.3, 0.6, 400), D.FAST);
  // A calm link's dips never stretch: at the 0.507 s target the buffer
  // runs from the target down by a part (0.167 s) as each part lands
  // (lowest 0.353 s measured, bench/README.md).
  const c = createLatencyTarget(0.507);
  for (let ms = 0; ms < 10000; ms += 100) {
    const ahead = c.target() - (ms % 167) / 1000;
    assert.ok(c.rate(c.target(), ahead, ms) >= 1, `stretched at ${ahead} s ahead`);
  }
});

test('a freeze shorter than the buffer, stretched, runs it dry later than at full speed', () => {
  // A 1.0 s freeze, 0.9 s buffered at a 1.2 s target: at full speed the
  // buffer is gone after 0.9 s; stretched it lasts the freeze out.
  const t = createLatencyTarget(1.2);
  let ahead = 0.9;
  let ms = 0;
  for (; ms < 1000 && ahead > 0; ms += 10) ahead -= (t.rate(1.2, ahead, ms) * 10) / 1000;
  assert.ok(ahead > 0, `ran dry after ${ms} ms`);
});
