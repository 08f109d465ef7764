"""What the benchmarks share: the in-process WSGI app, hook calls timed as a server makes them, the JSON floor,
the machine line."""
from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from wsgiref.util import FileWrapper

import gunicorn

from cds_service import create_app
from cds_service.heap import tune_garbage_collection

ORDER_SIGN = "/cds-services/ketamine-esketamine-order-sign"
# The 20,000-resource request is ~22 MB, above the 5 MiB production default.
BENCH_CONFIG = {"auth": "off", "max_body_bytes": 256 * 1024 * 1024, "log_level": "WARNING"}


@contextlib.contextmanager
def bench_app(**overrides):
    """The WSGI app as a worker runs it (cds_service/wsgi.py: garbage collection tuned), with its SQLite
    store (audit on) in a temporary directory, never the repo."""
    with tempfile.TemporaryDirectory(prefix="trd-cds-bench-") as workdir:
        config = {**BENCH_CONFIG, "database_url": f"sqlite:///{workdir}/trd-cds.db", **overrides}
        app = create_app(config)
        tune_garbage_collection()
        try:
            yield app
        finally:
            app.extensions["trd_cds"].audits.close()  # its queued audit rows, before their directory goes


def wsgi_environ(body: bytes, path: str = ORDER_SIGN) -> dict:
    """The environ a ``trd-cds serve`` worker (gunicorn gthread) builds for wrk's POST of ``body`` (as in
    benchmarks.load), with the body read whole into a fresh BytesIO as cds_service/cli/worker.py reads it.
    Only gunicorn.socket and wsgi.early_hints are left out: they need a socket, and the app uses neither."""
    return {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "RAW_URI": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
        "SERVER_SOFTWARE": f"gunicorn/{gunicorn.__version__}", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8080", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }


def post_hook(app, body: bytes, path: str = ORDER_SIGN) -> float:
    """Seconds for one hook call, the WSGI app called as a server calls it (its answer iterated and
    closed); fails loudly unless it answers 200 with cards."""
    environ, status, written = wsgi_environ(body, path), [], []

    def start_response(line, headers, exc_info=None):
        status.append(line)
        return written.append

    started = time.perf_counter()
    chunks = app(environ, start_response)
    try:
        written.extend(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    elapsed = time.perf_counter() - started
    response = b"".join(written)
    if not status[-1].startswith("200 ") or not json.loads(response)["cards"]:
        raise SystemExit(f"benchmark request failed: {status[-1]} {response[:500]!r}")
    return elapsed


def timed_call(app, body: bytes) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one hook call."""
    cpu_started = time.process_time()
    elapsed = post_hook(app, body)
    return elapsed, time.process_time() - cpu_started


def json_floor(body: bytes) -> float:
    """Seconds for stdlib ``json.loads`` of the body: the floor every figure is a ratio to."""
    started = time.perf_counter()
    json.loads(body)
    return time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def machine() -> str:
    """One line naming the machine, date and load, for the README's figures."""
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    return (f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores ({model}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"load average {os.getloadavg()[0]:.1f}")


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return info.readlines()
    except OSError:
        return []
