"""What the benchmarks share: the in-process app, one timed hook call, and the machine line."""
from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timezone

from cds_service import create_app

ORDER_SIGN = "/cds-services/ketamine-esketamine-order-sign"
# The 20,000-resource request is ~22 MB, above the 5 MiB production default.
BENCH_CONFIG = {"auth": "off", "max_body_bytes": 256 * 1024 * 1024, "log_level": "WARNING"}


def bench_app(**overrides):
    return create_app({**BENCH_CONFIG, **overrides})


def post_hook(client, body: bytes, path: str = ORDER_SIGN) -> float:
    """Seconds for one hook call through the app; fails loudly unless it answers 200 with cards."""
    started = time.perf_counter()
    response = client.post(path, data=body, content_type="application/json")
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or not response.get_json()["cards"]:
        raise SystemExit(f"benchmark request failed: {response.status_code} {response.get_data()[:500]!r}")
    return elapsed


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def machine() -> str:
    """One line naming the machine and date, for the README's figures."""
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    return (f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores ({model}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return info.readlines()
    except OSError:
        return []
