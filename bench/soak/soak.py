#!/usr/bin/env python3
"""The hour-long soak: one stream played in headless Chromium through the
impairment proxy, with a disk writer (`dd` of 5 GB files in a loop, ~2 GB
dirty in the page cache) and a CPU hog (one busy core) beside it. Records
every `waiting`, the latency series, and each daemon's RSS, open file
descriptors and threads every 10 s; after the run, memory and descriptors
must be flat: growth over the rest of the run at most 5% of the value at
the end of the first 5 minutes.

usage: bench/soak/soak.py [--minutes 60] [--profile wifi] [--kbps 1000] [--no-disk] [--no-cpu]
Needs: cargo build --release --bins, ffmpeg, chromium, npm ci.
Results: bench/out/soak-*.json and a summary on stdout.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import ROOT, StreamStage, rss_kib, stop  # noqa: E402

DAEMONS = ("ingestd", "packagerd", "chatd", "billingd")


def proc_sample(pid):
    out = {"rss_kib": rss_kib(pid), "fds": len(os.listdir(f"/proc/{pid}/fd"))}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


def clip(path, kbps):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2", "-t", "10",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-sc_threshold", "0", "-preset", "ultrafast",
                    "-profile:v", "baseline", "-g", "60", "-bf", "0", "-b:v", f"{kbps}k", "-c:a", "aac", "-b:a", "96k",
                    "-f", "flv", path], check=True)


def growth(series, warm):
    """(value at the end of the warm-up, max after it, growth %)."""
    after = [v for t, v in series if t >= warm]
    base = next((v for t, v in series if t >= warm), None)
    if not after or not base:
        return None
    top = max(after)
    return base, top, round(100.0 * (top - base) / base, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--profile", default="wifi", choices=["clean", "wifi", "4g", "bad"])
    ap.add_argument("--kbps", type=int, default=1000)
    ap.add_argument("--no-disk", action="store_true")
    ap.add_argument("--no-cpu", action="store_true")
    a = ap.parse_args()
    seconds = int(a.minutes * 60)
    work = tempfile.mkdtemp(prefix="stage-soak-")
    f = os.path.join(work, "loop.flv")
    clip(f, a.kbps)
    hogs = []
    samples = {d: [] for d in DAEMONS}
    viewer = []
    with StreamStage(work, ["soak"], daemons=DAEMONS) as ss:
        pub = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", f,
                                "-c", "copy", "-f", "flv", ss.rtmp_url(ss.keys[0])], stdin=subprocess.DEVNULL)
        proxy = subprocess.Popen([os.path.join(ROOT, "target", "release", "stage-impair"), "--upstream",
                                  f"127.0.0.1:{ss.http}", "--profile", a.profile], stdout=subprocess.PIPE, text=True)
        port = int(proxy.stdout.readline().split(":")[-1])
        if not a.no_disk:
            big = os.path.join(work, "big.bin")
            hogs.append(subprocess.Popen(["bash", "-c", f"while true; do dd if=/dev/zero of={big} bs=1M count=5000 status=none; rm -f {big}; done"],
                                         start_new_session=True))
        if not a.no_cpu:
            hogs.append(subprocess.Popen(["bash", "-c", "while true; do :; done"], start_new_session=True))
        time.sleep(4)
        t0 = time.time()
        watch = subprocess.Popen(["node", os.path.join(ROOT, "bench", "soak", "watch.mjs"),
                                  f"http://127.0.0.1:{port}/watch/soak", str(seconds)],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)
        reader = threading.Thread(target=lambda: viewer.extend(json.loads(l) for l in watch.stdout if l.strip()),
                                  daemon=True)
        reader.start()
        try:
            while watch.poll() is None:
                now = time.time() - t0
                for d in DAEMONS:
                    try:
                        samples[d].append((now, proc_sample(ss.procs[d].pid)))
                    except OSError:
                        pass
                time.sleep(10)
        finally:
            reader.join(30)
            for h in hogs:
                os.killpg(h.pid, signal.SIGKILL)
                h.wait()
            stop([pub, proxy])
            big = os.path.join(work, "big.bin")
            if os.path.exists(big):
                os.remove(big)
    warm = min(300, seconds / 4)
    result = {"minutes": a.minutes, "profile": a.profile, "kbps": a.kbps, "disk": not a.no_disk,
              "cpu": not a.no_cpu, "work": work, "daemons": {}}
    for d in DAEMONS:
        s = samples[d]
        result["daemons"][d] = {k: growth([(t, v[k]) for t, v in s], warm) for k in ("rss_kib", "fds", "threads")}
    last = viewer[-1] if viewer else {}
    lats = [x for v in viewer for x in (v.get("latencies") or [])]
    lats.sort()
    result["viewer"] = {
        "waits": last.get("waits"), "still_waiting": last.get("waitingSince") is not None,
        "latency_median_ms": lats[len(lats) // 2] if lats else None,
        "latency_p90_ms": lats[int(len(lats) * 0.9)] if lats else None,
        "catchups": last.get("catchups"), "fallbacks": last.get("fallbacks"), "trims": last.get("trims"),
        "unstuck": last.get("unstuck"), "jumps": last.get("jumps"), "js_heap": [v.get("heap") for v in viewer[::30]],
    }
    result["series"] = {"viewer": viewer, "daemons": samples}
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "out", f"soak-{int(time.time())}.json")
    with open(out, "w") as fo:
        json.dump(result, fo)
    summary = {k: v for k, v in result.items() if k != "series"}
    print(json.dumps(summary, indent=1))
    flat = all(g is None or g[2] <= 5.0 for d in result["daemons"].values() for k, g in d.items() if k != "threads")
    print("waits:", result["viewer"]["waits"], "flat memory and descriptors:", flat, "wrote", out)


if __name__ == "__main__":
    main()
