"""Start a server (gunicorn, or uvicorn for the HealthChain peer) on 127.0.0.1 for a benchmark, wait until it
answers, stop it by its PID."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from cds_service.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90  # a bound on a loaded machine, not a speed check
_SERVE = build_parser().parse_args(["serve"])
WORKERS, THREADS = _SERVE.workers, _SERVE.threads  # trd-cds serve's defaults (or TRD_CDS_WORKERS / _THREADS)
HEALTHCHAIN_VENV = Path(os.environ.get("TRD_CDS_HEALTHCHAIN_VENV", REPO / ".venv-healthchain"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def product_command(bind: str, workers: int) -> list[str]:
    """``trd-cds serve`` in development mode (auth off)."""
    return [sys.executable, "-m", "cds_service.cli", "serve", "--dev", "--bind", bind,
            "--workers", str(workers), "--threads", str(THREADS)]


def baseline_command(bind: str, workers: int, app: str = "benchmarks.baseline_app:app") -> list[str]:
    """A floor app of benchmarks.baseline_app under the gunicorn flags that ``cds_service.cli serve`` passes."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(THREADS),
            "--worker-class", "gthread", "--timeout", "30", "--graceful-timeout", "10",
            "--max-requests", "5000", "--max-requests-jitter", "500", "--access-logfile", "-", app]


def flask_floor_command(bind: str, workers: int) -> list[str]:
    return baseline_command(bind, workers, "benchmarks.baseline_app:flask_app")


def healthchain_command(bind: str, workers: int) -> list[str]:
    """benchmarks.healthchain_app under uvicorn from HealthChain's venv, as ``healthchain serve`` runs an
    app (``python -m uvicorn APP --host --port``), with ``workers`` processes."""
    host, port = bind.rsplit(":", 1)
    return [str(HEALTHCHAIN_VENV / "bin" / "python"), "-m", "uvicorn", "benchmarks.healthchain_app:app",
            "--host", host, "--port", port, "--workers", str(workers)]


@contextlib.contextmanager
def running(command_for, workers: int, ready_path: str, env: dict[str, str] | None = None):
    """Yield (base URL, server master Popen) of ``command_for(bind, workers)``; stop it afterwards.

    The store is SQLite in a temporary directory unless ``env`` names one: nothing is written into the repo.
    """
    port = free_port()
    bind = f"127.0.0.1:{port}"
    base = f"http://{bind}"
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory(prefix="trd-cds-bench-") as workdir:
        env = {**os.environ, "TRD_CDS_LOG_LEVEL": "WARNING",
               "TRD_CDS_DATABASE_URL": f"sqlite:///{workdir}/trd-cds.db", **(env or {})}
        process = subprocess.Popen(command_for(bind, workers), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   env=env)
        try:
            wait_until_ready(base + ready_path, process, log)
            yield base, process
        finally:
            stop(process)


def stop(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM (gunicorn's and uvicorn's graceful stop), then SIGKILL if it has not ended within ``timeout_s``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def worker_pids(master: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set size) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def cpu_seconds(master: subprocess.Popen) -> float:
    """CPU time (user + system) of the server master, its live children (workers) and those it reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in [master.pid, *worker_pids(master)]:
        with contextlib.suppress(OSError):  # a worker that exited just now is counted in the master's reaped time
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime are fields 14-17 of proc(5); fields[0] here is field 3
            total += sum(int(value) for value in fields[11:15]) / ticks
    return total


def wait_until_ready(url: str, process: subprocess.Popen, log) -> None:
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read()[-2000:].decode()}")
        with contextlib.suppress(requests.RequestException):  # refused, reset, timed out, 5xx while starting
            if requests.get(url, timeout=1).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {START_TIMEOUT_S} s")
