"""Test helper: ``trd-cds serve`` as a separate process (its own gunicorn master), stopped by its PID."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from benchmarks.server import REPO, free_port, wait_until_ready, worker_pids


class Instance:
    """``trd-cds serve --bind 127.0.0.1:<free port> *args`` with ``env``; output in ``log_path``."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"serve-{self.port}.log"
        self._log = self.log_path.open("w+b")
        command = [sys.executable, "-m", "cds_service.cli", "serve", "--bind", f"127.0.0.1:{self.port}", *args]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **env})

    def wait_ready(self) -> None:
        wait_until_ready(f"{self.base}/healthz", self.process, self._log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 of the master and its workers at once, as when the host dies."""
        victims = [self.process.pid, *worker_pids(self.process)]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        found = re.search(r"metrics files in (\S+)", self.log())  # a killed master cannot remove its own
        if found:
            shutil.rmtree(found.group(1), ignore_errors=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
