"""Benchmark 3: a whole hook call of the WSGI app, as a worker makes it, vs. stdlib ``json.loads`` of the body.

    python -m benchmarks.overhead

The floor is parsing the request, the one thing any service must do with it (the service answers a
few kB, so re-serialising the request would double the floor). Targets: ≤ 3× at 2,000 resources;
cost linear in the resources (ms per 1,000 resources about equal from 500 to 20,000). The sizes are
measured in interleaved rounds so that load from other processes hits them alike.
"""
from __future__ import annotations

import statistics

from benchmarks import payloads
from benchmarks.common import bench_app, json_floor, machine, post_hook

SIZES = {50: 40, 500: 8, 2000: 3, 20000: 1}  # resources → calls per round
ROUNDS = 7


def main() -> None:
    bodies = {size: payloads.body(payloads.sized_request(size)) for size in SIZES}
    times: dict[tuple[int, str], list[float]] = {}
    with bench_app() as app:
        for size, body in bodies.items():
            post_hook(app, body)  # warm-up
        for _ in range(ROUNDS):
            for size, calls in SIZES.items():
                for _ in range(calls):
                    times.setdefault((size, "json"), []).append(json_floor(bodies[size]))
                    times.setdefault((size, "app"), []).append(post_hook(app, bodies[size]))
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    print(f"# overhead ratio — {machine()}")
    print(f"{'resources':>9} {'MB':>6} {'loads ms':>9} {'app ms':>9} {'ratio':>6} {'app ms / 1,000 res.':>20}")
    for size, body in bodies.items():
        print(f"{size:>9} {len(body) / 1e6:>6.2f} {ms[size, 'json']:>9.2f} {ms[size, 'app']:>9.1f} "
              f"{ms[size, 'app'] / ms[size, 'json']:>5.1f}× {ms[size, 'app'] / size * 1000:>20.1f}")
    print(f"target: ≤ 3× json.loads at 2,000 resources; growth 20,000 / 2,000 resources "
          f"{ms[20000, 'app'] / ms[2000, 'app']:.1f}× (linear: 10×)")


if __name__ == "__main__":
    main()
