"""Audit rows on their way to the store: written at once, or kept and retried while the store fails.

A hook call never fails, nor waits more than the store's short lock timeout, because its audit row
cannot be written: the row is kept in memory (at most ``backlog`` rows per worker process) and one
background thread retries the oldest until the store takes it. Each failure is logged on
``trd_cds.audit`` with its hookInstance; a row dropped because the backlog is full, or still kept
when the process exits, is logged there as LOST. ``pending``, ``lost`` and ``failed_writes`` are
exported as ``trd_cds_audit_rows_pending``, ``trd_cds_audit_rows_lost_total`` and
``trd_cds_audit_write_failures_total`` (cds_service/ops/metrics.py).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque

from cds_service.ops import metrics

log = logging.getLogger("trd_cds.audit")
BACKLOG = 10_000
RETRY_S = 1.0
_LIVE: weakref.WeakSet = weakref.WeakSet()


class AuditLog:
    """``record(audit)`` for the routes; ``pending``, ``lost``, ``failed_writes`` for monitoring."""

    def __init__(self, store, backlog: int = BACKLOG, retry_s: float = RETRY_S):
        self.store = store
        self.backlog = backlog
        self.retry_s = retry_s
        self.lost = 0  # rows dropped for good
        self.failed_writes = 0  # write attempts that failed, retries included
        self._rows: deque[dict] = deque()
        self._lock = threading.Lock()
        self._retrying: threading.Thread | None = None
        _LIVE.add(self)

    @property
    def pending(self) -> int:
        """Rows kept in memory, waiting for the store."""
        return len(self._rows)

    def record(self, audit: dict) -> None:
        """Write ``audit`` now; if the store fails (or older rows still wait), keep it for retry."""
        if not self._rows:
            try:
                self.store.record_audit(audit)
                return
            except Exception as error:  # whatever the store raises, the hook call goes on
                self._count_failure()
                log.warning("audit row for hookInstance %s not written (%s): kept for retry",
                            audit["hookInstance"], error)
        else:
            log.warning("audit row for hookInstance %s queued behind %d rows waiting for the store",
                        audit["hookInstance"], len(self._rows))
        with self._lock:
            self._rows.append(audit)
            metrics.AUDIT_PENDING.inc()
            if len(self._rows) > self.backlog:
                self._lose(self._rows.popleft(), "the backlog is full")
            if self._retrying is None or not self._retrying.is_alive():
                self._retrying = threading.Thread(target=self._retry, name="audit-retry", daemon=True)
                self._retrying.start()

    def _retry(self) -> None:
        written = 0
        while True:
            with self._lock:
                if not self._rows:
                    log.info("store writable again: %d kept audit rows written", written)
                    return
                audit = self._rows[0]
            try:
                self.store.record_audit(audit)
            except Exception:
                self._count_failure()
                time.sleep(self.retry_s)
                continue
            with self._lock:
                if self._rows and self._rows[0] is audit:
                    self._rows.popleft()
                    metrics.AUDIT_PENDING.dec()
                    written += 1

    def _count_failure(self) -> None:
        with self._lock:
            self.failed_writes += 1
        metrics.AUDIT_WRITE_FAILURES.inc()

    def _lose(self, audit: dict, why: str) -> None:
        self.lost += 1
        metrics.AUDIT_PENDING.dec()  # every lost row was waiting
        metrics.AUDIT_LOST.inc()
        log.error("audit row LOST (%s): hookInstance %s, patient %s, cards %s", why, audit["hookInstance"],
                  audit["patientId"], [card["uuid"] for card in audit["cards"]])


@atexit.register
def _report_unwritten() -> None:
    """Rows still kept when the process stops are lost: say exactly which."""
    for audits in list(_LIVE):
        while audits._rows:
            audits._lose(audits._rows.popleft(), "the process stopped before the store took it")
