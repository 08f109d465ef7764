"""Restart: kill -9 a gunicorn worker under load; the service keeps answering and loses no feedback.

``trd-cds serve`` (2 workers, SQLite store) takes hook calls and feedback from 6 client threads;
one worker is killed mid-run. Only requests on the connections that worker held may fail, after the
kill; every feedback item the service acknowledged must be in the database afterwards.
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
ACKS = 10  # feedback items acknowledged before the kill, and again after it
WAIT_S = 120.0  # bound on each wait for them (a loaded machine is slow, never this slow)
SERVICE = next(s.id for s in SERVICES.values() if s.hook == "order-sign")
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
EPOCH = datetime(2026, 11, 20, tzinfo=timezone.utc)


def test_kill_9_of_a_worker_loses_no_acknowledged_feedback(tmp_path):
    """Ordering, not durations: failures happen only after the kill, at most one per client
    connection; the service goes on acknowledging feedback; every acknowledged item is stored."""
    database = f"sqlite:///{tmp_path / 'trd-cds.db'}"
    acknowledged: list[str] = []
    failures: dict[int, list[int]] = {client: [] for client in range(CLIENTS)}  # event numbers
    events, numbers, stop = count(), count(), threading.Event()
    with running(product_command, 2, "/healthz", {"TRD_CDS_DATABASE_URL": database}) as (base, master):

        def client(number: int):
            with requests.Session() as session:
                while not stop.is_set():
                    try:
                        _hook_call_and_feedback(session, base, next(numbers), acknowledged)
                    except (requests.RequestException, ValueError, AssertionError):  # reset, cut short, 5xx
                        failures[number].append(next(events))

        clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in clients:
            thread.start()
        try:
            assert _until(lambda: len(acknowledged) >= ACKS), "no feedback acknowledged before the kill"
            victim = worker_pids(master)[0]
            killed_at = next(events)
            os.kill(victim, signal.SIGKILL)
            before = len(acknowledged)
            assert _until(lambda: len(acknowledged) >= before + ACKS), "the service stopped acknowledging"
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        assert victim not in worker_pids(master) and len(worker_pids(master)) == 2
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

    assert all(len(failed) <= 1 for failed in failures.values()), failures  # the connection the worker held
    assert all(event > killed_at for failed in failures.values() for event in failed), (killed_at, failures)
    with make_engine(database).connect() as connection:
        stored = set(connection.scalars(select(feedback.c.user_comment)))
    assert set(acknowledged) <= stored


def _until(condition, timeout_s: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


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
