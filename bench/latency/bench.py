#!/usr/bin/env python3
"""Glass-to-glass latency: StreamStage (LL-HLS, its own player page) against
nginx-rtmp (`hls_fragment 1s`, plain HLS in hls.js with its defaults), one after
the other in the same run, on loopback.

A painter writes 640x360 30 fps raw frames into ffmpeg (x264 veryfast
`-tune zerolatency`, 1 s GOP, RTMP), each carrying the wall-clock ms at the
moment it was written as a row of 32 black/white 16x16 blocks. Headless
Chromium plays the stream; bench/latency/measure.mjs reads the blocks back
from every presented frame (requestVideoFrameCallback + canvas) and reports
median/p90 of shown-at − painted-at, the two halves' medians and `waiting`
events after playback started.

usage: bench/latency/bench.py [--seconds 60] [--only streamstage|nginx] [--parts 100ms] [--recording-off]
                              [--profile clean|wifi|4g|bad] [--web-dir DIR]
       bench/latency/bench.py --only streamstage --seconds 1800   (the 30-minute check)
With --profile, both pages play through stage-impair (the e2e impairment
proxy, target/release/stage-impair) running that network profile.
Needs: cargo build --release --bins, ffmpeg, chromium, npm ci, and for the
peer nginx with libnginx-mod-rtmp. Results: bench/out/latency-*.json.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import ROOT, StreamStage, free_ports, stop, wait_port  # noqa: E402

W, H, FPS = 640, 360, 30
BITS, BLOCK, X0, Y0 = 32, 16, 32, 8


def painter(url, until, log):
    """Paces raw frames at 30 fps into ffmpeg, each stamped with now (ms)."""
    ff = subprocess.Popen([
        "ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{W}x{H}", "-r", str(FPS),
        "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", str(FPS),
        "-keyint_min", str(FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-b:v", f"{KBPS}k",
        "-f", "flv", url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
    y = bytearray([60]) * (W * H)
    uv = bytes([128]) * (W * H // 2)
    t0 = time.time()
    k = 0
    try:
        while time.time() < until and ff.poll() is None:
            target = t0 + k / FPS
            d = target - time.time()
            if d > 0:
                time.sleep(d)
            ms = int(time.time() * 1000) & 0xFFFFFFFF
            row = bytearray([60]) * W
            row[X0 - BLOCK:X0] = b"\xeb" * BLOCK
            row[X0 + BITS * BLOCK:X0 + (BITS + 1) * BLOCK] = b"\xeb" * BLOCK
            for i in range(BITS):
                bit = (ms >> (BITS - 1 - i)) & 1
                row[X0 + i * BLOCK:X0 + (i + 1) * BLOCK] = (b"\xeb" if bit else b"\x10") * BLOCK
            for r in range(Y0, Y0 + BLOCK):
                y[r * W:(r + 1) * W] = row
            # Some motion below, so the encoder has real work.
            bar = (k * 8) % W
            for r in range(200, 260):
                y[r * W:(r + 1) * W] = bytes([60]) * W
                y[r * W + bar:r * W + min(W, bar + 40)] = b"\xc8" * min(40, W - bar)
            ff.stdin.write(bytes(y) + uv)
            k += 1
    except BrokenPipeError:
        pass
    finally:
        try:
            ff.stdin.close()
        except OSError:
            pass
        stop([ff])


PROFILE = "clean"
KBPS = 1000


def impaired(port):
    """The port to play from: stage-impair in front of `port` running
    PROFILE (started for this run), or `port` itself for clean."""
    if PROFILE == "clean":
        return port, None
    p = subprocess.Popen([os.path.join(ROOT, "target", "release", "stage-impair"), "--upstream",
                          f"127.0.0.1:{port}", "--profile", PROFILE], stdout=subprocess.PIPE, text=True)
    return int(p.stdout.readline().split(":")[-1]), p


def measure(page_url, seconds):
    out = subprocess.run(["node", os.path.join(ROOT, "bench", "latency", "measure.mjs"), page_url, str(seconds)],
                         capture_output=True, text=True, cwd=ROOT, timeout=seconds + 180)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def streamstage(seconds, work, part=None, record=True, dvr=None, web=None):
    extra = f'part_duration = "{part}"' if part else ""
    if web:
        extra += f'\nweb_dir = "{web}"\n'
    if not record:
        extra += "\n[recording]\nenabled = false\n"
    elif dvr is not None:
        extra += f'\n[recording]\ndvr_window = "{dvr}"\n'
    with StreamStage(work, ["lat"], extra) as ss:
        until = time.time() + seconds + 90
        t = threading.Thread(target=painter, args=(ss.rtmp_url(ss.keys[0]), until,
                                                   open(os.path.join(work, "ss-ffmpeg.err"), "w")), daemon=True)
        t.start()
        port, proxy = impaired(ss.http)
        try:
            return measure(f"http://127.0.0.1:{port}/watch/lat", seconds)
        finally:
            if proxy:
                stop([proxy])


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {work}/nginx-error.log warn;
pid {work}/nginx.pid;
load_module {module};
events {{ worker_connections 1024; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp};
    application live {{
      live on;
      hls on;
      hls_path {work}/www/hls;
      hls_fragment 1s;
      hls_playlist_length 6s;
    }}
  }}
}}
http {{
  access_log off;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/html html; text/javascript js; }}
  server {{
    listen 127.0.0.1:{http};
    root {work}/www;
    location /hls/ {{ add_header Cache-Control no-cache; }}
  }}
}}
"""

