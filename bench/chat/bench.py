#!/usr/bin/env python3
"""Chat fan-out: chatd against the Node.js `ws` baseline (bench/chat/
node-server.mjs), same generator (chatload), same machine, one room.

For each server and each load (clients, messages/s): deliveries/s, latency
p50/p99/p99.9 from send to receipt, the server's CPU (cores, from
/proc/PID/stat over the measured window) and resident memory. Then memory per
idle connection: RSS with N idle clients minus RSS with none, over N.

chatd runs alone (its own config: SQLite in a temp dir, guests may write,
rate limits lifted so the load generator's one address is not throttled).

usage: bench/chat/bench.py [--clients 10000] [--rates 10,50] [--duration 10]
Needs: cargo build --release -p chatd -p stagectl -p stage-bench-chat; npm ci (ws).
Results: bench/out/chat-*.json.
"""
import argparse, json, os, subprocess, sys, tempfile, time, threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import BIN, ROOT, cpu_seconds, free_ports, rss_kib, stop, wait_port  # noqa: E402

CHATLOAD = os.path.join(BIN, "chatload")


def start_chatd(work):
    port, admin = free_ports(2)
    cfg = os.path.join(work, "chat.toml")
    with open(cfg, "w") as f:
        f.write(f'''data_dir = "{work}/data"
[log]
level = "warn"
[chatd]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin}"
[chat]
user_rate = 1000000000
ip_rate = 1000000000
''')
    subprocess.run([os.path.join(BIN, "stagectl"), "--config", cfg, "channel", "create", "bench"],
                   check=True, stdout=subprocess.DEVNULL)
    p = subprocess.Popen([os.path.join(BIN, "chatd"), "--config", cfg])
    wait_port(port)
    subprocess.run([os.path.join(BIN, "stagectl"), "--config", cfg, "chat", "set", "bench", "--guests", "true"],
                   check=True, stdout=subprocess.DEVNULL)
    return p, f"ws://127.0.0.1:{port}/ws/bench"


def start_node(work):
    port = free_ports(1)[0]
    p = subprocess.Popen(["node", os.path.join(ROOT, "bench", "chat", "node-server.mjs"), str(port)])
    wait_port(port)
    return p, f"ws://127.0.0.1:{port}/bench"


def sample_cpu(pid, secs, out):
    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(secs)
    out["cores"] = (cpu_seconds(pid) - c0) / (time.time() - t0)
    out["rss_kib"] = rss_kib(pid)


def load(server, url, clients, rate, warmup, duration, size):
    cmd = [CHATLOAD, "--url", url, "--clients", str(clients), "--rate", str(rate),
           "--warmup", str(warmup), "--duration", str(duration), "--size", str(size)]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The measured window starts `warmup` s after the clients are connected;
    # wait for the generator's "connected" line, then sample the server over
    # the window.
    line = ""
    while "connected" not in line:
        line = gen.stderr.readline()
        if not line and gen.poll() is not None:
            raise RuntimeError("chatload died: " + gen.stderr.read())
    time.sleep(warmup + 0.2)
    usage, gen_usage = {}, {}
    t = threading.Thread(target=sample_cpu, args=(server.pid, duration - 0.4, usage))
    g = threading.Thread(target=sample_cpu, args=(gen.pid, duration - 0.4, gen_usage))
    t.start()
    g.start()
    out, err = gen.communicate(timeout=warmup + duration + 120)
    t.join()
    g.join()
    r = json.loads(out.strip().splitlines()[-1])
    r.update(usage)
    r["generator_cores"] = gen_usage.get("cores")
    return r


def idle_memory(server, url, clients):
    base = rss_kib(server.pid)
    gen = subprocess.Popen([CHATLOAD, "--url", url, "--clients", str(clients), "--idle", "8"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = ""
    while line.strip() != "connected":
        line = gen.stderr.readline()
        if not line and gen.poll() is not None:
            raise RuntimeError("chatload died: " + gen.stderr.read())
    time.sleep(4)
    held = rss_kib(server.pid)
    gen.communicate(timeout=60)
    return {"clients": clients, "rss_before_kib": base, "rss_with_kib": held,
            "kib_per_connection": (held - base) / clients}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--rates", default="10,50")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--servers", default="chatd,node")
    a = ap.parse_args()
    results = []
    for name in a.servers.split(","):
        work = tempfile.mkdtemp(prefix=f"stage-chat-{name}-")
        server, url = (start_chatd if name == "chatd" else start_node)(work)
        try:
            mem = idle_memory(server, url, a.clients)
            print(json.dumps({"server": name, "idle": mem}), flush=True)
            for rate in [float(r) for r in a.rates.split(",") if r]:
                r = load(server, url, a.clients, rate, a.warmup, a.duration, a.size)
                r["server"] = name
                print(json.dumps(r), flush=True)
                results.append(r)
            results.append({"server": name, "idle": mem})
        finally:
            stop([server])
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", f"chat-{int(time.time())}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
