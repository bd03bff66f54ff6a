// How far behind the live edge the player aims to sit: as close as the
// network allows. Pure logic (no DOM, no clock of its own): the player page
// feeds it what it sees and asks for the target and the playback rate, so it
// is unit-tested in Node (web/latency.test.mjs).
//
// The target starts at PART-HOLD-BACK (the closest the server says a
// player may sit) plus MARGIN. Trouble widens it at once: a stall by its
// length (at least STALL_STEP), a near miss (the buffer ahead of the
// playhead fell under LOW_WATER, or a wait shorter than SHORT_WAIT_MS) by
// NEAR_MISS_STEP. Calm narrows it slowly: after CALM_MS with neither,
// NARROW_STEP every NARROW_MS, back down to the base, but only as far as
// the network has shown it may: every dip of the buffer in the last
// WINDOW_MS (a stall counts as a dip below empty), replayed at the
// narrower target, must still leave LOW_WATER + GUARD ahead. A network
// that freezes every 20 s therefore holds the target where its freezes
// leave room, instead of narrowing into the next freeze every 30 s and
// widening again (bench/README.md, "the soak"). It never goes past MAX.
//
// The rate moves the player toward the target (a little faster or slower),
// and stretches a buffer running out (STRETCH) so that a freeze shorter
// than what is buffered, slowed, costs no stall.

/** Tunables, in seconds unless named _MS. */
export const DEFAULTS = Object.freeze({
  // Above PART-HOLD-BACK when calm. None: the server's PART-HOLD-BACK
  // (three parts) already covers a part's transfer and append on a clean
  // link, and dips below LOW_WATER widen the target where it does not.
  MARGIN: 0,
  // With a ladder: room for one switch down before the buffer runs out:
  // the slow part that shows the link fell (stopped after ~120 ms by the
  // page), the lower rung's playlist, init segment and parts from its last
  // switch point (up to 3 parts back). 0.35 s held in 12 runs of a sudden
  // 1.2 Mbit/s limit with near misses down to 0.2 s ahead here; on CI's
  // machine the limit once came while hls.js loaded a run of 720p parts it
  // does not stop (0.8 s for two), then 360p loaded the two again: a
  // 331 ms wait from 0.96 s ahead at 0.5. 0.9 covers that run and a slower
  // machine's part appends (bench/README.md, "switching down").
  LADDER_MARGIN: 0.9,
  MAX: 3.0,
  STALL_STEP: 0.5,
  // Stalls this close after one are the same trouble (a link catching up
  // after a freeze stalls in bursts): each widens by its own length only.
  EPISODE_MS: 3000,
  // A wait shorter than this (a frame or two: a seek's first decode, a
  // part appended a frame late) counts as a near miss, not a stall.
  SHORT_WAIT_MS: 50,
  LOW_WATER: 0.3,
  NEAR_MISS_STEP: 0.2,
  // A near miss widens at most this often (one dip is many samples).
  WIDEN_MS: 1000,
  CALM_MS: 30000,
  NARROW_STEP: 0.1,
  NARROW_MS: 3000,
  // How long a dip of the buffer keeps the target from narrowing into it,
  // and the room above LOW_WATER a narrower target must leave.
  WINDOW_MS: 120000,
  GUARD: 0.05,
  // Playback rate: catch up (faster) when more than CATCH_UP behind the
  // target, until within SETTLED; fall back (slower) when more than
  // FALL_BACK ahead of it, until within SETTLED. Catch up only while the
  // buffer itself holds AHEAD_SHARE of the target (and MIN_AHEAD): a
  // player behind the edge because the network delivers late has nothing
  // to catch up with, and speeding up would only drain it.
  CATCH_UP: 0.15,
  // A smaller lag that lasts is caught up too: more than DRIFT behind for
  // DRIFT_MS on end (with the buffer full all along). Without it a player
  // that starts, or lands after a widening, inside the dead band stays
  // there: 8 ms behind one run, 119 ms the next (bench/README.md, "side by
  // side with nginx-rtmp again"). A moment's lag (a late part, a playlist
  // reload) does not last DRIFT_MS, so it is left alone as before.
  DRIFT: 0.05,
  DRIFT_MS: 5000,
  FALL_BACK: 0.1,
  SETTLED: 0.03,
  MIN_AHEAD: 0.3,
  AHEAD_SHARE: 0.8,
  FAST: 1.1,
  SLOW: 0.9,
  // Stretch: with less than STRETCH_SHARE of the target buffered, the
  // network is late beyond what the target allows for (a freeze, a
  // bandwidth dip), and the page plays slower to make what is buffered
  // last: from 1 at that floor down to STRETCH at half of it and below.
  // 0.5 s buffered then lasts up to ~0.9 s, a stall avoided or shortened;
  // the lag it adds is caught up once the buffer is full again. dash.js's
  // low-latency catch-up (LoL+) slows to 0.5 on a low buffer the same way.
  // On a calm link the floor (0.25 s at a 0.507 s target) sits under
  // the buffer's lowest dip (0.35 s), so it never slows there.
  STRETCH_SHARE: 0.5,
  STRETCH: 0.5,
});

