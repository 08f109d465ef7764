"""The threads that run FHIR reads, kept per process between hook calls.

Starting a dozen threads for every call cost ≈ 3 ms before the first request went out. Here a
thread is started only when no idle one is waiting, at most ``LIMIT`` per process (the size of
each FHIR server's keep-alive connection pool, cds_service/fhir/client.py), and a thread left
without work for ``IDLE_S`` ends: threads outlive the calls that used them by at most that. Created
on first use in each process, so a gunicorn fork starts with none.
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
from typing import Callable

LIMIT = 48  # reader threads per process: `trd-cds serve`'s 4 threads × fhir_max_workers 12
IDLE_S = 1.0  # an idle thread ends after this long

_lock = threading.Lock()
_readers: tuple[int, Readers] | None = None  # (pid, readers)


class Readers:
    """Runs callables on up to ``limit`` daemon threads named ``fhir-reader-N``, first come first served."""

    def __init__(self, limit: int = LIMIT, idle_s: float = IDLE_S):
        self._limit, self._idle_s = limit, idle_s
        self._ready = threading.Condition()
        self._work: collections.deque[Callable[[], None]] = collections.deque()
        self._threads = 0
        self._waiting = 0  # threads waiting for work
        self._names = itertools.count()

    def start(self, task: Callable[[], None]) -> None:
        """Run ``task`` on a waiting thread, a new one, or the first to finish (all ``limit`` busy).
        ``task`` handles its own errors."""
        with self._ready:
            self._work.append(task)
            start = self._waiting < len(self._work) and self._threads < self._limit
            if start:
                self._threads += 1
            self._ready.notify()
        if start:
            threading.Thread(target=self._serve, name=f"fhir-reader-{next(self._names)}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            with self._ready:
                self._waiting += 1
                while not self._work:
                    if not self._ready.wait(self._idle_s) and not self._work:
                        self._waiting -= 1
                        self._threads -= 1
                        return
                self._waiting -= 1
                task = self._work.popleft()
            task()
            del task  # nothing of a finished call is kept alive by an idle thread


def readers() -> Readers:
    """This process's readers, created on first use."""
    global _readers
    with _lock:
        if _readers is None or _readers[0] != os.getpid():
            _readers = (os.getpid(), Readers())
        return _readers[1]
