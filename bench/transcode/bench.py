#!/usr/bin/env python3
"""Transcoding benchmark: a 1080p30 source → 720p/480p/360p (the default
ladder), by StreamStage's in-process transcoder (ffmpeg-next; the
`transcode-bench` binary runs packagerd's own `transcode` module over the
clip as fast as it goes) and by the `ffmpeg` CLI doing the same ladder with
the same x264 settings (one decode, split, bilinear scale, three libx264
encodes at veryfast/zerolatency, VBV-capped, keyframes where the rungs get
them: the source's every 2 s plus switch points 0.6 s and 1.2 s into each),
one after the other in the same run. Reports CPU seconds per
media second and speed (× real time) for each, N runs each.

usage: bench/transcode/bench.py [--seconds 30] [--runs 3] [--preset veryfast] [--no-switch-points]
Needs: cargo build --release --bins, ffmpeg. Results: bench/out/transcode-*.json.
"""
import argparse, json, os, resource, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT  # noqa: E402

# The default ladder (crates/core/src/config.rs default_ladders).
RUNGS = [("720p", 1280, 720, 2500), ("480p", 854, 480, 1200), ("360p", 640, 360, 700)]


def make_source(path, seconds):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", "6000k", "-maxrate", "6000k",
        "-bufsize", "12000k", "-g", "60", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", "-f", "flv", path,
    ], check=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def keyframe_times(seconds, switch_points=True):
    # packagerd's rungs (transcode.rs SwitchPoints, switch_interval 600 ms,
    # 2 s segments): the source's keyframes every 2 s and whole-part
    # switch points 0.6 s and 1.2 s after each (none within a part of the end).
    offsets = (0, 0.6, 1.2) if switch_points else (0,)
    return ",".join(f"{g * 2 + o:.1f}" for g in range(int(seconds) // 2 + 1) for o in offsets)


def ffmpeg_cli(src, preset, seconds, switch_points=True):
    split = "".join(f"[v{i}]" for i in range(len(RUNGS)))
    graph = f"[0:v]split={len(RUNGS)}{split};" + ";".join(
        f"[v{i}]scale={w}:{h}:flags=bilinear[o{i}]" for i, (_, w, h, _) in enumerate(RUNGS))
    args = ["ffmpeg", "-v", "error", "-y", "-threads", "0", "-i", src, "-filter_complex", graph]
    for i, (_, _, _, kbps) in enumerate(RUNGS):
        args += ["-map", f"[o{i}]", "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
                 "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k", "-bf", "0",
                 "-g", "100000", "-force_key_frames", keyframe_times(seconds, switch_points),
                 "-x264-params", "scenecut=0:open-gop=0", "-f", "null", "-"]
    c0, t0 = children_cpu(), time.time()
    subprocess.run(args, check=True)
    cpu, wall = children_cpu() - c0, time.time() - t0
    return {"cpu_s": cpu, "wall_s": wall, "cpu_per_media_s": cpu / seconds, "speed": seconds / wall}


def ours(src, preset, switch_points=True):
    extra = [] if switch_points else ["--switch-interval-ms", "0"]
    out = subprocess.run([os.path.join(BIN, "transcode-bench"), "--input", src, "--preset", preset] + extra,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--no-switch-points", action="store_true",
                    help="keyframes only at the source's, on both sides")
    a = ap.parse_args()
    src = os.path.join(ROOT, "bench", "out", f"src1080-{a.seconds}s.flv")
    make_source(src, a.seconds)
    results = []
    for run in range(a.runs):
        sp = not a.no_switch_points
        s = ours(src, a.preset, sp)
        f = ffmpeg_cli(src, a.preset, s["media_s"], sp)
        ratio = s["cpu_s"] / f["cpu_s"]
        print(f"run {run + 1}: StreamStage {s['cpu_per_media_s']:.3f} CPU s/media s, {s['speed']:.2f}x real time; "
              f"ffmpeg CLI {f['cpu_per_media_s']:.3f} CPU s/media s, {f['speed']:.2f}x; CPU ratio {ratio:.3f}",
              flush=True)
        results.append({"streamstage": s, "ffmpeg_cli": f, "cpu_ratio": ratio})
    out = os.path.join(ROOT, "bench", "out", f"transcode-{int(time.time())}.json")
    with open(out, "w") as fh:
        json.dump({"preset": a.preset, "seconds": a.seconds, "runs": results}, fh, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
