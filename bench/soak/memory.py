#!/usr/bin/env python3
"""Where packagerd's memory goes over a long stream, fast: one stream
published at N× real time (ffmpeg `-readrate`), packagerd's RSS sampled
against the media time it has been fed, under each config variant given
(DVR window on and off, recording off), so an hour of media takes minutes
and a cost that grows with the stream shows as a slope per media hour.

usage: bench/soak/memory.py [--media-minutes 60] [--rate 8] [--kbps 600]
                            [--variants default,nodvr,norec]
Needs: cargo build --release --bins, ffmpeg.
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import ROOT, StreamStage, rss_kib, stop  # noqa: E402
from soak import clip  # noqa: E402

VARIANTS = {
    "default": "",
    "nodvr": '[recording]\ndvr_window = "0s"\n',
    "norec": "[recording]\nenabled = false\n",
}


def run(variant, a, f):
    work = tempfile.mkdtemp(prefix=f"stage-mem-{variant}-")
    extra = VARIANTS[variant]
    # The config's [recording] table goes after [packagerd]'s keys.
    with StreamStage(work, ["mem"], packagerd_extra=extra) as ss:
        pub = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-readrate", str(a.rate),
                                "-stream_loop", "-1", "-i", f, "-c", "copy", "-t", str(a.media_minutes * 60),
                                "-f", "flv", ss.rtmp_url(ss.keys[0])], stdin=subprocess.DEVNULL)
        t0 = time.time()
        series = []
        try:
            while pub.poll() is None:
                media = (time.time() - t0) * a.rate
                series.append((round(media), rss_kib(ss.packagerd.pid)))
                time.sleep(2)
        finally:
            stop([pub])
    warm = next((v for t, v in series if t >= 300), series[0][1])
    top = max(v for t, v in series if t >= 300) if any(t >= 300 for t, _ in series) else warm
    return {"variant": variant, "rss_kib_at_5min": warm, "rss_kib_max_after": top,
            "growth_pct": round(100.0 * (top - warm) / warm, 2),
            "series": series[::max(1, len(series) // 40)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--media-minutes", type=float, default=60)
    ap.add_argument("--rate", type=float, default=8)
    ap.add_argument("--kbps", type=int, default=600)
    ap.add_argument("--variants", default="default,nodvr,norec")
    a = ap.parse_args()
    f = os.path.join(tempfile.mkdtemp(prefix="stage-mem-"), "loop.flv")
    clip(f, a.kbps)
    out = [run(v, a, f) for v in a.variants.split(",")]
    for r in out:
        print(json.dumps({k: v for k, v in r.items() if k != "series"}))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", f"memory-{int(time.time())}.json"), "w") as fo:
        json.dump(out, fo)


if __name__ == "__main__":
    main()
