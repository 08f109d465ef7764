"""Shutdown of ``trd-cds serve`` with audit rows still waiting for their batch.

The batch delay is set beyond the test (``TRD_CDS_AUDIT_DELAY_S``) and fewer calls are made than
fill a batch, so every acknowledged call's audit row is still in its worker's memory when the
server is stopped. SIGTERM (gunicorn's graceful stop): every row is in the database afterwards. A
kill -9: the rows are gone and nothing names them, exactly as the README's caveat says.
"""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

import fixtures
from cds_service.store.sql import hook_calls, make_engine
from tests.served import Instance
from tests.test_readme import README

pytestmark = pytest.mark.integration

SERVICE = "ketamine-esketamine-order-sign"
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
CALLS, CLIENTS = 24, 4  # fewer than a batch (64) per worker: only the delay or a shutdown writes them


@pytest.fixture
def served(tmp_path):
    """(a ``trd-cds serve`` with 2 workers and a SQLite store, the store's URL); stopped afterwards."""
    database = f"sqlite:///{tmp_path / 'trd-cds.db'}"
    instance = Instance(tmp_path, {"TRD_CDS_AUTH": "off", "TRD_CDS_DATABASE_URL": database,
                                   "TRD_CDS_AUDIT_DELAY_S": "3600"}, "--workers", "2", "--threads", "2")
    try:
        instance.wait_ready()
        yield instance, database
    finally:
        instance.stop()


def acknowledged_calls(instance: Instance, database: str) -> set[str]:
    """The hookInstances of CALLS answered hook calls, none of whose audit rows is written yet."""

    def call(_number: int) -> str:
        body = {**REQUEST, "hookInstance": str(uuid.uuid4())}
        with requests.Session() as session:  # a connection of its own: the calls spread over both workers
            response = session.post(f"{instance.base}/cds-services/{SERVICE}", json=body, timeout=60)
        assert response.status_code == 200 and response.json()["cards"], response.text
        return body["hookInstance"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        acknowledged = set(pool.map(call, range(CALLS)))
    assert len(acknowledged) == CALLS and stored(database) == set()
    return acknowledged


def stored(database: str) -> set[str]:
    with make_engine(database).connect() as connection:
        return set(connection.scalars(select(hook_calls.c.hook_instance)))


def test_sigterm_writes_every_acknowledged_calls_audit_row(served):
    instance, database = served
    acknowledged = acknowledged_calls(instance, database)
    instance.stop()
    assert instance.process.returncode == 0
    assert stored(database) == acknowledged
    assert "LOST" not in instance.log()


def test_kill_9_loses_the_waiting_rows_unlogged_as_the_readme_says(served):
    instance, database = served
    acknowledged_calls(instance, database)
    instance.kill()
    assert stored(database) == set()
    assert "LOST" not in instance.log()
    store_section = README.split("\n## Feedback and audit store\n")[1].split("\n## ")[0]
    assert re.search(r"A `kill -9` [^.]*loses, unlogged, the audit rows it still holds: those of its last "
                     r"`TRD_CDS_AUDIT_DELAY_S` of calls", " ".join(store_section.split()))
