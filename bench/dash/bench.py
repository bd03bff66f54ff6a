#!/usr/bin/env python3
"""The operator dashboard's own cost (issue 8): `stagectl dash` with N live
streams listed, and what /status and /metrics cost each daemon under that load.

1. ingestd, packagerd, chatd and billingd on free ports; N channels.
2. N publishers: ffmpeg `-c copy` of a small pre-encoded clip, looped in
   real time (so the publishers themselves cost little).
3. `stagectl dash` in a tmux pane tall enough to list every stream, for
   --duration seconds: its CPU (from /proc/PID/stat) and RSS, while each daemon's
   CPU is measured over the same window (the dashboard polls them once a second).
4. Each daemon's /status and /metrics, asked --requests times in a row: latency
   (mean, p99), body size, and the daemon's CPU per request (its CPU over the
   burst minus its idle rate, over the requests).

usage: bench/dash/bench.py [--streams 50] [--duration 60] [--requests 200]
Needs: cargo build --release --bins; ffmpeg; tmux. Results: bench/out/dash.json.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT, StreamStage, cpu_seconds, make_clip, rss_kib, stop  # noqa: E402

DAEMONS = ("ingestd", "packagerd", "chatd", "billingd")


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return time.perf_counter() - t0, len(body), body


def live_count(ss, token):
    _, _, body = get(f"http://127.0.0.1:{ss.admins['ingestd']}/status", token)
    return len(json.loads(body)["streams"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--requests", type=int, default=200)
    a = ap.parse_args()
    clip = os.path.join(ROOT, "bench", "out", "clip-320x180.flv")
    make_clip(clip, "320x180", 200)
    work = tempfile.mkdtemp(prefix="dash-bench-")
    names = [f"ch{i:02d}" for i in range(a.streams)]
    pubs = []
    tmux = ["tmux", "-S", os.path.join(work, "tmux.sock")]
    with StreamStage(work, names, daemons=DAEMONS) as ss:
        token = open(os.path.join(work, "ss-data", "admin.token")).read().strip()
        for k in ss.keys:
            pubs.append(subprocess.Popen(
                ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy",
                 "-f", "flv", ss.rtmp_url(k)], stdin=subprocess.DEVNULL))
        try:
            end = time.time() + 60
            while live_count(ss, token) < a.streams:
                if time.time() > end:
                    raise RuntimeError(f"only {live_count(ss, token)} of {a.streams} streams live")
                time.sleep(0.5)
            time.sleep(5)  # every meter has a full window
            pids = {d: ss.procs[d].pid for d in DAEMONS}
            # The daemons without the dashboard, then with it.
            idle = measure(pids, a.duration / 2)
            subprocess.run(tmux + ["new-session", "-d", "-s", "dash", "-x", "120", "-y", str(a.streams + 14),
                                   f"exec {BIN}/stagectl --config {ss.cfg} dash"],
                           check=True, env=dict(os.environ, TERM="xterm-256color"))
            time.sleep(3)
            dash_pid = int(subprocess.run(tmux + ["list-panes", "-t", "dash", "-F", "#{pane_pid}"],
                                          capture_output=True, text=True, check=True).stdout.split()[0])
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", "dash"],
                                    capture_output=True, text=True).stdout
            listed = sum(1 for line in screen.splitlines() if line.startswith("ch") and " live " in line)
            pids_with = dict(pids, dash=dash_pid)
            busy = measure(pids_with, a.duration)
            busy["dash"]["rss_kib"] = rss_kib(dash_pid)
            subprocess.run(tmux + ["kill-server"])
            endpoints = {}
            for d in DAEMONS:
                for path in ("/status", "/metrics"):
                    endpoints[f"{d} {path}"] = burst(ss, d, path, token, a.requests, idle[d]["cores"])
        finally:
            stop(pubs)
    out = {
        "streams": a.streams, "listed_on_screen": listed, "duration_s": a.duration,
        "dash": busy["dash"],
        "daemons_without_dash": idle, "daemons_with_dash": {d: busy[d] for d in DAEMONS},
        "endpoints": endpoints,
    }
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "dash.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(f"stagectl dash, {a.streams} live streams ({listed} on screen), {a.duration} s: "
          f"{busy['dash']['cores'] * 100:.2f}% of one core, RSS {busy['dash']['rss_kib'] / 1024:.1f} MiB")
    print(f"{'daemon':10} {'cores without':>14} {'cores with':>11}")
    for d in DAEMONS:
        print(f"{d:10} {idle[d]['cores']:14.3f} {busy[d]['cores']:11.3f}")
    print(f"{'endpoint':22} {'mean ms':>8} {'p99 ms':>7} {'bytes':>7} {'CPU ms/req':>10}")
    for k, v in endpoints.items():
        print(f"{k:22} {v['mean_ms']:8.2f} {v['p99_ms']:7.2f} {v['bytes']:7d} {v['cpu_ms_per_request']:10.3f}")


def measure(pids, secs):
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    t0 = time.time()
    time.sleep(secs)
    dt = time.time() - t0
    return {k: {"cores": (cpu_seconds(p) - c0[k]) / dt} for k, p in pids.items()}


def burst(ss, daemon, path, token, n, idle_cores):
    url = f"http://127.0.0.1:{ss.admins[daemon]}{path}"
    pid = ss.procs[daemon].pid
    c0, t0 = cpu_seconds(pid), time.time()
    times, size = [], 0
    for _ in range(n):
        t, size, _ = get(url, token)
        times.append(t * 1000)
    wall = time.time() - t0
    cpu = cpu_seconds(pid) - c0 - idle_cores * wall
    times.sort()
    return {"mean_ms": statistics.mean(times), "p99_ms": times[int(len(times) * 0.99) - 1],
            "bytes": size, "cpu_ms_per_request": max(cpu, 0) * 1000 / n}


if __name__ == "__main__":
    main()
