#!/usr/bin/env python3
"""What recording costs: packagerd's CPU and the bytes written per media second
with recording off, on to the local directory, and on to S3 (s3rver from npm,
on loopback); and S3 upload throughput, measured by freezing s3rver (SIGSTOP)
for 20 s so a backlog builds in the spool, then timing its drain.

The publisher copies a pre-encoded 720p30 3 Mbit/s clip in a loop (no encoder
CPU); the channel's ladder is `source` so packagerd's work is packaging and
recording only (with the default ladder the transcoder's CPU swamps the
difference; every rendition is recorded the same way, so the bytes scale with
the ladder's total bit rate).

usage: bench/recording/bench.py [--warmup 10] [--window 40]
Needs: cargo build --release --bins, ffmpeg, npm ci (s3rver).
Results: bench/out/recording-*.json. The latency side is bench/latency/bench.py
--recording both.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT, StreamStage, cpu_seconds, free_ports, make_clip, stop, wait_port  # noqa: E402

S3RVER = os.path.join(ROOT, "node_modules", ".bin", "s3rver")


def dir_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def recording_status(ss, work):
    token = open(os.path.join(work, "ss-data", "admin.token")).read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{ss.admin}/status", headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req, timeout=5))["recording"]


def run(mode, clip, warmup, window):
    work = tempfile.mkdtemp(prefix=f"stage-rec-{mode}-")
    s3 = None
    extra = ""
    if mode == "off":
        extra = "\n[recording]\nenabled = false\n"
    elif mode == "s3":
        port = free_ports(1)[0]
        s3dir = os.path.join(work, "s3")
        os.makedirs(s3dir)
        s3 = subprocess.Popen([S3RVER, "-d", s3dir, "-a", "127.0.0.1", "-p", str(port), "--configure-bucket", "stage",
                               "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        extra = (f'\n[recording]\nstore = "s3"\n[recording.s3]\nbucket = "stage"\nendpoint = "http://127.0.0.1:{port}"\n'
                 'allow_http = true\naccess_key_id = "S3RVER"\nsecret_access_key = "S3RVER"\nrequest_timeout = "3s"\n')
    result = {"mode": mode}
    try:
        with StreamStage(work, ["rec"], extra) as ss:
            subprocess.run([os.path.join(BIN, "stagectl"), "--config", ss.cfg, "channel", "set", "rec", "--ladder", "source"],
                           check=True, capture_output=True)
            pub = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy",
                                    "-f", "flv", ss.rtmp_url(ss.keys[0])])
            try:
                time.sleep(warmup)
                where = {"off": None, "local": os.path.join(work, "ss-data", "recordings"),
                         "s3": os.path.join(work, "s3")}[mode]
                spool = os.path.join(work, "ss-data", "spool")
                c0, b0, t0 = cpu_seconds(ss.packagerd.pid), (dir_bytes(where) if where else 0), time.time()
                time.sleep(window)
                if mode == "s3":
                    # Let the uploads of the window finish before counting bytes.
                    deadline = time.time() + 30
                    while recording_status(ss, work)["queued_bytes"] and time.time() < deadline:
                        time.sleep(0.2)
                c1, b1, t1 = cpu_seconds(ss.packagerd.pid), (dir_bytes(where) if where else 0), time.time()
                media = t1 - t0
                result["cpu_s_per_media_s"] = round((c1 - c0) / media, 5)
                result["bytes_per_media_s"] = round((b1 - b0) / media)
                if mode == "s3":
                    # Upload throughput: a 20 s backlog, then its drain.
                    s3.send_signal(signal.SIGSTOP)
                    time.sleep(20)
                    backlog = recording_status(ss, work)["queued_bytes"]
                    spooled = dir_bytes(spool)
                    s3.send_signal(signal.SIGCONT)
                    t2 = time.time()
                    while recording_status(ss, work)["queued_bytes"] > 0 and time.time() < t2 + 120:
                        time.sleep(0.05)
                    drain = time.time() - t2
                    result["backlog_bytes"] = backlog
                    result["spooled_bytes"] = spooled
                    result["drain_s"] = round(drain, 3)
                    result["upload_mb_per_s"] = round(backlog / drain / 1e6, 1) if drain > 0 else None
                result["status"] = recording_status(ss, work) if mode != "off" else None
            finally:
                stop([pub], signal.SIGINT)
    finally:
        if s3:
            s3.send_signal(signal.SIGCONT)
            stop([s3])
    shutil.rmtree(work, ignore_errors=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--window", type=int, default=40)
    a = ap.parse_args()
    clip = os.path.join(ROOT, "bench", "out", "clip-720p-3000k.mp4")
    make_clip(clip, "1280x720", 3000)
    results = {}
    for mode in ["off", "local", "s3"]:
        r = run(mode, clip, a.warmup, a.window)
        results[mode] = r
        print(mode, json.dumps(r), flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "out", f"recording-{int(time.time())}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
