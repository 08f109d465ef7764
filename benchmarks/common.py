"""What the benchmarks share: the in-process app, timed hook calls, the JSON floor, the machine line."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

from cds_service import create_app
from cds_service.heap import tune_garbage_collection

ORDER_SIGN = "/cds-services/ketamine-esketamine-order-sign"
# The 20,000-resource request is ~22 MB, above the 5 MiB production default.
BENCH_CONFIG = {"auth": "off", "max_body_bytes": 256 * 1024 * 1024, "log_level": "WARNING"}


@contextlib.contextmanager
def bench_client(**overrides):
    """A test client of the app as a worker runs it (garbage collection tuned, cds_service/wsgi.py), with
    its SQLite store (audit on) in a temporary directory, never the repo."""
    with tempfile.TemporaryDirectory(prefix="trd-cds-bench-") as workdir:
        config = {**BENCH_CONFIG, "database_url": f"sqlite:///{workdir}/trd-cds.db", **overrides}
        app = create_app(config)
        tune_garbage_collection()
        try:
            yield app.test_client()
        finally:
            app.extensions["trd_cds"].audits.close()  # its queued audit rows, before their directory goes


def post_hook(client, body: bytes, path: str = ORDER_SIGN) -> float:
    """Seconds for one hook call through the app; fails loudly unless it answers 200 with cards."""
    started = time.perf_counter()
    response = client.post(path, data=body, content_type="application/json")
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or not response.get_json()["cards"]:
        raise SystemExit(f"benchmark request failed: {response.status_code} {response.get_data()[:500]!r}")
    return elapsed


def timed_call(client, body: bytes) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one hook call."""
    cpu_started = time.process_time()
    elapsed = post_hook(client, body)
    return elapsed, time.process_time() - cpu_started


def json_floor(body: bytes) -> float:
    """Seconds for stdlib ``json.loads`` of the body: the floor every figure is a ratio to."""
    started = time.perf_counter()
    json.loads(body)
    return time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def machine() -> str:
    """One line naming the machine, date and load, for the README's figures."""
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    return (f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores ({model}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"load average {os.getloadavg()[0]:.1f}")


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return info.readlines()
    except OSError:
        return []
