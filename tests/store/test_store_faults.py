"""Store faults: decision support goes on while the feedback/audit store cannot be written.

SQLite locked by another process or made immutable (``chattr +i``), PostgreSQL stopped and
restarted. While the fault lasts: hook calls answer their cards (the batch of audit rows that
cannot be written is kept and retried, each row logged on ``trd_cds.audit`` with its hookInstance),
feedback is a 503 OperationOutcome with Retry-After, /readyz is 503. When it clears, everything
recovers by itself and no row is lost. Tests wait for a batch with ``AuditLog.flush()``.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import select

import fixtures
from cds_service import create_app
from cds_service.errors import StoreUnavailable
from cds_service.store import sql
from cds_service.store.audit import AuditLog
from cds_service.store.sql import hook_calls, make_engine
from tests.store.records import FEEDBACK_PATH, SERVICE, overridden

REQUEST = fixtures.load_request("met-two-classes", "order-sign")  # answers with cards
HOLD_LOCK = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
             "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()")
RECOVERY_S = 15  # generous: the retry runs every second


@contextlib.contextmanager
def sqlite_locked(path):
    """Another process holds SQLite's exclusive lock until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


@contextlib.contextmanager
def sqlite_immutable(path):
    """The database and its WAL made immutable (``chattr +i``): even files already open take no write."""
    files = [str(path), f"{path}-wal"]  # not -shm: it is mapped in memory (SIGBUS)
    if subprocess.run(["chattr", "+i", *files], capture_output=True).returncode:
        subprocess.run(["chattr", "-i", *files], capture_output=True)
        pytest.skip("chattr +i is not available here (needs root and an ext4/xfs-like file system)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)


@contextlib.contextmanager
def postgres_stopped(server):
    server.halt()
    try:
        yield
    finally:
        server.resume()


@pytest.fixture(params=["sqlite-locked", "sqlite-immutable",
                        pytest.param("postgresql-stopped", marks=pytest.mark.integration)])
def fault(request, tmp_path):
    """(database URL, a context manager that holds the fault)."""
    if request.param.startswith("sqlite"):
        path = tmp_path / "trd-cds.db"
        hold = sqlite_locked if request.param == "sqlite-locked" else sqlite_immutable
        return f"sqlite:///{path}", lambda: hold(path)
    server = request.getfixturevalue("postgres_server")
    return server.create_database(), lambda: postgres_stopped(server)


@pytest.fixture
def short_lock_wait(monkeypatch):
    monkeypatch.setattr(sql, "REQUEST_BUSY_TIMEOUT_MS", 300)


def hook_call(client) -> tuple[str, object]:
    request = {**REQUEST, "hookInstance": str(uuid.uuid4())}
    return request["hookInstance"], client.post(f"/cds-services/{SERVICE}", json=request)


def until(condition, within_s: float) -> bool:
    end = time.monotonic() + within_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.1)
    return condition()


def test_hook_calls_answer_and_feedback_is_503_while_the_store_fails(fault, short_lock_wait, caplog):
    url, hold = fault
    app = create_app({"auth": "off", "database_url": url})
    client, audits = app.test_client(), app.extensions["trd_cds"].audits
    _, before = hook_call(client)
    assert audits.flush()
    card = before.get_json()["cards"][0]["uuid"]
    with hold():
        assert client.get("/readyz").status_code == 503
        during = [hook_call(client) for _ in range(3)]
        assert [response.status_code for _, response in during] == [200] * 3
        assert all(response.get_json()["cards"] for _, response in during)
        assert audits.queued == 3  # answered without their audit rows being written
        assert not audits.flush()  # the batch cannot be written: its rows are kept
        assert audits.pending == 3 and audits.lost == 0
        for instance, _ in during:
            assert instance in caplog.text and "trd_cds.audit" in {r.name for r in caplog.records}
        refused = client.post(FEEDBACK_PATH, json={"feedback": [overridden(card)]})
        assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
        assert refused.get_json()["resourceType"] == "OperationOutcome"
        assert client.get("/readyz").status_code == 503

    assert until(lambda: client.get("/readyz").status_code == 200, RECOVERY_S)
    assert audits.pending == 0 and audits.lost == 0
    with make_engine(url).connect() as connection:
        stored = set(connection.scalars(select(hook_calls.c.hook_instance)))
    assert {instance for instance, _ in during} <= stored
    stored_feedback = client.post(FEEDBACK_PATH, json={"feedback": [overridden(card)]}).get_json()
    assert stored_feedback == {"stored": 1, "duplicates": 0, "unknownCards": 0}


@pytest.mark.integration
def test_a_postgresql_restart_between_calls_is_not_noticed(postgres_server):
    """Pooled connections die with the server; the next call gets a fresh one (pool pre-ping)."""
    app = create_app({"auth": "off", "database_url": postgres_server.create_database()})
    client, audits = app.test_client(), app.extensions["trd_cds"].audits
    _, first = hook_call(client)
    assert audits.flush()  # its batch is written before the restart
    postgres_server.halt()
    postgres_server.resume()
    _, second = hook_call(client)
    assert second.status_code == 200 and audits.flush() and audits.pending == 0
    card = first.get_json()["cards"][0]["uuid"]
    assert client.post(FEEDBACK_PATH, json={"feedback": [overridden(card)]}).get_json()["stored"] == 1
    assert client.get("/readyz").status_code == 200


def test_a_full_backlog_says_exactly_which_rows_were_lost_and_the_rest_are_written_later(caplog):
    class Flaky:
        def __init__(self):
            self.down, self.written = True, []

        def record_audit(self, *audits):
            if self.down:
                raise StoreUnavailable("down")
            self.written.extend(audit["hookInstance"] for audit in audits)

    store = Flaky()
    audits = AuditLog(store, delay_s=3600, backlog=2, retry_s=0.05)
    for n in range(3):
        audits.record({"hookInstance": f"h{n}", "patientId": "p1", "cards": [{"uuid": f"c{n}"}]})
    assert audits.lost == 1 and audits.queued == 2
    assert not audits.flush()
    assert audits.pending == 2 and audits.failed_writes >= 1
    lost = [record.getMessage() for record in caplog.records if "LOST" in record.getMessage()]
    assert len(lost) == 1 and "h0" in lost[0] and "c0" in lost[0]
    store.down = False
    assert until(lambda: audits.pending == 0, 5.0)
    assert store.written == ["h1", "h2"]
