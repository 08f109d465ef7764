"""``trd-cds report`` numbers from known rows (both backends), its formats, and ``trd-cds purge``."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from cds_service.cli import main
from cds_service.cli.store import COLUMNS, feedback_report
from cds_service.store.sql import SQLReplayCache, cards, feedback, hook_calls, replays
from tests.store.records import SERVICE, accepted, audit, card_uuid, overridden

SELECT = "ketamine-esketamine-order-select"
WEEK_10, WEEK_11, WEEK_9 = "2026-03-02T09:00:00+00:00", "2026-03-09T09:00:00+00:00", "2026-02-27T09:00:00+00:00"
C1, C2, C3, C4, B1, B2, D1, E1, OLD, UNKNOWN = (card_uuid(n) for n in range(1, 11))


def topic_row(service, week, topic, shown, accepted_, overridden_):
    return {"service": service, "week": week, "topic": topic, "reason": None, "shown": shown,
            "accepted": accepted_, "overridden": overridden_, "acceptance_rate": round(accepted_ / shown, 4),
            "override_rate": round(overridden_ / shown, 4)}


def reason_row(service, week, topic, reason, shown, overridden_):
    return {"service": service, "week": week, "topic": topic, "reason": reason, "shown": shown, "accepted": None,
            "overridden": overridden_, "acceptance_rate": None, "override_rate": round(overridden_ / shown, 4)}


EXPECTED = [  # sorted by service, week, topic, reason
    topic_row(SELECT, "2026-W10", "contraindication", 1, 0, 0),
    topic_row(SERVICE, "2026-W10", "blood-pressure", 2, 0, 1),
    reason_row(SERVICE, "2026-W10", "blood-pressure", "bp-rechecked", 2, 1),
    topic_row(SERVICE, "2026-W10", "contraindication", 4, 1, 2),
    reason_row(SERVICE, "2026-W10", "contraindication", "(none)", 4, 1),
    reason_row(SERVICE, "2026-W10", "contraindication", "specialist-cleared", 4, 1),
    topic_row(SERVICE, "2026-W11", "contraindication", 1, 1, 0),
]
OLD_ROW = topic_row(SERVICE, "2026-W09", "contraindication", 1, 0, 1)
OLD_REASON_ROW = reason_row(SERVICE, "2026-W09", "contraindication", "specialist-cleared", 1, 1)


@pytest.fixture
def reported(store):
    """Known cards and feedback; the store's URL is ``store.engine.url``."""
    store.record_audit(audit(C1, C2, C3, C4, time=WEEK_10))
    store.record_audit(audit(B1, B2, topic="blood-pressure", time=WEEK_10))
    store.record_audit(audit(D1, time=WEEK_11))
    store.record_audit(audit(E1, time=WEEK_10, service=SELECT))
    store.record_audit(audit(OLD, time=WEEK_9))
    store.record_feedback(SERVICE, [
        accepted(C1), accepted(C1, at="2026-03-02T09:07:00Z"),  # repeated feedback counts the card once
        overridden(C2, code="specialist-cleared"), overridden(C3),
        overridden(C3, at="2026-03-02T09:08:00Z"),  # same card, same (missing) reason: counted once
        overridden(B1, code="bp-rechecked"), accepted(D1), overridden(OLD, code="specialist-cleared"),
        accepted(UNKNOWN),  # no card of ours: not in the report
    ], None)
    return store


def run(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_report_rates_per_service_week_topic_and_reason(reported):
    assert feedback_report(reported.engine, since=date(2026, 3, 1)) == EXPECTED
    everything = feedback_report(reported.engine)
    assert everything == EXPECTED[:1] + [OLD_ROW, OLD_REASON_ROW] + EXPECTED[1:]


def test_report_formats(reported, capsys):
    url = reported.engine.url.render_as_string(hide_password=False)
    since = ("--since", "2026-03-01", "--database-url", url)
    assert json.loads(run(capsys, "report", "--format", "json", *since)) == EXPECTED
    lines = list(csv.DictReader(io.StringIO(run(capsys, "report", "--format", "csv", *since))))
    assert tuple(lines[0]) == COLUMNS
    assert lines[4] == {"service": SERVICE, "week": "2026-W10", "topic": "contraindication", "reason": "(none)",
                        "shown": "4", "accepted": "", "overridden": "1", "acceptance_rate": "",
                        "override_rate": "0.25"}
    table = run(capsys, "report", *since).splitlines()
    assert table[0].split() == list(COLUMNS) and len(table) == 1 + len(EXPECTED)
    assert table[4].split() == [SERVICE, "2026-W10", "contraindication", "4", "1", "2", "25.0%", "50.0%"]


def test_purge_deletes_old_rows_and_expired_replay_entries(reported, capsys):
    now = datetime.now(timezone.utc)
    with reported.engine.begin() as connection:  # the audit rows are from 2026; make half of them recent
        connection.execute(update(hook_calls).where(hook_calls.c.called_at >= datetime(2026, 3, 9, tzinfo=timezone.utc))
                           .values(called_at=now))
        connection.execute(update(hook_calls).where(hook_calls.c.service_id == SELECT).values(called_at=now))
        connection.execute(update(feedback).where(feedback.c.outcome == "overridden")
                           .values(received_at=now - timedelta(days=31)))
    replay = SQLReplayCache(reported.engine)
    replay.seen("https://ehr.example.org", "expired", expires_at=now.timestamp() - 1)
    replay.seen("https://ehr.example.org", "live", expires_at=now.timestamp() + 300)

    output = run(capsys, "purge", "--older-than", "30", "--database-url",
                 reported.engine.url.render_as_string(hide_password=False))
    assert output.splitlines() == ["feedback: 5 rows deleted", "card: 7 rows deleted",
                                   "hook_call: 3 rows deleted", "jwt_replay: 1 rows deleted"]
    with reported.engine.connect() as connection:
        remaining = {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (hook_calls, cards, feedback, replays)}
    assert remaining == {"hook_call": 2, "card": 2, "feedback": 4, "jwt_replay": 1}


def test_report_refuses_the_memory_store(capsys):
    with pytest.raises(SystemExit, match="memory://"):
        main(["report", "--database-url", "memory://"])
