"""Benchmark 5: peak RSS of one gunicorn worker while it serves the 20,000-resource request.

    python -m benchmarks.memory

``trd-cds serve`` with one worker and TRD_CDS_MAX_BODY_BYTES raised to let the ~22 MB body in;
the worker's VmHWM is read from /proc after three calls. Target: < 200 MB; the memory above the
idle worker and the body is stated per 1,000 resources.
"""
from __future__ import annotations

import requests

from benchmarks import payloads
from benchmarks.common import BENCH_CONFIG, ORDER_SIGN, machine
from benchmarks.server import peak_rss_mb, product_command, running, worker_pids

RESOURCES = 20000
CALLS = 3


def main() -> None:
    body = payloads.body(payloads.sized_request(RESOURCES))
    env = {"TRD_CDS_MAX_BODY_BYTES": str(BENCH_CONFIG["max_body_bytes"])}
    with running(product_command, 1, "/healthz", env) as (base, master):
        (worker,) = worker_pids(master)
        idle = peak_rss_mb(worker)
        for _ in range(CALLS):
            response = requests.post(base + ORDER_SIGN, data=body, headers={"Content-Type": "application/json"},
                                     timeout=120)
            response.raise_for_status()
        peak = peak_rss_mb(worker)
    print(f"# memory — {machine()}")
    above = peak - idle - len(body) / 2**20
    print(f"one worker, {RESOURCES} resources ({len(body) / 1e6:.1f} MB body), {CALLS} calls: "
          f"peak RSS {peak:.0f} MB (idle {idle:.0f} MB; target < 200 MB); above the idle worker and the body: "
          f"{above:.0f} MB, {above / RESOURCES * 1000:.1f} MB per 1,000 resources")


if __name__ == "__main__":
    main()
