"""Two hosts behind a load balancer: two independent ``trd-cds serve`` masters on one real PostgreSQL.

Both share the public base URL (the balancer's) and the issuers file; each has its own gunicorn
master and workers. The database is empty when both start together.
"""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import requests
from sqlalchemy import func, select, text

import fixtures
from cds_service.cli import store as cli_store
from cds_service.store.sql import feedback, hook_calls, make_engine
from cds_service.protocol.services import SERVICES
from tests.served import Instance
from tests.signed_ehr import SignedEhr
from tests.store.test_store_faults import until

pytestmark = pytest.mark.integration

PUBLIC = "https://cds.example.org"  # the load balancer's URL: the JWT aud on both instances
SERVICE = next(s.id for s in SERVICES.values() if s.hook == "order-sign")
PATH = f"/cds-services/{SERVICE}"
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
EPOCH = datetime(2026, 11, 20, tzinfo=timezone.utc)
MIGRATED = "database schema migrated from (empty)"
WAIT_S = 60  # bound on waiting for the audit rows of answered calls (written within 50 ms when all is well)
_numbers = count()


class Cluster:
    def __init__(self, folder, database_url: str):
        self.folder, self.database_url = folder, database_url
        self.ehr = SignedEhr(folder)
        self.env = {"TRD_CDS_DATABASE_URL": database_url, "TRD_CDS_PUBLIC_BASE_URL": PUBLIC,
                    "TRD_CDS_ISSUERS_FILE": str(self.ehr.issuers_file), "TRD_CDS_LOG_LEVEL": "INFO"}
        self.answered: list[str] = []  # hookInstances of the hook calls answered with cards

    def start(self) -> Instance:
        return Instance(self.folder, self.env, "--workers", "2", "--threads", "2")

    def call(self, instance: Instance, session=requests) -> list[dict]:
        """One signed hook call with a new hookInstance; its cards."""
        body = {**REQUEST, "hookInstance": str(uuid.uuid4())}
        response = session.post(instance.base + PATH, json=body, headers=self.ehr.headers(PUBLIC + PATH), timeout=30)
        assert response.status_code == 200, response.text
        self.answered.append(body["hookInstance"])
        return response.json()["cards"]

    def audited(self) -> bool:
        """Every answered call's audit row is written (each waits for its batch in its worker)."""
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return set(self.answered) <= set(connection.scalars(select(hook_calls.c.hook_instance)))
        finally:
            engine.dispose()

    def send_feedback(self, instance: Instance, document: dict, session=requests) -> requests.Response:
        url = f"{PATH}/feedback"
        return session.post(instance.base + url, json=document, headers=self.ehr.headers(PUBLIC + url), timeout=30)

    def report(self) -> dict[str, int]:
        rows = [row for row in cli_store.feedback_report(make_engine(self.database_url)) if row["reason"] is None]
        return {"shown": sum(row["shown"] for row in rows), "overridden": sum(row["overridden"] for row in rows)}


def override(card: dict, comment: str = "") -> dict:
    """A feedback document overriding ``card`` at a moment of its own."""
    when = (EPOCH + timedelta(seconds=next(_numbers))).isoformat().replace("+00:00", "Z")
    return {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": when,
                          "overrideReason": {"userComment": comment}}]}


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory):
    """A cluster whose instances ``a`` and ``b`` were started at the same moment on an empty database."""
    found = Cluster(tmp_path_factory.mktemp("two-instances"), postgres_server.create_database())
    found.a, found.b = found.start(), found.start()  # both masters and their workers migrate at once
    try:
        found.a.wait_ready()
        found.b.wait_ready()
        yield found
    finally:
        found.a.stop()
        found.b.stop()


