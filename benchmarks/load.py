"""Benchmark 3: throughput of ``trd-cds serve`` vs. parse-only floor apps, under wrk.

    python -m benchmarks.load [--duration 30]      (needs wrk: apt-get install wrk)

Each app runs under gunicorn on 127.0.0.1 (workers = cores, BENCH_THREADS threads, 4 by default as
in ``trd-cds serve``; trd-cds through its serve command and worker, the floors with gthread); wrk
posts the typical order-sign request (prefetch complete) on 8 connections (= workers × threads on 2 cores: p50 there is service time) and on 64
(p50 there is mostly queueing: by Little's law, latency ≈ connections / throughput). The floors:
Flask parsing the body with the service's CORS and security headers, and a bare WSGI app.
CPU-ms per request is the server's process CPU time (master and workers) over the requests served.
Targets: trd-cds ≥ 0.5× the Flask floor's req/s at both, zero errors.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import requests

from benchmarks import payloads
from benchmarks.common import ORDER_SIGN, machine
from benchmarks.server import THREADS, baseline_command, cpu_seconds, flask_floor_command, product_command, running

CONNECTIONS = (8, 64)
SCRIPT = Path(__file__).with_name("post.lua")
APPS = {"trd-cds": product_command, "flask floor": flask_floor_command, "bare WSGI": baseline_command}


def wrk(url: str, body_file: str, connections: int, duration_s: int) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(SCRIPT), url]
    output = subprocess.run(command, env={**os.environ, "BODY_FILE": body_file}, capture_output=True,
                            text=True, check=True, timeout=duration_s + 60).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(command_for, body: bytes, body_file: str, duration_s: int) -> dict[int, dict]:
    """wrk results per connection count, each with the server's CPU-ms per request."""
    results = {}
    with running(command_for, os.cpu_count(), "/healthz") as (base, master):
        check = requests.post(base + ORDER_SIGN, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        check.raise_for_status()
        for connections in CONNECTIONS:
            cpu_started = cpu_seconds(master)
            result = wrk(base + ORDER_SIGN, body_file, connections, duration_s)
            result["cpu_ms"] = (cpu_seconds(master) - cpu_started) * 1000 / max(result["requests"], 1)
            results[connections] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds per run")
    duration = parser.parse_args().duration
    body = payloads.body(payloads.typical_request())
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        results = {name: measure(command, body, body_file.name, duration) for name, command in APPS.items()}
    print(f"# throughput — {machine()}")
    print(f"gunicorn, {os.cpu_count()} workers × {THREADS} threads; wrk {duration} s per row; "
          f"typical order-sign request ({len(body) / 1000:.0f} kB); one run, so the ratios hold, not the absolutes")
    print(f"{'app':>12} {'conns':>5} {'req/s':>8} {'CPU ms/req':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, by_connections in results.items():
        for connections, result in by_connections.items():
            print(f"{name:>12} {connections:>5} {result['rps']:>8.1f} {result['cpu_ms']:>10.2f} "
                  f"{result['p50_us'] / 1000:>8.1f} {result['p99_us'] / 1000:>8.1f} {result['errors']:>7}")
    for connections in CONNECTIONS:
        ours, floor = results["trd-cds"][connections], results["flask floor"][connections]
        print(f"{connections} connections: trd-cds / Flask floor {ours['rps'] / floor['rps']:.2f} (target ≥ 0.5); "
              f"Little's law {connections} / {ours['rps']:.0f} req/s = {connections / ours['rps'] * 1000:.0f} ms "
              f"(measured p50 {ours['p50_us'] / 1000:.0f} ms)")
    print(f"service time (p50 at {CONNECTIONS[0]} connections): {results['trd-cds'][CONNECTIONS[0]]['p50_us'] / 1000:.1f} ms")


if __name__ == "__main__":
    main()
