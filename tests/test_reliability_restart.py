"""Restart: kill -9 a gunicorn worker under load; the service keeps answering and loses no feedback.

``trd-cds serve`` (2 workers, SQLite store) takes hook calls and feedback from 6 client threads;
one worker is killed mid-run. Only requests on the connections that worker held may fail, within a
second of the kill; every feedback item the service acknowledged must be in the database afterwards.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import requests
from sqlalchemy import select

import fixtures
from benchmarks.server import product_command, running, worker_pids
from cds_service.store.sql import feedback, make_engine
from cds_service.protocol.services import SERVICES

pytestmark = pytest.mark.integration

CLIENTS = 6
LOAD_S = 6.0
KILL_AT_S = 2.0
SERVICE = next(s.id for s in SERVICES.values() if s.hook == "order-sign")
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
EPOCH = datetime(2026, 11, 20, tzinfo=timezone.utc)


def test_kill_9_of_a_worker_loses_no_acknowledged_feedback(tmp_path):
    database = f"sqlite:///{tmp_path / 'trd-cds.db'}"
    acknowledged: list[str] = []
    failures: list[float] = []
    numbers = count()
    with running(product_command, 2, "/healthz", {"TRD_CDS_DATABASE_URL": database}) as (base, master):
        started = time.monotonic()

        def client():
            with requests.Session() as session:
                while time.monotonic() - started < LOAD_S:
                    try:
                        _hook_call_and_feedback(session, base, next(numbers), acknowledged)
                    except (requests.RequestException, ValueError, AssertionError):  # reset, cut short, 5xx
                        failures.append(time.monotonic() - started)

        clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        time.sleep(KILL_AT_S)
        victim = worker_pids(master)[0]
        os.kill(victim, signal.SIGKILL)
        for thread in clients:
            thread.join()
        assert victim not in worker_pids(master) and len(worker_pids(master)) == 2
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

    assert len(failures) <= CLIENTS, failures  # at most one per connection the killed worker held
    assert all(KILL_AT_S <= when < KILL_AT_S + 1.0 for when in failures), failures
    assert len(acknowledged) > 20
    with make_engine(database).connect() as connection:
        stored = set(connection.scalars(select(feedback.c.user_comment)))
    assert set(acknowledged) <= stored


def _hook_call_and_feedback(session: requests.Session, base: str, number: int, acknowledged: list) -> None:
    """One hook call, then feedback overriding its first card; the feedback's comment once stored."""
    response = session.post(f"{base}/cds-services/{SERVICE}", json=REQUEST, timeout=10)
    assert response.status_code == 200, response.text
    card = response.json()["cards"][0]["uuid"]
    comment = f"restart-test-{number}"
    when = (EPOCH + timedelta(seconds=number)).isoformat().replace("+00:00", "Z")
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": when, "overrideReason": {"userComment": comment}}
    response = session.post(f"{base}/cds-services/{SERVICE}/feedback", json={"feedback": [item]}, timeout=10)
    assert response.status_code == 200 and response.json()["stored"] == 1, response.text
    acknowledged.append(comment)
