"""Performance benchmarks, one command each (see README "Performance"); not run in CI.

    python -m benchmarks.overhead      1. hook call vs. json.loads + json.dumps, 50 … 20,000 resources
    python -m benchmarks.latency       2. p50 / p99 of the typical call, in process
    python -m benchmarks.load          3. trd-cds serve vs. a bare WSGI app under wrk
    python -m benchmarks.no_prefetch   4. typical patient read from a local sekmet-fhir
    python -m benchmarks.memory        5. peak RSS of one worker serving 20,000 resources
"""
