"""Audit rows on their way to the store: queued by the hook call, written in batches by one thread.

A hook call hands its row to ``record`` and returns: it never waits for the store. One writer thread
per process writes the queued rows, oldest first and at most ``batch_rows`` per transaction, once
the first of them has waited ``delay_s`` (``TRD_CDS_AUDIT_DELAY_S``) or as soon as a batch is full.
When a write fails its rows are kept, in order, and retried every ``retry_s``; each kept row is
logged once on ``trd_cds.audit`` with its hookInstance. At most ``backlog`` rows wait in memory: the
oldest beyond that is dropped and logged there as LOST. ``close`` (gunicorn worker exit, atexit)
writes every queued row; one the store does not take then is logged as LOST too. Only a kill -9
(SIGKILL) loses rows unlogged: those of the last ``delay_s`` of calls, and any kept.

``pending`` (rows kept after a failed write; rows waiting only for their batch are not counted),
``lost`` and ``failed_writes`` are exported as ``trd_cds_audit_rows_pending``,
``trd_cds_audit_rows_lost_total`` and ``trd_cds_audit_write_failures_total`` (cds_service/ops/metrics.py).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from itertools import islice

from cds_service.ops import metrics

log = logging.getLogger("trd_cds.audit")
BACKLOG = 10_000
BATCH_ROWS = 64
DELAY_S = 0.05
RETRY_S = 1.0
IDLE_S = 5.0  # the writer thread ends after this long without rows; the next row starts another
_LIVE: weakref.WeakSet = weakref.WeakSet()


class AuditLog:
    """``record(audit)`` for the routes; ``flush``/``close`` to write now; ``pending``, ``queued``,
    ``lost``, ``failed_writes`` for monitoring."""

    def __init__(self, store, delay_s: float = DELAY_S, backlog: int = BACKLOG, retry_s: float = RETRY_S,
                 batch_rows: int = BATCH_ROWS):
        self.store = store
        self.delay_s = delay_s
        self.backlog = backlog
        self.retry_s = retry_s
        self.batch_rows = batch_rows
        self.lost = 0  # rows dropped for good
        self.failed_writes = 0  # write attempts that failed, retries included
        self._rows: deque[dict] = deque()
        self._kept = 0  # the first _kept queued rows met a failed write (when > 0: all of them)
        self._rewritten = 0  # kept rows written since the store failed
        self._due = 0.0  # time.monotonic() at which the queued rows are written
        self._changed = threading.Condition(threading.Lock())  # guards the above; wakes the writer
        self._writing = threading.Lock()  # one write at a time: rows reach the store in order
        self._writer: threading.Thread | None = None
        _LIVE.add(self)

    @property
    def pending(self) -> int:
        """Rows kept in memory after a failed write, waiting for the store."""
        return self._kept

    @property
    def queued(self) -> int:
        """Rows in memory not yet written: waiting for their batch, or kept."""
        return len(self._rows)

    def record(self, audit: dict) -> None:
        """Queue ``audit`` for the writer thread; never waits for the store."""
        with self._changed:
            self._rows.append(audit)
            behind = self._kept
            if behind:  # the store is failing: the row waits with the kept ones
                self._kept += 1
                metrics.AUDIT_PENDING.inc()
            if len(self._rows) > self.backlog:
                self._drop_oldest("the backlog is full")
            queued = len(self._rows)
            if queued == 1:
                self._due = time.monotonic() + self.delay_s
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._writer.start()
            elif queued == 1 or queued == self.batch_rows:
                self._changed.notify()
        if behind:
            log.warning("audit row for hookInstance %s queued behind %d rows waiting for the store",
                        audit["hookInstance"], behind)

    def flush(self) -> bool:
        """Write every queued row now, in this thread; False when the store failed (they stay kept)."""
        return self._write(everything=True)

    def close(self) -> None:
        """Write every queued row now (shutdown); rows the store does not take are logged as LOST."""
        if not self.flush():
            with self._changed:
                while self._rows:
                    self._drop_oldest("the process stopped before the store took it")

    def _run(self) -> None:
        try:
            while (everything := self._wait()) is not None:
                self._write(everything)
        finally:
            with self._changed:
                if self._writer is threading.current_thread():
                    self._writer = None

    def _wait(self) -> bool | None:
        """Block until rows are due (True: write them all) or a batch is full and the store is not
        failing (False: full batches only); None after IDLE_S without rows (the thread then ends)."""
        with self._changed:
            idle_until = time.monotonic() + IDLE_S
            while True:
                now = time.monotonic()
                if self._rows:
                    if now >= self._due:
                        return True
                    if len(self._rows) >= self.batch_rows and not self._kept:
                        return False
                    self._changed.wait(self._due - now)
                elif now < idle_until:
                    self._changed.wait(idle_until - now)
                else:
                    self._writer = None
                    return None

    def _write(self, everything: bool) -> bool:
        """Write queued rows, oldest first, ``batch_rows`` per transaction (all of them, or only
        full batches); False when the store failed."""
        with self._writing:
            while True:
                with self._changed:
                    if not self._rows or (not everything and len(self._rows) < self.batch_rows):
                        return True
                    batch = list(islice(self._rows, self.batch_rows))
                try:
                    self.store.record_audit(*batch)
                except Exception as error:  # whatever the store raises, the rows are kept
                    self._failed(error)
                    return False
                self._written(batch)

    def _written(self, batch: list[dict]) -> None:
        with self._changed:
            written = 0
            for audit in batch:
                if self._rows and self._rows[0] is audit:  # not dropped from a full backlog meanwhile
                    self._rows.popleft()
                    written += 1
            rewritten = min(self._kept, written)
            self._kept -= rewritten
            self._rewritten += rewritten
            recovered = self._rewritten if rewritten and not self._kept else 0
            if recovered:
                self._rewritten = 0
        if rewritten:
            metrics.AUDIT_PENDING.dec(rewritten)
        if recovered:
            log.info("store writable again: %d kept audit rows written", recovered)

    def _failed(self, error: Exception) -> None:
        metrics.AUDIT_WRITE_FAILURES.inc()
        with self._changed:
            self.failed_writes += 1
            newly_kept = list(islice(self._rows, self._kept, None))
            self._kept = len(self._rows)
            self._due = time.monotonic() + self.retry_s
            self._changed.notify()  # the writer now waits for the retry, not for the batch
        if newly_kept:
            metrics.AUDIT_PENDING.inc(len(newly_kept))
            log.warning("%d audit rows not written (%s): kept for retry; hookInstance %s", len(newly_kept), error,
                        ", ".join(audit["hookInstance"] for audit in newly_kept))

    def _drop_oldest(self, why: str) -> None:
        """Drop the oldest queued row for good, naming it (the caller holds the lock)."""
        audit = self._rows.popleft()
        if self._kept:
            self._kept -= 1
            metrics.AUDIT_PENDING.dec()
        self.lost += 1
        metrics.AUDIT_LOST.inc()
        log.error("audit row LOST (%s): hookInstance %s, patient %s, cards %s", why, audit["hookInstance"],
                  audit["patientId"], [card["uuid"] for card in audit["cards"]])


@atexit.register
def close_all() -> None:
    """Write the queued rows of every audit log of this process (gunicorn worker exit, atexit)."""
    for audits in list(_LIVE):
        audits.close()
