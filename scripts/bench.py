#!/usr/bin/env python3
"""Measures pitstop: startup, memory, throughput. Run through scripts/bench.sh."""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pitstop")
PY = os.path.join(ROOT, ".venv", "rq-2", "bin", "python")
KEY = "bench-key-0123456789abcdef"
QUEUE = "linkedin-bot"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, key=None, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        if key:
            head += f"X-API-Key: {key}\r\n"
        s.sendall((head + "\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start_pitstop(config, port):
    env = {"PATH": os.environ["PATH"], "API_KEY": KEY, "PITSTOP_LOG": "warn"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve", "--config", config, "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if get(port, "/health", timeout=1)[0] == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.0005)
        if time.perf_counter() - t0 > 10:
            proc.kill()
            sys.exit("pitstop did not answer /health within 10 s")


def wrk(url, seconds=10):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-H", f"X-API-Key: {KEY}", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, latency, int(errors.group(1)) if errors else 0


def peak_rss_of(args):
    """Wall time and peak RSS (KiB) of one run of the binary."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN] + args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    elapsed = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{args} failed with status {status}")
    return elapsed, usage.ru_maxrss


def write_log(path, size):
    line = b"2026-11-24 12:00:00 INFO linkedin_bot: visited a profile and wished a happy birthday\n"
    block = line * (1 << 20 // len(line) + 1)
    with open(path, "wb") as f:
        written = 0
        while written < size:
            f.write(block)
            written += len(block)


def bench_plugins(tmp, results):
    plugins = os.path.join(ROOT, "target", "plugins")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs, exist_ok=True)
    cache = os.path.join(tmp, "cache")
    config = os.path.join(tmp, "plugins.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nplugin_dir = "{plugins}"\ncache_dir = "{cache}"\nstate_db = "{tmp}/bench.db"\n'
                '[actions.clean_logs]\nkind = "maintenance"\nplugin = "clean_logs"\ntimeout = "10m"\n'
                f'config = {{ file = "{logs}/bot.log", keep_lines = 1000 }}\n'
                f'grants.files = [{{ path = "{logs}", access = "read-write" }}]\n')
        for name in ["clean_queue", "clean_finished_jobs", "vacuum_db", "pull", "rebuild", "restart", "full_deploy"]:
            f.write(f'[actions.{name}]\nkind = "maintenance"\nplugin = "{name}"\n')
    # First compile: every plugin, from an empty cache (check compiles them).
    t0 = time.perf_counter()
    subprocess.run([BIN, "check", "--config", config], stdout=subprocess.DEVNULL, check=False)
    results["plugins_first_compile_all_8_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    import shutil
    shutil.rmtree(cache)
    write_log(os.path.join(logs, "bot.log"), 1 << 20)
    t_first, _ = peak_rss_of(["run", "clean_logs", "--config", config, "--json"])
    write_log(os.path.join(logs, "bot.log"), 1 << 20)
    t_warm, _ = peak_rss_of(["run", "clean_logs", "--config", config, "--json"])
    results["clean_logs_1mb_cold_cache_ms"] = round(t_first * 1000, 1)
    results["clean_logs_1mb_warm_cache_ms"] = round(t_warm * 1000, 1)
    for label, size in [("10mb", 10 << 20), ("500mb", 500 << 20)]:
        path = os.path.join(logs, "bot.log")
        write_log(path, size)
        elapsed, rss = peak_rss_of(["run", "clean_logs", "--config", config, "--json"])
        results[f"clean_logs_{label}_ms"] = round(elapsed * 1000, 1)
        results[f"clean_logs_{label}_peak_rss_kib"] = rss
        os.remove(path)
    return config


def bench_run_overhead(tmp, results, port):
    """Round trip of a trivial action through the API, warm cache, minus
    the round trip of /health: store + instantiate + call + history row."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port)
    def timed(method, path, body=None, n=200):
        t0 = time.perf_counter()
        for _ in range(n):
            conn.request(method, path, body=body, headers={"X-API-Key": KEY, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        return (time.perf_counter() - t0) / n
    timed("POST", "/deployment/maintenance", '{"action": "clean_logs"}', n=5)
    run = timed("POST", "/deployment/maintenance", '{"action": "clean_logs"}')
    health = timed("GET", "/health")
    results["action_run_roundtrip_ms"] = round(run * 1000, 3)
    results["action_run_overhead_ms"] = round((run - health) * 1000, 3)


def main():
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        rport = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            config = os.path.join(tmp, "actions.toml")
            with open(config, "w") as f:
                f.write(f'[redis]\nurl = "redis://127.0.0.1:{rport}/0"\nqueue = "{QUEUE}"\n'
                        '[[services]]\nname = "Redis Bot"\nprobe = "redis"\n')

            times = []
            for _ in range(10):
                port = free_port()
                proc, t = start_pitstop(config, port)
                times.append(t)
                proc.kill()
                proc.wait()
            results["startup_to_health_ms_median"] = round(statistics.median(times) * 1000, 2)
            results["startup_to_health_ms_min"] = round(min(times) * 1000, 2)

            port = free_port()
            proc, _ = start_pitstop(config, port)
            time.sleep(1)
            results["idle_rss_kib"] = rss_kib(proc.pid)

            rps, lat, bad = wrk(f"http://127.0.0.1:{port}/health")
            results["health_rps"] = rps
            results["health_latency_avg"] = lat

            subprocess.run([PY, os.path.join(ROOT, "tests", "rq", "ctl.py"),
                            f"redis://127.0.0.1:{rport}/0", QUEUE, "enqueue-many", "10000"],
                           env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "tests", "rq")}, check=True)
            status, body = get(port, "/deployment/jobs", KEY)
            assert status == 200 and b'"queued":10000' in body, body[:300]
            rps, lat, bad = wrk(f"http://127.0.0.1:{port}/deployment/jobs")
            results["jobs_10k_queued_rps"] = rps
            results["jobs_10k_queued_latency_avg"] = lat
            results["jobs_non_2xx"] = bad
            rps, lat, bad = wrk(f"http://127.0.0.1:{port}/deployment/jobs?limit=100")
            results["jobs_10k_queued_limit100_rps"] = rps
            results["loaded_peak_rss_kib"] = rss_kib(proc.pid, "VmHWM")
            results["loaded_rss_kib"] = rss_kib(proc.pid)
            results["binary_bytes"] = os.path.getsize(BIN)
            proc.kill()

            config = bench_plugins(tmp, results)
            with open(os.path.join(tmp, "logs", "bot.log"), "w") as f:
                f.write("short log\n")
            port = free_port()
            proc, _ = start_pitstop(config, port)
            bench_run_overhead(tmp, results, port)
            results["rss_after_action_runs_kib"] = rss_kib(proc.pid)
            proc.kill()
        finally:
            redis.kill()
    results["machine"] = f"{os.cpu_count()} cores, {os.uname().machine}"
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    with open(os.path.join(ROOT, "target", "bench.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
