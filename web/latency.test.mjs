// Unit tests for web/latency.js: node --test web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLatencyTarget, DEFAULTS as D } from './latency.js';

const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('a calm player aims just above PART-HOLD-BACK', () => {
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

test('near misses widen at most once per WIDEN_MS and calm narrows slowly back to the base', () => {
  const t = createLatencyTarget(0.6);
  // A 300 ms freeze: the buffer dips for a second, sampled 4 times a second.
  for (let ms = 0; ms < 1000; ms += 250) t.sample(ms, 0.1);
  close(t.cushion(), D.NEAR_MISS_STEP);
  // Sustained jitter: dips every second for 10 s.
  for (let ms = 1000; ms < 11000; ms += 1000) t.sample(ms, 0.15);
  const wide = t.cushion();
  assert.ok(wide >= 5 * D.NEAR_MISS_STEP - 1e-9, `cushion ${wide}`);
  // Calm: nothing for CALM_MS, then a step every NARROW_MS.
  let ms = 11000;
  for (; ms < 10000 + D.CALM_MS; ms += 250) t.sample(ms, 0.5);
  close(t.cushion(), wide);
  for (; t.cushion() > 0; ms += 250) t.sample(ms, 0.5);
  const took = ms - (10000 + D.CALM_MS);
  const steps = Math.round(wide / D.NARROW_STEP);
  assert.ok(took >= (steps - 1) * D.NARROW_MS && took <= (steps + 1) * D.NARROW_MS, `narrowed in ${took} ms`);
  close(t.target(), 0.6 + D.MARGIN);
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
  assert.equal(t.rate(goal + 0.1, 1), 1, 'inside the dead band');
  assert.equal(t.rate(goal + 0.2, 0.1), 1, 'too little buffered to catch up');
  assert.equal(t.rate(goal + 0.2, 0.6), D.FAST);
  assert.equal(t.rate(goal + 0.05, 0.6), D.FAST, 'keeps going until settled');
  assert.equal(t.rate(goal + 0.01, 0.6), 1);
  assert.equal(t.rate(goal - 0.05, 0.6), 1, 'inside the dead band');
  assert.equal(t.rate(goal - 0.2, 0.6), D.SLOW);
  assert.equal(t.rate(goal - 0.05, 0.6), D.SLOW, 'keeps going until settled');
  assert.equal(t.rate(goal - 0.01, 0.6), 1);
});

test('a ladder keeps room for a switch down', () => {
  const t = createLatencyTarget(0.6);
  t.setMargin(D.LADDER_MARGIN);
  close(t.target(), 0.6 + D.LADDER_MARGIN);
  t.setMargin(D.MARGIN);
  close(t.target(), 0.6 + D.MARGIN);
});
