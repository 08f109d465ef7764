"""Benchmark 1: decision latency of the typical order-sign call (prefetch complete), in process.

    python -m benchmarks.latency

2,000 calls of the WSGI app as a ``trd-cds serve`` worker makes them (the environ gunicorn builds,
the body in a fresh BytesIO; not Flask's test client, which adds its own cost), JSON in → cards out,
SQLite audit on in a temporary directory, each after a stdlib ``json.loads`` of the same body (the
floor, interleaved so that load from other processes hits both alike). Targets: p50 ≤ 3× the floor's
p50, p99 < 10 ms, no call above 3× p99.
"""
from __future__ import annotations

from benchmarks import payloads
from benchmarks.common import bench_app, json_floor, machine, percentile, timed_call

CALLS = 2000
WARM_UP = 50


def main() -> None:
    request = payloads.typical_request()
    body = payloads.body(request)
    with bench_app() as app:
        for _ in range(WARM_UP):
            timed_call(app, body)
        floor, calls, cpu = [], [], 0.0
        for _ in range(CALLS):
            floor.append(json_floor(body) * 1000)
            wall, used = timed_call(app, body)
            calls.append(wall * 1000)
            cpu += used
    floor.sort()
    calls.sort()
    p50, p99 = percentile(calls, 0.50), percentile(calls, 0.99)
    print(f"# decision latency — {machine()}")
    print(f"typical patient: {payloads.resource_count(request)} resources, {len(body) / 1000:.0f} kB; {CALLS} calls")
    print(f"call p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {calls[-1]:.2f} ms   "
          f"CPU {cpu / CALLS * 1000:.2f} ms per call")
    print(f"floor: stdlib json.loads of the body p50 {percentile(floor, 0.50):.3f} ms")
    print(f"p50 / floor {p50 / percentile(floor, 0.50):.1f}× (target ≤ 3×); p99 {p99:.2f} ms (target < 10 ms); "
          f"max / p99 {calls[-1] / p99:.1f}×, {sum(c > 3 * p99 for c in calls)} call(s) above 3× p99 (target 0)")


if __name__ == "__main__":
    main()
