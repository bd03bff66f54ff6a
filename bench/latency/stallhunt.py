#!/usr/bin/env python3
"""Hunts the player's stalls: runs StreamStage (ingestd + packagerd), a
looped stream copy of a 640x360 clip (the e2e steady-minute test's publish),
optionally a disk writer (`dd` of 5 GB files in a loop: ~2 GB dirty in the
page cache) and a CPU hog beside it, and bench/latency/trace.mjs on the watch
page. Prints each stall with the trace lines around it; the whole trace is in
bench/out/stallhunt-*.jsonl.

usage: bench/latency/stallhunt.py [--seconds 300] [--disk] [--cpu] [--page-args '?trace'] [--extra TOML]
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import ROOT, StreamStage, stop  # noqa: E402


def clip(path, kbps):
    if os.path.exists(path):
        return
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2", "-t", "10",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-sc_threshold", "0", "-preset", "ultrafast",
                    "-profile:v", "baseline", "-g", "60", "-bf", "0", "-b:v", f"{kbps}k", "-c:a", "aac", "-b:a", "96k",
                    "-f", "flv", path], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--disk", action="store_true")
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--page-args", default="?trace")
    ap.add_argument("--extra", default="")
    ap.add_argument("--profile", default="", help="play through stage-impair with this profile (clean, wifi, 4g, bad)")
    ap.add_argument("--kbps", type=int, default=1500)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="stage-stallhunt-")
    f = os.path.join(work, "loop.flv")
    clip(f, a.kbps)
    hogs = []
    with StreamStage(work, ["hunt"], a.extra) as ss:
        pub = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", f,
                                "-c", "copy", "-f", "flv", ss.rtmp_url(ss.keys[0])], stdin=subprocess.DEVNULL)
        if a.disk:
            big = os.path.join(work, "big.bin")
            hogs.append(subprocess.Popen(["bash", "-c", f"while true; do dd if=/dev/zero of={big} bs=1M count=5000 status=none; rm -f {big}; done"],
                                         start_new_session=True))
        if a.cpu:
            hogs.append(subprocess.Popen(["bash", "-c", "while true; do :; done"], start_new_session=True))
        port = ss.http
        if a.profile:
            hogs.append(subprocess.Popen([os.path.join(ROOT, "target", "release", "stage-impair"), "--upstream",
                                          f"127.0.0.1:{ss.http}", "--profile", a.profile],
                                         stdout=subprocess.PIPE, text=True, start_new_session=True))
            port = int(hogs[-1].stdout.readline().split(":")[-1])
        time.sleep(4)
        os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
        out = os.path.join(ROOT, "bench", "out", f"stallhunt-{int(time.time())}.jsonl")
        with open(out, "w") as fo:
            subprocess.run(["node", os.path.join(ROOT, "bench", "latency", "trace.mjs"),
                            f"http://127.0.0.1:{port}/watch/hunt{a.page_args}", str(a.seconds)],
                           stdout=fo, cwd=ROOT, timeout=a.seconds + 120)
        for h in hogs:
            os.killpg(h.pid, signal.SIGKILL)
            h.wait()
        stop([pub])
        big = os.path.join(work, "big.bin")
        if os.path.exists(big):
            os.remove(big)
    lines = [json.loads(l) for l in open(out) if l.strip()]
    waits = [l for l in lines if l.get("k") == "video" and l.get("ev") == "waiting"]
    print(f"trace: {out}; {len(waits)} waiting events; logs in {work}")
    for line in open(os.path.join(work, "packagerd.log")):
        if "slow" in line:
            print("packagerd:", line.strip()[:300])
    for w in waits:
        t = w["t"]
        print(f"--- waiting at {t} cur {w['cur']} buffered {w['buffered']}")
        for l in lines:
            if t - 2500 <= l["t"] <= t + 1500 and l.get("k") != "row":
                print(t - l["t"] if False else l["t"] - t, json.dumps({k: v for k, v in l.items() if k != "t"}))


if __name__ == "__main__":
    main()
