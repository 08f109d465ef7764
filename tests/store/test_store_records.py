"""SQLStore on SQLite and PostgreSQL: audit and feedback rows, idempotency, unknown cards, ping."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import inspect, select

from cds_service.store.sql import SQLStore, cards, feedback, hook_calls
from cds_service.store.memory import FeedbackResult
from tests.store.records import REASON_SYSTEM, SERVICE, accepted, audit, card_uuid, overridden

CARD, OTHER = card_uuid(1), card_uuid(2)


def rows(store: SQLStore, table) -> list[dict]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def test_store_is_sql_and_answers_ping(store):
    assert isinstance(store, SQLStore)
    assert store.ping() is True


def test_audit_and_feedback_round_trip(store):
    store.record_audit(audit(CARD, OTHER, topic="blood-pressure"))
    before = datetime.now(timezone.utc)
    result = store.record_feedback(SERVICE, [accepted(CARD, suggestions=("s-1", "s-2"))], "https://ehr.example.org")
    after = datetime.now(timezone.utc)
    assert result == FeedbackResult(stored=1, duplicates=0, unknown_cards=0)

    [call] = rows(store, hook_calls)
    assert call["service_id"] == SERVICE and call["hook"] == "order-sign"
    assert (call["patient_id"], call["user_id"], call["policy_version"]) == (
        "trd-cds-patient-1", "Practitioner/dr-1", "2026.1")
    assert call["called_at"] == datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    assert sorted((card["uuid"], card["topic"], card["indicator"], card["call_id"]) for card in rows(store, cards)) == [
        (CARD, "blood-pressure", "warning", call["id"]), (OTHER, "blood-pressure", "warning", call["id"])]
    [row] = rows(store, feedback)
    assert row["card_uuid"] == CARD and row["outcome"] == "accepted" and row["service_id"] == SERVICE
    assert row["accepted_suggestions"] == ["s-1", "s-2"]
    assert row["outcome_at"] == datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc)
    assert row["issuer"] == "https://ehr.example.org" and row["unknown_card"] is False
    assert before <= row["received_at"] <= after


def test_only_identifiers_are_stored(store):
    columns = {table: {column["name"] for column in inspect(store.engine).get_columns(table)}
               for table in ("hook_call", "card", "feedback")}
    assert columns["hook_call"] == {"id", "hook_instance", "service_id", "hook", "called_at", "patient_id",
                                    "user_id", "policy_version"}
    assert columns["card"] == {"uuid", "call_id", "topic", "indicator"}
    assert not any("token" in name or "name" in name or "detail" in name or "summary" in name
                   for names in columns.values() for name in names)


def test_override_reason_and_comment_stored(store):
    store.record_audit(audit(CARD))
    store.record_feedback(SERVICE, [overridden(CARD, code="specialist-cleared", comment="seen by psychiatry")], None)
    [row] = rows(store, feedback)
    assert (row["reason_system"], row["reason_code"], row["reason_display"], row["user_comment"]) == (
        REASON_SYSTEM, "specialist-cleared", "specialist cleared", "seen by psychiatry")
    assert row["accepted_suggestions"] == [] and row["issuer"] is None


def test_feedback_is_idempotent_on_card_outcome_and_time(store):
    store.record_audit(audit(CARD))
    item = accepted(CARD, at="2026-03-02T10:00:00Z")
    same_instant = accepted(CARD, at="2026-03-02T11:00:00+01:00")
    assert store.record_feedback(SERVICE, [item, item], None) == FeedbackResult(1, 1, 0)
    assert store.record_feedback(SERVICE, [same_instant], None) == FeedbackResult(0, 1, 0)
    later, other_outcome = accepted(CARD, at="2026-03-02T10:00:01Z"), overridden(CARD, at="2026-03-02T10:00:00Z")
    assert store.record_feedback(SERVICE, [later, other_outcome], None) == FeedbackResult(2, 0, 0)
    assert len(rows(store, feedback)) == 3


def test_unknown_card_stored_and_flagged(store):
    store.record_audit(audit(CARD))
    assert store.record_feedback(SERVICE, [accepted(CARD), overridden(OTHER)], None) == FeedbackResult(2, 0, 1)
    assert store.record_feedback(SERVICE, [overridden(OTHER)], None) == FeedbackResult(0, 1, 0)
    flags = {row["card_uuid"]: row["unknown_card"] for row in rows(store, feedback)}
    assert flags == {CARD: False, OTHER: True}


def test_a_repeated_hook_instance_keeps_its_cards_once(store):
    record = audit(CARD)
    store.record_audit(record)
    store.record_audit(record)
    assert len(rows(store, hook_calls)) == 2
    assert [card["uuid"] for card in rows(store, cards)] == [CARD]
