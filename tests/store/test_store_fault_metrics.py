"""Store faults seen in /metrics: audit rows pending, lost and failed writes, feedback 503s and store
errors, while a real SQLite store is locked by another process."""
from __future__ import annotations

from cds_service import create_app
from cds_service.store.audit import AuditLog
from cds_service.store.sql import open_store
from tests.store.records import FEEDBACK_PATH, SERVICE, overridden
from tests.store.test_store_faults import REQUEST, sqlite_locked
from tests.test_ops_metrics import grew, scrape


def test_audit_rows_pending_and_failed_writes_while_the_store_is_locked(tmp_path):
    path = tmp_path / "trd-cds.db"
    app = create_app({"auth": "off", "database_url": f"sqlite:///{path}"})
    client = app.test_client()
    audits = app.extensions["trd_cds"].audits
    before = scrape(client)
    with sqlite_locked(path):
        assert client.post(f"/cds-services/{SERVICE}", json=REQUEST).status_code == 200
        assert not audits.flush()  # its audit row is kept
        assert client.post(FEEDBACK_PATH, json={"feedback": [overridden("7d1e6a2c-0000-4000-8000-00000000fa17")]}).status_code == 503
        during = scrape(client)
    assert grew(before, during, "trd_cds_audit_rows_pending") == 1
    assert grew(before, during, "trd_cds_audit_write_failures_total") >= 1
    assert grew(before, during, "trd_cds_store_errors_total", operation="record_feedback") == 1
    assert grew(before, during, "trd_cds_feedback_calls_total", service=SERVICE, outcome="5xx") == 1
    assert audits.flush()  # the lock is gone: the kept row is written
    after = scrape(client)
    assert grew(before, after, "trd_cds_audit_rows_pending") == 0
    assert grew(before, after, "trd_cds_audit_rows_lost_total") == 0


def test_a_row_dropped_from_a_full_backlog_is_counted_as_lost(tmp_path):
    path = tmp_path / "trd-cds.db"
    store = open_store(f"sqlite:///{path}")
    app = create_app({"auth": "off", "database_url": "memory://"})
    client = app.test_client()
    audits = AuditLog(store, delay_s=3600, backlog=1)
    row = {"hookInstance": "h", "service": SERVICE, "hook": "order-sign", "time": "2026-11-20T10:00:00Z",
           "patientId": "p", "userId": "u", "policyVersion": "v",
           "cards": [{"uuid": "7d1e6a2c-0000-4000-8000-00000000fa18", "topic": "dose-check", "indicator": "info"}]}
    before = scrape(client)
    try:
        with sqlite_locked(path):
            audits.record({**row, "hookInstance": "first"})
            audits.record({**row, "hookInstance": "second",
                           "cards": [{**row["cards"][0], "uuid": "7d1e6a2c-0000-4000-8000-00000000fa19"}]})  # the backlog holds one: the first is lost
            assert not audits.flush()  # the second is kept
            during = scrape(client)
        assert audits.flush()
    finally:
        store.close()
    assert audits.lost == 1
    assert grew(before, during, "trd_cds_audit_rows_lost_total") == 1
    assert grew(before, during, "trd_cds_audit_rows_pending") == 1
