"""Performance benchmarks, one command each (see README "Performance"); not run in CI.

    python -m benchmarks.latency       1. p50 / p99 of the typical call in process, vs. json.loads interleaved
    python -m benchmarks.load          2. trd-cds serve vs. floor apps and HealthChain's one-card service, under wrk
    python -m benchmarks.overhead      3. hook call vs. stdlib json.loads of the body, 50 … 20,000 resources
    python -m benchmarks.no_prefetch   4. typical patient read from a local sekmet-fhir and from a 20 ms stub
    python -m benchmarks.memory        5. peak RSS of one worker serving 20,000 resources
    python -m benchmarks.audit         6. the audit write on the call's thread: own transaction vs. batched

Every figure is a ratio to a floor measured in the same run: the machine is shared, absolutes vary.
"""