/**
 * A target controller. `base` is PART-HOLD-BACK in seconds (set later
 * with `setBase` when the playlist is known).
 */
export function createLatencyTarget(base = 0, options = {}) {
  const o = Object.assign({}, DEFAULTS, options);
  let cushion = 0;
  let lastTrouble = -Infinity;
  let lastWiden = -Infinity;
  let lastStall = -Infinity;
  let lastNarrow = -Infinity;
  // The rate decided last: hysteresis between catching up and settling.
  let rate = 1;
  // Since when the player has been more than DRIFT behind, buffer full.
  let driftSince = null;
  // Why the target moved, newest last: [ms, target s, reason].
  const changes = [];
  // The buffer's dips in the last WINDOW_MS, as what was ahead less the
  // cushion then ([ms, s]), rising from the front: the front is the lowest
  // (a monotonic queue: a dip is dropped once a lower one comes after it).
  const dips = [];
  const dip = (now, relative) => {
    while (dips.length && dips[dips.length - 1][1] >= relative) dips.pop();
    dips.push([now, relative]);
  };
  const lowest = (now) => {
    while (dips.length && now - dips[0][0] > o.WINDOW_MS) dips.shift();
    return dips.length ? dips[0][1] : Infinity;
  };
  const target = () => Math.min(o.MAX, base + o.MARGIN + cushion);
  const note = (now, why) => {
    changes.push([now, +target().toFixed(3), why]);
    if (changes.length > 200) changes.shift();
  };

  const nearMiss = (now, why) => {
    lastTrouble = now;
    if (now - lastWiden >= o.WIDEN_MS && base + o.MARGIN + cushion < o.MAX) {
      cushion = Math.min(o.MAX, cushion + o.NEAR_MISS_STEP);
      lastWiden = now;
      note(now, why);
    }
  };

  return {
    /** PART-HOLD-BACK (s), from the playlist. */
    setBase(b) {
      if (b > 0 && b !== base) base = b;
    },
    /** The calm margin above the base (s): more with a ladder. */
    setMargin(m) {
      if (m >= 0) o.MARGIN = m;
    },
    /** Seconds behind the live edge to aim for. */
    target,
    /** What the network has added to the base (s). */
    cushion: () => cushion,
    /** [ms, target, reason] for each change. */
    changes,
    /** Playback stalled for `ms` (it has resumed). */
    stalled(now, ms) {
      dip(now, -ms / 1000 - cushion);
      if (ms < o.SHORT_WAIT_MS) {
        nearMiss(now, 'short wait ' + Math.round(ms) + ' ms');
        return;
      }
      const step = now - lastStall < o.EPISODE_MS + ms ? ms / 1000 : Math.max(o.STALL_STEP, ms / 1000);
      cushion = Math.min(o.MAX, cushion + step);
      lastTrouble = lastWiden = lastStall = now;
      note(now, 'stall ' + Math.round(ms) + ' ms');
    },
    /**
     * What is buffered ahead of the playhead (s), sampled while playing
     * at the live edge. Returns the target.
     */
    sample(now, ahead) {
      dip(now, ahead - cushion);
      if (ahead < o.LOW_WATER) {
        nearMiss(now, 'near miss ' + ahead.toFixed(3) + ' s ahead');
      } else if (cushion > 0 && now - lastTrouble >= o.CALM_MS && now - lastNarrow >= o.NARROW_MS) {
        const narrower = Math.max(0, cushion - o.NARROW_STEP);
        if (lowest(now) + narrower >= o.LOW_WATER + o.GUARD - 1e-9) {
          cushion = narrower;
          lastNarrow = now;
          note(now, 'calm');
        }
      }
      return target();
    },
    /** The lowest dip in the window, replayed at today's target (s ahead). */
    lowestAhead: (now) => lowest(now) + cushion,
    /**
     * The playback rate that moves a player `latency` s behind the edge,
     * with `ahead` s buffered, toward the target, at `now` (ms).
     */
    rate(latency, ahead, now) {
      const floor = o.STRETCH_SHARE * target();
      if (ahead < floor) {
        driftSince = null;
        const depth = Math.min(1, (floor - ahead) / (floor / 2));
        rate = +(1 - (1 - o.STRETCH) * depth).toFixed(2);
        return rate;
      }
      // Out of a stretch: steer from even again.
      if (rate !== o.FAST && rate !== o.SLOW) rate = 1;
      const off = latency - target();
      const full = ahead > Math.max(o.MIN_AHEAD, o.AHEAD_SHARE * target());
      if (rate === 1 && off > o.DRIFT && full) {
        if (driftSince === null) driftSince = now;
      } else {
        driftSince = null;
      }
      const drifted = driftSince !== null && now - driftSince >= o.DRIFT_MS;
      if (rate > 1) {
        rate = off > o.SETTLED && full ? o.FAST : 1;
      } else if (rate < 1) {
        rate = off < -o.SETTLED ? o.SLOW : 1;
      } else if ((off > o.CATCH_UP || drifted) && full) {
        driftSince = null;
        rate = o.FAST;
      } else if (off < -o.FALL_BACK) {
        rate = o.SLOW;
      }
      return rate;
    },
  };
}
