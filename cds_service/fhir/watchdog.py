"""Response headers bounded by the hook call's deadline, not only each receive.

requests' read timeout bounds one receive: a FHIR server sending its status line and headers a
byte at a time would hold the reading thread long past the deadline. ``DeadlineAdapter`` arms a
per-process watchdog around ``getresponse`` for requests made inside ``deadline_of(deadline)``; at
the deadline the watchdog shuts the socket down, the read ends at once and the connection is
discarded. (The body is bounded by FhirClient._read itself.) One daemon thread per process sleeps
until the earliest armed deadline.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

LATE_S = 0.005  # a socket may be shut down this long after its deadline rather than wake the thread again
_current = threading.local()  # .deadline of the FHIR request this thread is making


@contextlib.contextmanager
def deadline_of(deadline):
    """Requests made in this block, in this thread, have their headers bounded by ``deadline``."""
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = None


class Watchdog:
    """Shuts down armed sockets whose deadline passes (monotonic clock)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._armed: dict[int, tuple[float, socket.socket]] = {}
        self._tokens = itertools.count()
        self._thread: tuple[int, threading.Thread] | None = None
        self._wakes_at = 0.0  # when the thread next looks (it sleeps until then)

    def arm(self, sock: socket.socket, seconds: float) -> int:
        with self._changed:
            token = next(self._tokens)
            at = time.monotonic() + seconds
            self._armed[token] = (at, sock)
            if self._thread is None or self._thread[0] != os.getpid() or not self._thread[1].is_alive():
                thread = threading.Thread(target=self._watch, name="deadline-watchdog", daemon=True)
                self._thread = (os.getpid(), thread)
                thread.start()
            elif at < self._wakes_at - LATE_S:  # the reads of one call share a deadline: the first wakes it
                self._changed.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._changed:
            self._armed.pop(token, None)

    def _watch(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for token, (at, sock) in list(self._armed.items()):
                    if at <= now:
                        del self._armed[token]
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                self._wakes_at = min((at for at, _ in self._armed.values()), default=now + 60)
                self._changed.wait(self._wakes_at - now)


_watchdog = Watchdog()


class _Guarded:
    def getresponse(self, *args, **kwargs):
        deadline = getattr(_current, "deadline", None)
        token = _watchdog.arm(self.sock, deadline.remaining()) if deadline and self.sock else None
        try:
            return super().getresponse(*args, **kwargs)
        finally:
            if token is not None:
                _watchdog.disarm(token)


class _Connection(_Guarded, HTTPConnection):
    pass


class _TLSConnection(_Guarded, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (not through a proxy) honour ``deadline_of``."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