PAGE = """<!doctype html><meta charset=utf-8><video id=video muted autoplay playsinline></video>
<script src="/hls.min.js"></script><script>
const v = document.getElementById('video');
const hls = new Hls();  // hls.js defaults, as a typical nginx-rtmp page
hls.loadSource('/hls/lat.m3u8'); hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal && d.type === 'networkError') setTimeout(() => hls.loadSource('/hls/lat.m3u8'), 1000); });
</script>"""


def nginx_rtmp(seconds, work):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    if not os.path.exists(nginx) or not os.path.exists(module):
        return {"error": "nginx or libnginx-mod-rtmp not installed (apt-get install nginx libnginx-mod-rtmp)"}
    rtmp, http = free_ports(2)
    os.chmod(work, 0o755)  # nginx's workers are not root
    www = os.path.join(work, "www")
    os.makedirs(os.path.join(www, "hls"), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "node_modules", "hls.js", "dist", "hls.min.js"), www)
    with open(os.path.join(www, "page.html"), "w") as f:
        f.write(PAGE)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(work=work, module=module, rtmp=rtmp, http=http))
    master = subprocess.Popen([nginx, "-c", conf, "-p", work], stderr=open(os.path.join(work, "nginx.out"), "w"))
    try:
        wait_port(rtmp); wait_port(http)
        until = time.time() + seconds + 90
        t = threading.Thread(target=painter, args=(f"rtmp://127.0.0.1:{rtmp}/live/lat", until,
                                                   open(os.path.join(work, "nginx-ffmpeg.err"), "w")), daemon=True)
        t.start()
        # nginx-rtmp only writes the playlist after its first fragments.
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(www, "hls", "lat.m3u8")) and time.time() < deadline:
            time.sleep(0.2)
        port, proxy = impaired(http)
        try:
            return measure(f"http://127.0.0.1:{port}/page.html", seconds)
        finally:
            if proxy:
                stop([proxy])
    finally:
        stop([master])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--only", choices=["streamstage", "nginx"])
    ap.add_argument("--parts", default="", help="also run StreamStage with these part_duration values, e.g. 100ms")
    ap.add_argument("--recording-off", action="store_true",
                    help="also run StreamStage with recording off (recording is on by default)")
    ap.add_argument("--dvr-off", action="store_true",
                    help="also run StreamStage recording without the DVR window")
    ap.add_argument("--web-dir", default="",
                    help="also run StreamStage serving its page from this folder (e.g. an earlier commit's web/: "
                         "git archive REV web | tar -x -C DIR); files it lacks come from the binary")
    ap.add_argument("--profile", default="clean", choices=["clean", "wifi", "4g", "bad"],
                    help="network between the browser and the servers (stage-impair)")
    ap.add_argument("--kbps", type=int, default=1000, help="the painter's video bit rate")
    a = ap.parse_args()
    global PROFILE, KBPS
    PROFILE, KBPS = a.profile, a.kbps
    results = {}
    runs = [("streamstage", streamstage)]
    for part in [x for x in a.parts.split(",") if x]:
        runs.append((f"streamstage part_duration={part}", lambda s, w, part=part: streamstage(s, w, part)))
    if a.dvr_off:
        runs.append(("streamstage dvr_window=0s", lambda s, w: streamstage(s, w, dvr="0s")))
    if a.web_dir:
        web = os.path.abspath(os.path.join(a.web_dir, "web") if os.path.isdir(os.path.join(a.web_dir, "web")) else a.web_dir)
        runs.append((f"streamstage web_dir={a.web_dir}", lambda s, w: streamstage(s, w, web=web)))
    if a.recording_off:
        runs.append(("streamstage recording=off", lambda s, w: streamstage(s, w, record=False)))
    runs.append(("nginx-rtmp", nginx_rtmp))
    for name, fn in runs:
        if a.only and not name.startswith(a.only):
            continue
        work = tempfile.mkdtemp(prefix="stage-latency-")
        r = fn(a.seconds, work)
        r["work"] = work
        r["profile"] = PROFILE
        results[name] = r
        print(name, json.dumps(r), flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "out", f"latency-{int(time.time())}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
