"""What the benchmark scripts share: ports, /proc readings, process control,
a pre-encoded clip and a StreamStage (ingestd + packagerd) on free ports."""
import json, os, signal, socket, subprocess, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.join(ROOT, "target", "release")
HZ = os.sysconf("SC_CLK_TCK")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_port(port, limit=30):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} never opened")


def stop(procs, sig=signal.SIGTERM):
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def make_clip(path, size, kbps):
    """A 20 s 30 fps clip (x264 veryfast, GOP 60, capped at `kbps`, AAC
    48 kHz), made once."""
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k", "-g", "60", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", path,
    ], check=True)


class StreamStage:
    """ingestd + packagerd on free loopback ports with a config in `work`,
    `channels` created first. Use as a context manager."""

    def __init__(self, work, channels, packagerd_extra="",
                 daemons=("ingestd", "packagerd")):
        p = free_ports(9)
        self.rtmp, self.http, self.admin = p[0], p[3], p[4]
        self.admins = {"ingestd": p[1], "packagerd": p[4], "chatd": p[6], "billingd": p[8]}
        self.cfg = os.path.join(work, "ss.toml")
        with open(self.cfg, "w") as f:
            f.write(f'''data_dir = "{work}/ss-data"
[log]
level = "warn"
[ingestd]
listen = "127.0.0.1:{p[0]}"
admin_listen = "127.0.0.1:{p[1]}"
packager_media = "127.0.0.1:{p[2]}"
[packagerd]
listen = "127.0.0.1:{p[3]}"
admin_listen = "127.0.0.1:{p[4]}"
media_listen = "127.0.0.1:{p[2]}"
{packagerd_extra}
[chatd]
listen = "127.0.0.1:{p[5]}"
admin_listen = "127.0.0.1:{p[6]}"
[billingd]
listen = "127.0.0.1:{p[7]}"
admin_listen = "127.0.0.1:{p[8]}"
''')
        self.keys = [json.loads(subprocess.run(
            [os.path.join(BIN, "stagectl"), "--config", self.cfg, "channel", "create", c, "--json"],
            check=True, capture_output=True, text=True).stdout)["stream_key"] for c in channels]
        env = dict(os.environ, STAGE_CONFIG=self.cfg)
        log = lambda name: open(os.path.join(work, f"{name}.log"), "w")  # noqa: E731
        self.procs = {d: subprocess.Popen([os.path.join(BIN, d)], env=env, stderr=log(d)) for d in daemons}
        self.ingestd = self.procs.get("ingestd")
        self.packagerd = self.procs.get("packagerd")
        try:
            for d in daemons:
                wait_port(self.admins[d])
        except Exception:
            self.close()
            raise

    def rtmp_url(self, key):
        return f"rtmp://127.0.0.1:{self.rtmp}/live/{key}"

    def close(self):
        stop(list(self.procs.values()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
