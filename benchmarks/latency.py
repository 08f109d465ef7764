"""Benchmark 2: decision latency of the typical order-sign call (prefetch complete), in process.

    python -m benchmarks.latency

2,000 calls through the app (JSON in → cards out); prints p50 and p99. Target: p99 < 10 ms.
"""
from __future__ import annotations

from benchmarks import payloads
from benchmarks.common import bench_app, machine, percentile, post_hook

CALLS = 2000
WARM_UP = 50


def main() -> None:
    client = bench_app().test_client()
    request = payloads.typical_request()
    body = payloads.body(request)
    for _ in range(WARM_UP):
        post_hook(client, body)
    times = sorted(post_hook(client, body) * 1000 for _ in range(CALLS))
    print(f"# decision latency — {machine()}")
    print(f"typical patient: {payloads.resource_count(request)} resources, {len(body) / 1000:.0f} kB; {CALLS} calls")
    print(f"p50 {percentile(times, 0.50):.2f} ms   p99 {percentile(times, 0.99):.2f} ms   "
          f"max {times[-1]:.2f} ms (target p99 < 10 ms)")


if __name__ == "__main__":
    main()
