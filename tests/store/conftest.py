"""Store tests run on both backends: a SQLite file in tmp_path, and a real PostgreSQL server that
this test run starts itself (Debian's binaries under /usr/lib/postgresql/*/bin) and stops at the end.

Without those binaries the PostgreSQL cases are skipped, except in CI (``CI`` set), where they fail.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

import psycopg
import pytest

from cds_service.store.sql import open_store

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A throwaway cluster in a temporary directory, on 127.0.0.1 and a free port, trust auth."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="trd-cds-pg-"))  # not under pytest's 0700 root-only tree
        self.port = _free_port()
        self._names = count()
        # initdb refuses to run as root: run the server binaries as the postgres user instead
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, check: bool = True) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=60)
        if check and done.returncode:
            log = self.root / "server.log"
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr}{log.read_text() if log.exists() else ''}")

    def start(self) -> float:
        """Start the server; returns the seconds it took (initdb included)."""
        started = time.monotonic()
        self._run(str(self.bindir / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync")
        self.resume()
        return time.monotonic() - started

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"trd_cds_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def halt(self) -> None:
        """Stop the server, keeping its data (``start`` brings it back)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop", check=False)

    def resume(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=300"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "server.log"),
                  "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    bindir = postgres_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir)
    try:
        seconds = server.start()
        print(f"\nPostgreSQL {bindir.parent.name} started in {seconds:.2f}s on port {server.port}")
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/trd-cds.db"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def store(database_url):
    opened = open_store(database_url)
    yield opened
    opened.close()
