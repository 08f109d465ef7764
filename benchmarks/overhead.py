"""Benchmark 1: a whole hook call through the app vs. ``json.loads`` + ``json.dumps`` of the same body.

    python -m benchmarks.overhead

Targets: ≤ 5× at 2,000 resources; app time at 20,000 / at 2,000 ≤ 12× (linear growth).
The sizes are measured in interleaved rounds so that load from other processes hits them alike.
"""
from __future__ import annotations

import json
import statistics
import time

from benchmarks import payloads
from benchmarks.common import bench_app, machine, post_hook

SIZES = {50: 40, 500: 8, 2000: 3, 20000: 1}  # resources → calls per round
ROUNDS = 7


def _json_round_trip(body: bytes) -> float:
    started = time.perf_counter()
    json.dumps(json.loads(body))
    return time.perf_counter() - started


def main() -> None:
    client = bench_app().test_client()
    bodies = {size: payloads.body(payloads.sized_request(size)) for size in SIZES}
    times: dict[tuple[int, str], list[float]] = {}
    for size, body in bodies.items():
        post_hook(client, body)  # warm-up
    for _ in range(ROUNDS):
        for size, calls in SIZES.items():
            for _ in range(calls):
                times.setdefault((size, "json"), []).append(_json_round_trip(bodies[size]))
                times.setdefault((size, "app"), []).append(post_hook(client, bodies[size]))
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    print(f"# overhead ratio — {machine()}")
    print(f"{'resources':>9} {'MB':>6} {'json ms':>9} {'app ms':>9} {'ratio':>6}")
    for size, body in bodies.items():
        print(f"{size:>9} {len(body) / 1e6:>6.1f} {ms[size, 'json']:>9.1f} {ms[size, 'app']:>9.1f} "
              f"{ms[size, 'app'] / ms[size, 'json']:>5.1f}×")
    print(f"growth 20,000 / 2,000 resources: {ms[20000, 'app'] / ms[2000, 'app']:.1f}× (target ≤ 12×)")


if __name__ == "__main__":
    main()
