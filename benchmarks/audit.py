"""Benchmark 6: what the audit write costs a hook call, in process.

    python -m benchmarks.audit

The typical call's audit row (the cards the service answers it with) into a SQLite store in a
temporary directory, 2,000 rows each way in alternating rounds: written in a transaction of its own
(``SQLStore.record_audit``, what every call paid before the batched writer) and handed to
``AuditLog.record`` (what a call pays now; the writer thread writes the rows, here 64 per
transaction as they arrive back to back). Printed: time on the calling thread, and process CPU per
row until the rows are stored (the writer thread's included). Then the audit's share of the whole
call: 1,000 typical calls with the SQLite audit interleaved with 1,000 on ``memory://``.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from datetime import datetime, timezone

from benchmarks import payloads
from benchmarks.common import ORDER_SIGN, bench_client, machine, percentile, timed_call
from cds_service.store.audit import AuditLog
from cds_service.store.sql import open_store

ROWS = 2000
ROUNDS = 4
CALLS = 1000
WARM_UP = 50


def typical_row() -> dict:
    """The typical call's audit row, shaped as cds_service/protocol/routes.py ``_audit`` builds it."""
    request = payloads.typical_request()
    with bench_client() as client:
        answer = client.post(ORDER_SIGN, data=payloads.body(request), content_type="application/json").get_json()
    context = request["context"]
    return {"hookInstance": request["hookInstance"], "service": ORDER_SIGN.rsplit("/", 1)[1], "hook": request["hook"],
            "time": datetime.now(timezone.utc).isoformat(), "patientId": context["patientId"],
            "userId": context["userId"], "policyVersion": "benchmark",
            "cards": [{"uuid": card["uuid"], "topic": card["source"]["topic"]["code"], "indicator": card["indicator"]}
                      for card in answer["cards"]]}


def copies(row: dict, number: int) -> list[dict]:
    """``number`` rows like ``row``, each with its own hookInstance and card uuids."""
    return [{**row, "hookInstance": str(uuid.uuid4()), "cards": [{**card, "uuid": str(uuid.uuid4())}
                                                                  for card in row["cards"]]}
            for _ in range(number)]


def timed(write, rows: list[dict], finish=lambda: None) -> tuple[list[float], float]:
    """(ms per row on this thread, process CPU ms until ``finish`` returned) of ``write`` on each row."""
    times = []
    cpu_started = time.process_time()
    for row in rows:
        started = time.perf_counter()
        write(row)
        times.append((time.perf_counter() - started) * 1000)
    finish()
    return times, (time.process_time() - cpu_started) * 1000


def audit_on_the_call() -> tuple[float, float]:
    """p50 ms of the typical call with the SQLite audit, and on ``memory://``, interleaved."""
    body = payloads.body(payloads.typical_request())
    with bench_client() as sqlite_client, bench_client(database_url="memory://") as memory_client:
        for _ in range(WARM_UP):
            timed_call(sqlite_client, body)
            timed_call(memory_client, body)
        sqlite_ms, memory_ms = [], []
        for number in range(CALLS):
            pair = ((sqlite_client, sqlite_ms), (memory_client, memory_ms))
            for client, times in pair if number % 2 else reversed(pair):
                times.append(timed_call(client, body)[0] * 1000)
    return percentile(sorted(sqlite_ms), 0.5), percentile(sorted(memory_ms), 0.5)


def main() -> None:
    row = typical_row()
    own, batched = ([], 0.0), ([], 0.0)
    with tempfile.TemporaryDirectory(prefix="trd-cds-bench-") as workdir:
        store = open_store(f"sqlite:///{workdir}/trd-cds.db")
        audits = AuditLog(store)
        for _ in range(ROUNDS):
            times, cpu = timed(store.record_audit, copies(row, ROWS // ROUNDS))
            own = (own[0] + times, own[1] + cpu)
            times, cpu = timed(audits.record, copies(row, ROWS // ROUNDS), audits.flush)
            batched = (batched[0] + times, batched[1] + cpu)
        audits.close()
        store.close()
    print(f"# audit write per call — {machine()}")
    print(f"typical call's audit row: {len(row['cards'])} cards; {ROWS} rows each way, SQLite")
    for name, (times, cpu) in (("own transaction (before)", own), ("AuditLog.record (after)", batched)):
        times.sort()
        print(f"{name:26} on the call's thread p50 {percentile(times, 0.5):.4f} ms  p99 {percentile(times, 0.99):.4f} ms"
              f"  mean {sum(times) / len(times):.4f} ms;  CPU {cpu / ROWS:.3f} ms per row until stored")
    sqlite_p50, memory_p50 = audit_on_the_call()
    print(f"typical call, {CALLS} each, interleaved: p50 {sqlite_p50:.2f} ms with the SQLite audit, {memory_p50:.2f} ms "
          f"on memory://: the audit adds {sqlite_p50 - memory_p50:+.2f} ms ({(sqlite_p50 / memory_p50 - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
