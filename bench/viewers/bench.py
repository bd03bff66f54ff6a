#!/usr/bin/env python3
"""Viewers benchmark: N simulated LL-HLS viewers of one stream against
packagerd (bench/viewers/src/main.rs: blocking reloads with delta updates plus
hinted part fetches, as hls.js does). Reports part delivery after completion
(p50/p90/p99/max, from packagerd's own stage-completed-at stamps), requests/s
and packagerd's CPU share, per level.

The publisher is one pre-encoded 720p30 2 s-GOP clip looped with `-c copy`,
so encoding costs nothing; the load generator shares the machine's cores.

usage: bench/viewers/bench.py [--levels 500,1000,2000,3000] [--seconds 30] [--pin]
Needs: cargo build --release --bins, ffmpeg. Results: bench/out/viewers-*.json.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT, StreamStage, cpu_seconds, make_clip, stop  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="500,1000,2000,3000")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--pin", action="store_true",
                    help="server side (packagerd, ingestd, publisher) on CPU 0, load generator on CPU 1")
    ap.add_argument("--extra", default="", help="more [packagerd] config, e.g. 'part_duration = \"200ms\"'")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix="stage-viewers-")
    clip = os.path.join(ROOT, "bench", "out", "clip720.flv")
    make_clip(clip, "1280x720", 2500)
    results = []
    with StreamStage(work, ["bench"], a.extra) as ss:
        pub = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy",
                                "-f", "flv", ss.rtmp_url(ss.keys[0])],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        pkg = ss.packagerd
        url = f"http://127.0.0.1:{ss.http}/hls/bench/source/index.m3u8"
        if a.pin:
            for pid in (ss.ingestd.pid, pkg.pid, pub.pid):
                subprocess.run(["taskset", "-a", "-cp", "0", str(pid)], check=True, capture_output=True)
        time.sleep(6)
        for n in [int(x) for x in a.levels.split(",")]:
            c0, t0 = cpu_seconds(pkg.pid), time.time()
            gen = [os.path.join(BIN, "llhls-viewers"), "--playlist", url, "--viewers", str(n),
                   "--seconds", str(a.seconds), "--json"]
            if a.pin:
                gen = ["taskset", "-c", "1"] + gen
            out = subprocess.run(gen, capture_output=True, text=True)
            c1, t1 = cpu_seconds(pkg.pid), time.time()
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                continue
            r = json.loads(out.stdout)
            r["packagerd_cpu_cores"] = (c1 - c0) / (t1 - t0)
            results.append(r)
            print(f"{n:>5} viewers: part p50 {r['part_p50_ms']} ms, p90 {r['part_p90_ms']} ms, "
                  f"p99 {r['part_p99_ms']} ms, max {r['part_max_ms']} ms; {r['requests_per_s']:.0f} req/s; "
                  f"packagerd {r['packagerd_cpu_cores']:.2f} cores; {r['errors']} errors", flush=True)
            time.sleep(3)
        stop([pub])
    out = os.path.join(ROOT, "bench", "out", f"viewers-{int(time.time())}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
