#!/usr/bin/env python3
"""Ingest benchmark: CPU seconds per media second and resident memory per
passthrough stream, StreamStage (ingestd + packagerd) against nginx-rtmp
(`hls on`, same 2 s fragments), at 1, 10 and 50 concurrent publishers.

Each publisher is `ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv URL`
with one pre-encoded 1080p30 6 Mbit/s clip. Server CPU is read from
/proc/PID/stat (utime+stime) over a measurement window after a warm-up;
memory is VmRSS at the end of the window minus the idle server's.

usage: bench/ingest/bench.py [--levels 1,10,50] [--warmup 10] [--window 30]
Needs: a release build (cargo build --release --bins), ffmpeg, and for the
peer nginx with libnginx-mod-rtmp (apt-get install nginx libnginx-mod-rtmp).
Results go to bench/out/ingest-*.json and a table on stdout.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT, StreamStage, cpu_seconds, free_ports, make_clip, rss_kib, stop, wait_port  # noqa: E402,F401


def publishers(urls, clip, logdir):
    procs = []
    for i, u in enumerate(urls):
        procs.append(subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", u],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(logdir, f"pub{i}.err"), "w")))
    return procs


def measure(pids, n, warmup, window, procs):
    time.sleep(warmup)
    alive = sum(p.poll() is None for p in procs)
    c0 = [cpu_seconds(p) for p in pids]
    t0 = time.time()
    time.sleep(window)
    c1 = [cpu_seconds(p) for p in pids]
    t1 = time.time()
    alive = min(alive, sum(p.poll() is None for p in procs))
    media_s = n * (t1 - t0)
    return {
        "publishers": n,
        "publishers_alive": alive,
        "cpu_s": sum(c1) - sum(c0),
        "wall_s": t1 - t0,
        "cpu_s_per_media_s": (sum(c1) - sum(c0)) / media_s,
        # Each process apart (StreamStage: ingestd, then packagerd).
        "cpu_s_per_media_s_each": [round((b - a) / media_s, 5) for a, b in zip(c0, c1)],
        "rss_kib": sum(rss_kib(p) for p in pids),
    }


def streamstage(n, clip, warmup, window, work):
    # Passthrough, as nginx-rtmp does: no ABR ladder, no recording.
    extra = 'segment_duration = "2s"\n[ladders.default]\nrungs = []\n[recording]\nenabled = false'
    with StreamStage(work, [f"b{i}" for i in range(n)], extra) as ss:
        time.sleep(1)
        pids = [ss.ingestd.pid, ss.packagerd.pid]
        idle = sum(rss_kib(p) for p in pids)
        pubs = publishers([ss.rtmp_url(k) for k in ss.keys], clip, work)
        try:
            r = measure(pids, n, warmup, window, pubs)
        finally:
            stop(pubs)
        r["idle_rss_kib"] = idle
        r["rss_per_stream_mib"] = (r["rss_kib"] - idle) / n / 1024
        return r


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {work}/nginx-error.log warn;
pid {work}/nginx.pid;
load_module {module};
events {{ worker_connections 4096; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    application live {{
      live on;
      hls on;
      hls_path {work}/hls;
      hls_fragment 2s;
      hls_playlist_length 12s;
    }}
  }}
}}
"""


def nginx_rtmp(n, clip, warmup, window, work):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    if not os.path.exists(nginx) or not os.path.exists(module):
        return {"error": "nginx or libnginx-mod-rtmp not installed (apt-get install nginx libnginx-mod-rtmp)"}
    port = free_ports(1)[0]
    os.makedirs(os.path.join(work, "hls"), exist_ok=True)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(work=work, module=module, port=port))
    master = subprocess.Popen([nginx, "-c", conf, "-p", work], stderr=open(os.path.join(work, "nginx.out"), "w"))
    try:
        wait_port(port)
        time.sleep(1)
        kids = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
        pids = [master.pid] + [int(k) for k in kids]
        idle = sum(rss_kib(p) for p in pids)
        pubs = publishers([f"rtmp://127.0.0.1:{port}/live/s{i}" for i in range(n)], clip, work)
        try:
            r = measure(pids, n, warmup, window, pubs)
        finally:
            stop(pubs)
        r["idle_rss_kib"] = idle
        r["rss_per_stream_mib"] = (r["rss_kib"] - idle) / n / 1024
        return r
    finally:
        stop([master], signal.SIGQUIT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,10,50")
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--window", type=float, default=30)
    a = ap.parse_args()
    out_dir = os.path.join(ROOT, "bench", "out")
    os.makedirs(out_dir, exist_ok=True)
    clip = os.path.join(out_dir, "clip-1080p30-6M.flv")
    make_clip(clip, "1920x1080", 6000)
    results = []
    for n in [int(x) for x in a.levels.split(",")]:
        for name, fn in [("streamstage", streamstage), ("nginx-rtmp", nginx_rtmp)]:
            with tempfile.TemporaryDirectory() as work:
                r = fn(n, clip, a.warmup, a.window, work)
            r["server"] = name
            r.setdefault("publishers", n)
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out_dir, f"ingest-{stamp}.json"), "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "results": results}, f, indent=2)
    print(f"{'server':<12} {'pubs':>5} {'alive':>5} {'cpu s/media s':>14} {'RSS MiB':>8} {'MiB/stream':>10}")
    for r in results:
        if "error" in r:
            print(f"{r['server']:<12} {r['publishers']:>5}  {r['error']}")
            continue
        print(f"{r['server']:<12} {r['publishers']:>5} {r['publishers_alive']:>5} {r['cpu_s_per_media_s']:>14.4f} "
              f"{r['rss_kib']/1024:>8.1f} {r['rss_per_stream_mib']:>10.2f}")


if __name__ == "__main__":
    main()