def test_migrations_ran_once_when_both_started_together(cluster):
    logs = cluster.a.log() + cluster.b.log()
    assert logs.count(MIGRATED) == 1, logs
    with make_engine(cluster.database_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_signed_calls_alternate_and_a_jwt_replayed_to_the_other_instance_is_refused(cluster):
    for instance in (cluster.a, cluster.b, cluster.a, cluster.b):
        assert cluster.call(instance)
    for first, other in ((cluster.a, cluster.b), (cluster.b, cluster.a)):
        headers = cluster.ehr.headers(PUBLIC + PATH)
        body = {**REQUEST, "hookInstance": str(uuid.uuid4())}
        assert requests.post(first.base + PATH, json=body, headers=headers, timeout=30).status_code == 200
        cluster.answered.append(body["hookInstance"])
        replayed = requests.post(other.base + PATH, json=body, headers=headers, timeout=30)
        assert replayed.status_code == 401
        assert replayed.json()["issue"][0]["expression"] == ["jwt.jti"]
    logs = cluster.a.log() + cluster.b.log()
    assert "jwt.jti" in logs and "Bearer ey" not in logs and headers["Authorization"][7:] not in logs


def test_feedback_posted_concurrently_to_both_is_stored_once_and_the_report_counts_both(cluster):
    assert until(cluster.audited, WAIT_S)
    before = cluster.report()
    shown = 0
    for number in range(8):
        cards = cluster.call((cluster.a, cluster.b)[number % 2])
        shown += len(cards)
        document = override(cards[0], f"concurrent-{number}")
        results = {}
        start = threading.Barrier(2)

        def post(instance):
            start.wait(timeout=30)
            results[instance.port] = cluster.send_feedback(instance, document)

        threads = [threading.Thread(target=post, args=(instance,)) for instance in (cluster.a, cluster.b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        answers = [response.json() for response in results.values()]
        assert all(response.status_code == 200 for response in results.values()), answers
        assert sorted((answer["stored"], answer["duplicates"]) for answer in answers) == [(0, 1), (1, 0)]
        with make_engine(cluster.database_url).connect() as connection:
            rows = connection.scalar(select(func.count()).where(feedback.c.card_uuid == cards[0]["uuid"]))
        assert rows == 1
    assert until(cluster.audited, WAIT_S)
    after = cluster.report()
    assert after["shown"] - before["shown"] == shown  # calls answered by a and by b
    assert after["overridden"] - before["overridden"] == 8


def test_killing_one_instance_loses_no_acknowledged_feedback(cluster):
    """A third instance joins, takes load beside ``a``, and its host dies (kill -9 of master and workers)."""
    doomed = cluster.start()
    acknowledged: list[str] = []
    failed_on_a: list[str] = []
    doomed_served = threading.Event()
    try:
        doomed.wait_ready()

        def client(number: int):
            with requests.Session() as session:
                for step in range(12):
                    instance = (doomed, cluster.a)[step % 2] if doomed.process.poll() is None else cluster.a
                    comment = f"kill-{number}-{step}"
                    try:
                        cards = cluster.call(instance, session)
                        response = cluster.send_feedback(instance, override(cards[0], comment), session)
                        if response.status_code == 200 and response.json()["stored"] == 1:
                            acknowledged.append(comment)
                            if instance is doomed:
                                doomed_served.set()
                        elif instance is cluster.a:
                            failed_on_a.append(response.text)
                    except (requests.RequestException, AssertionError) as error:
                        if instance is cluster.a:
                            failed_on_a.append(str(error))

        clients = [threading.Thread(target=client, args=(number,)) for number in range(4)]
        for thread in clients:
            thread.start()
        assert doomed_served.wait(timeout=60)
        doomed.kill()
        for thread in clients:
            thread.join(timeout=120)
    finally:
        doomed.stop()
    assert not failed_on_a
    assert len(acknowledged) >= 24  # a answered half of the steps at least
    with make_engine(cluster.database_url).connect() as connection:
        stored = set(connection.scalars(select(feedback.c.user_comment)))
    assert set(acknowledged) <= stored
    assert requests.get(f"{cluster.b.base}/readyz", timeout=30).status_code == 200
