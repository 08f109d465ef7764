"""The batched audit writer (cds_service/store/audit.py) on a real store: a hook call only queues its
row; rows are written at most 64 per transaction, by the writer thread or an explicit flush; close
(shutdown) writes what is queued and names as LOST what the store refuses. Waits are on events or an
explicit flush(), never on the batch delay."""
from __future__ import annotations

import subprocess
import sys
import threading
import uuid

from sqlalchemy import event, func, select

from cds_service import create_app
from cds_service.store.audit import BATCH_ROWS, AuditLog
from cds_service.store.sql import cards, hook_calls, make_engine, open_store
from tests.store.records import FEEDBACK_PATH, SERVICE, audit, card_uuid, overridden
from tests.store.test_store_faults import fault, hook_call, short_lock_wait  # noqa: F401 (fixtures)

NEVER_DUE_S = 3600.0  # no batch is written for its delay within a test


def calls_and_cards(store) -> dict[str, set[str]]:
    """hookInstance → the uuids of its cards, as stored."""
    with store.engine.connect() as connection:
        rows = connection.execute(select(hook_calls.c.hook_instance, cards.c.uuid).join_from(cards, hook_calls))
        stored: dict[str, set[str]] = {}
        for instance, card in rows:
            stored.setdefault(instance, set()).add(card)
    return stored


class Commits:
    """Transactions committed on ``engine``, and how many rows each audit insert was given."""

    def __init__(self, engine):
        self.count, self.rows, self.first = 0, {"hook_call": [], "card": []}, threading.Event()
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "after_execute", self._executed)

    def _committed(self, _connection):
        self.count += 1
        self.first.set()

    def _executed(self, _connection, statement, multiparams, _params, _options, _result):
        table = getattr(statement, "table", None)
        if table is not None and table.name in self.rows:
            self.rows[table.name].append(len(multiparams))


def test_rows_are_written_64_per_transaction_each_card_with_its_own_call(store):
    rows = [audit(card_uuid(2 * n), card_uuid(2 * n + 1)) for n in range(2 * BATCH_ROWS + 22)]
    commits = Commits(store.engine)
    audits = AuditLog(store, delay_s=NEVER_DUE_S)
    for row in rows:
        audits.record(row)  # the writer thread takes each full batch; flush() writes the rest
    assert audits.flush()
    assert commits.count == 3  # one executemany per table in each
    assert commits.rows == {"hook_call": [BATCH_ROWS, BATCH_ROWS, 22], "card": [2 * BATCH_ROWS, 2 * BATCH_ROWS, 2 * 22]}
    assert calls_and_cards(store) == {row["hookInstance"]: {card["uuid"] for card in row["cards"]} for row in rows}
    assert (audits.queued, audits.pending, audits.lost, audits.failed_writes) == (0, 0, 0, 0)


def test_a_full_batch_is_written_at_once_and_a_lone_row_when_due(store):
    commits = Commits(store.engine)
    audits = AuditLog(store, delay_s=NEVER_DUE_S)
    for n in range(BATCH_ROWS):
        audits.record(audit(card_uuid(n)))
    assert commits.first.wait(timeout=60)  # the writer did not wait for the delay ("commit" is before it)
    assert audits.flush() and commits.count == 1 and len(calls_and_cards(store)) == BATCH_ROWS

    soon = AuditLog(store)  # the default delay: the writer writes the lone row on its own
    after_first, commits.first = commits.count, threading.Event()
    lone = audit(card_uuid(10_000))
    soon.record(lone)
    assert commits.first.wait(timeout=60)
    assert soon.flush() and commits.count == after_first + 1  # the flush found nothing left to write
    assert lone["hookInstance"] in calls_and_cards(store)


def test_a_hook_call_only_queues_its_row_and_readyz_stays_200_while_it_waits(tmp_path):
    url = f"sqlite:///{tmp_path / 'trd-cds.db'}"
    app = create_app({"auth": "off", "database_url": url, "audit_delay_s": NEVER_DUE_S})
    client, audits = app.test_client(), app.extensions["trd_cds"].audits
    instance, response = hook_call(client)
    assert response.status_code == 200
    store = app.extensions["trd_cds"].store
    assert calls_and_cards(store) == {} and audits.queued == 1 and audits.pending == 0
    assert client.get("/readyz").status_code == 200  # waiting for its batch is not a store fault
    card = response.get_json()["cards"][0]["uuid"]
    answer = client.post(FEEDBACK_PATH, json={"feedback": [overridden(card)]}).get_json()
    assert answer == {"stored": 1, "duplicates": 0, "unknownCards": 0}  # feedback wrote the queued row first
    assert instance in calls_and_cards(store) and audits.queued == 0


def test_close_writes_the_queued_rows(store):
    audits = AuditLog(store, delay_s=NEVER_DUE_S)
    rows = [audit(card_uuid(n)) for n in range(3)]
    for row in rows:
        audits.record(row)
    audits.close()
    assert set(calls_and_cards(store)) == {row["hookInstance"] for row in rows}
    assert (audits.queued, audits.lost) == (0, 0)


def test_close_during_a_store_fault_names_every_row_it_could_not_write(fault, short_lock_wait, caplog):
    url, hold = fault
    store = open_store(url)
    try:
        audits = AuditLog(store, delay_s=NEVER_DUE_S)
        rows = [audit(card_uuid(n)) for n in range(3)]
        for row in rows:
            audits.record(row)
        with hold():
            audits.close()
        assert (audits.queued, audits.pending, audits.lost) == (0, 0, 3)
        lost = [record.getMessage() for record in caplog.records if "LOST" in record.getMessage()]
        assert len(lost) == 3 and all(row["hookInstance"] in line for row, line in zip(rows, lost))
        assert all("the process stopped before the store took it" in line for line in lost)
        assert calls_and_cards(store) == {}
    finally:
        store.close()


def test_the_rows_of_a_process_that_exits_are_written_at_exit(tmp_path):
    """atexit (the dev server, the CLI, any process that ends normally) writes what is still queued."""
    url = f"sqlite:///{tmp_path / 'trd-cds.db'}"
    instance = str(uuid.uuid4())
    program = (
        "import fixtures\n"
        "from cds_service import create_app\n"
        f"app = create_app({{'auth': 'off', 'database_url': {url!r}, 'audit_delay_s': {NEVER_DUE_S}}})\n"
        f"body = {{**fixtures.load_request('met-two-classes', 'order-sign'), 'hookInstance': {instance!r}}}\n"
        f"assert app.test_client().post('/cds-services/{SERVICE}', json=body).status_code == 200\n"
        "assert app.extensions['trd_cds'].audits.queued == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOST" not in done.stderr
    with make_engine(url).connect() as connection:
        assert connection.scalar(select(func.count()).where(hook_calls.c.hook_instance == instance)) == 1
