"""Benchmark 3: throughput of ``trd-cds serve`` vs. a bare JSON-parsing WSGI app, under wrk.

    python -m benchmarks.load [--duration 30]      (needs wrk: apt-get install wrk)

Both run under gunicorn with the same flags on 127.0.0.1, workers = cores; wrk posts the typical
order-sign request (prefetch complete) on 64 connections. Targets: ratio ≥ 0.5, zero errors.
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
from benchmarks.server import baseline_command, product_command, running

CONNECTIONS = 64
SCRIPT = Path(__file__).with_name("post.lua")


def wrk(url: str, body_file: str, duration_s: int) -> dict:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(SCRIPT), url]
    output = subprocess.run(command, env={**os.environ, "BODY_FILE": body_file}, capture_output=True,
                            text=True, check=True, timeout=duration_s + 60).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(command_for, ready_path: str, body: bytes, body_file: str, duration_s: int) -> dict:
    with running(command_for, os.cpu_count(), ready_path) as (base, _):
        check = requests.post(base + ORDER_SIGN, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        check.raise_for_status()
        return wrk(base + ORDER_SIGN, body_file, duration_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds per run")
    duration = parser.parse_args().duration
    body = payloads.body(payloads.typical_request())
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        results = {"trd-cds": measure(product_command, "/healthz", body, body_file.name, duration),
                   "baseline": measure(baseline_command, "/", body, body_file.name, duration)}
    print(f"# throughput — {machine()}")
    print(f"gunicorn gthread, {os.cpu_count()} workers; wrk {CONNECTIONS} connections, {duration} s; "
          f"typical order-sign request ({len(body) / 1000:.0f} kB)")
    print(f"{'app':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, result in results.items():
        print(f"{name:>9} {result['rps']:>8.1f} {result['p50_us'] / 1000:>8.1f} {result['p99_us'] / 1000:>8.1f} "
              f"{result['errors']:>7}")
    print(f"ratio trd-cds / baseline: {results['trd-cds']['rps'] / results['baseline']['rps']:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    main()
