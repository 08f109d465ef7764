"""Benchmark 2: throughput of ``trd-cds serve`` vs. parse-only floor apps and HealthChain's one-card service, under wrk.

    python -m benchmarks.load [--duration 30]      (needs wrk, and HealthChain's venv: see below)

Every app runs on 127.0.0.1 with ``trd-cds serve``'s default worker processes (WORKERS; TRD_CDS_WORKERS):
trd-cds through its serve command (gunicorn, its buffering gthread worker, THREADS threads each); the floors
under gunicorn gthread with the same workers and threads: Flask parsing the body with the service's CORS
and security headers, and a bare WSGI app. The peer: HealthChain 0.16.1's CDS Hooks service answering one
fixed card and doing no other work (benchmarks/healthchain_app.py), under uvicorn (asyncio, one event loop
per worker process: no threads) from HealthChain's own venv, ``TRD_CDS_HEALTHCHAIN_VENV`` (default
``.venv-healthchain``, built by .ci/run from requirements/healthchain.lock). wrk posts the same typical
order-sign request (prefetch complete) to each on 8 connections (= workers × threads: p50 there is service
time) and on 64 (p50 there is mostly queueing: by Little's law, latency ≈ connections / throughput).
CPU-ms per request is the server's process CPU time (master and workers, from /proc) over the requests
served. Targets: trd-cds more req/s than HealthChain and ≥ 0.5× the Flask floor's at both, zero errors.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from benchmarks import payloads
from benchmarks.common import ORDER_SIGN, machine
from benchmarks.server import (HEALTHCHAIN_VENV, REPO, THREADS, WORKERS, baseline_command, cpu_seconds,
                               flask_floor_command, healthchain_command, product_command, running)

CONNECTIONS = (8, 64)
SCRIPT = Path(__file__).with_name("post.lua")


@dataclass(frozen=True)
class App:
    command: Callable[[str, int], list[str]]
    hook_path: str  # where it answers the order-sign call
    ready_path: str
    cards: bool  # whether its answer holds cards (the floors answer none)


APPS = {
    "trd-cds": App(product_command, ORDER_SIGN, "/healthz", True),
    "HealthChain": App(healthchain_command, "/cds" + ORDER_SIGN, "/health", True),  # HealthChain's default prefix
    "flask floor": App(flask_floor_command, ORDER_SIGN, "/healthz", False),
    "bare WSGI": App(baseline_command, ORDER_SIGN, "/healthz", False),
}


def missing_tools() -> list[str]:
    """What this benchmark needs and does not find, each as one line saying how to get it."""
    missing = [] if shutil.which("wrk") else ["wrk is not on PATH (Debian: apt-get install wrk)"]
    python = HEALTHCHAIN_VENV / "bin" / "python"
    found = python.exists() and subprocess.run([str(python), "-c", "import healthchain, uvicorn"], cwd=REPO,
                                               capture_output=True, timeout=120).returncode == 0
    if not found:
        missing.append(f"no HealthChain venv with healthchain and uvicorn at {HEALTHCHAIN_VENV} "
                       f"(TRD_CDS_HEALTHCHAIN_VENV): python3 -m venv {HEALTHCHAIN_VENV} && "
                       f"{HEALTHCHAIN_VENV}/bin/pip install --require-hashes -r requirements/healthchain.lock")
    return missing


def wrk(url: str, body_file: str, connections: int, duration_s: int) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(SCRIPT), url]
    output = subprocess.run(command, env={**os.environ, "BODY_FILE": body_file}, capture_output=True,
                            text=True, check=True, timeout=duration_s + 60).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def start(app: App, body: bytes, stack: contextlib.ExitStack) -> tuple[str, subprocess.Popen]:
    """(hook URL, server master) of ``app``, running until ``stack`` closes, its answer to ``body`` checked."""
    base, master = stack.enter_context(running(app.command, WORKERS, app.ready_path))
    check = requests.post(base + app.hook_path, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    check.raise_for_status()
    if app.cards and not check.json()["cards"]:
        raise SystemExit(f"benchmark request failed: no cards from {base + app.hook_path}: {check.text[:500]}")
    return base + app.hook_path, master


def measure(body: bytes, body_file: str, duration_s: int) -> dict[str, dict[int, dict]]:
    """wrk results per app and connection count, each with the server's CPU-ms per request. All the servers
    run at once (idle but for the one under wrk), the apps taking turns at each connection count, so that
    load from other processes is spread over them alike."""
    results: dict[str, dict[int, dict]] = {name: {} for name in APPS}
    with contextlib.ExitStack() as stack:
        servers = {name: start(app, body, stack) for name, app in APPS.items()}
        for connections in CONNECTIONS:
            for name, (url, master) in servers.items():
                cpu_started = cpu_seconds(master)
                result = wrk(url, body_file, connections, duration_s)
                result["cpu_ms"] = (cpu_seconds(master) - cpu_started) * 1000 / max(result["requests"], 1)
                results[name][connections] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds per run")
    duration = parser.parse_args().duration
    missing = missing_tools()
    if missing:
        raise SystemExit("benchmarks.load cannot run:\n  " + "\n  ".join(missing))
    body = payloads.body(payloads.typical_request())
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        results = measure(body, body_file.name, duration)
    print(f"# throughput — {machine()}")
    print(f"{WORKERS} worker processes each (trd-cds serve's default): trd-cds serve and the floors under gunicorn, "
          f"{THREADS} threads per worker; HealthChain under uvicorn (one event loop per worker)")
    print(f"wrk {duration} s per row, the same typical order-sign request ({len(body) / 1000:.0f} kB) to each; "
          f"one run, so the ratios hold, not the absolutes")
    print(f"{'app':>12} {'conns':>5} {'req/s':>8} {'CPU ms/req':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, by_connections in results.items():
        for connections, result in by_connections.items():
            print(f"{name:>12} {connections:>5} {result['rps']:>8.1f} {result['cpu_ms']:>10.2f} "
                  f"{result['p50_us'] / 1000:>8.1f} {result['p99_us'] / 1000:>8.1f} {result['errors']:>7}")
    for connections in CONNECTIONS:
        ours = results["trd-cds"][connections]
        peer, floor = results["HealthChain"][connections], results["flask floor"][connections]
        print(f"{connections} connections: trd-cds / HealthChain {ours['rps'] / peer['rps']:.2f} (target > 1), "
              f"trd-cds / Flask floor {ours['rps'] / floor['rps']:.2f} (target ≥ 0.5); Little's law "
              f"{connections} / {ours['rps']:.0f} req/s = {connections / ours['rps'] * 1000:.0f} ms "
              f"(measured p50 {ours['p50_us'] / 1000:.0f} ms)")
    service_time = results["trd-cds"][CONNECTIONS[0]]["p50_us"] / 1000
    print(f"service time (p50 at {CONNECTIONS[0]} connections): {service_time:.1f} ms")


if __name__ == "__main__":
    main()
