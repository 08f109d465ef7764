"""JWT ``jti`` replay detection: the interface, and a per-process implementation.

A cache shared by all workers (e.g. a SQL table keyed on issuer and jti, with an expiry column)
implements the same ``seen`` method.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol


class ReplayCache(Protocol):
    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until ``expires_at`` (epoch seconds); True if it was already recorded."""


class MemoryReplayCache:
    """Replay cache of one process; expired entries are purged as new ones arrive."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            if now >= self._next_purge:
                self._expiry = {key: at for key, at in self._expiry.items() if at > now}
                self._next_purge = now + 60
            if self._expiry.get((issuer, jti), 0) > now:
                return True
            self._expiry[(issuer, jti)] = expires_at
            return False
