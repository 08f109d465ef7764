"""Feedback endpoint: validated, idempotent, unknown cards kept and flagged."""
from __future__ import annotations

import pytest

FEEDBACK = "/cds-services/ketamine-esketamine-order-sign/feedback"
CARD = "0b0a2d3e-5f0c-4c1c-9d5f-1c2b3a4d5e6f"
SUGGESTION = "6c6f3b1e-8a0d-4b56-9b1f-7d2f8e9a0b1c"
ACCEPTED = {"card": CARD, "outcome": "accepted", "acceptedSuggestions": [{"id": SUGGESTION}],
            "outcomeTimestamp": "2026-11-20T10:15:00Z"}
OVERRIDDEN = {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:16:00.5+01:00",
              "overrideReason": {"reason": {"code": "specialist-cleared", "system": "urn:trd-cds:override-reason",
                                            "display": "Specialist cleared"}, "userComment": "ok"}}


def test_feedback_is_stored_once(client, app):
    first = client.post(FEEDBACK, json={"feedback": [ACCEPTED, OVERRIDDEN]})
    again = client.post(FEEDBACK, json={"feedback": [ACCEPTED]})
    assert first.status_code == again.status_code == 200
    assert first.get_json() == {"stored": 2, "duplicates": 0, "unknownCards": 2}
    assert again.get_json() == {"stored": 0, "duplicates": 1, "unknownCards": 0}
    stored = app.extensions["trd_cds"].store.feedback
    assert len(stored) == 2
    assert all(row["unknownCard"] for row in stored.values())


def test_feedback_for_an_issued_card_is_not_flagged(client, app):
    app.extensions["trd_cds"].store.record_audit({"cards": [{"uuid": CARD}]})
    assert client.post(FEEDBACK, json={"feedback": [ACCEPTED]}).get_json()["unknownCards"] == 0


def _with(**changes):
    item = {**ACCEPTED, **changes}
    return {key: value for key, value in item.items() if value is not None}


@pytest.mark.parametrize("body,field", [
    ({}, "feedback"),
    ({"feedback": []}, "feedback"),
    ({"feedback": {}}, "feedback"),
    ({"feedback": [_with(card=None)]}, "feedback[0].card"),
    ({"feedback": [_with(card="not-a-uuid")]}, "feedback[0].card"),
    ({"feedback": [_with(outcome="ignored")]}, "feedback[0].outcome"),
    ({"feedback": [_with(acceptedSuggestions=None)]}, "feedback[0].acceptedSuggestions"),
    ({"feedback": [_with(acceptedSuggestions=[{}])]}, "feedback[0].acceptedSuggestions[0].id"),
    ({"feedback": [{**OVERRIDDEN, "acceptedSuggestions": [{"id": SUGGESTION}]}]}, "feedback[0]"),
    ({"feedback": [{**OVERRIDDEN, "overrideReason": {}}]}, "feedback[0].overrideReason"),
    ({"feedback": [{**OVERRIDDEN, "overrideReason": {"reason": {"code": "x"}}}]},
     "feedback[0].overrideReason.reason.system"),
    ({"feedback": [_with(outcomeTimestamp=None)]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [_with(outcomeTimestamp="yesterday")]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [_with(outcomeTimestamp="2026-13-40T10:00:00Z")]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [{**OVERRIDDEN, "overrideReason": {"userComment": "no\ud800"}}]},
     "feedback[0].overrideReason.userComment"),
    ({"feedback": [{**OVERRIDDEN, "overrideReason": {"userComment": "x", "\udc00": 1}}]},
     "feedback[0].overrideReason.\udc00"),
], ids=["no feedback", "empty list", "not a list", "no card", "card not a uuid", "bad outcome",
        "accepted without suggestions", "suggestion without id", "overridden with suggestions",
        "empty override reason", "reason without system", "no timestamp", "timestamp text",
        "impossible date", "lone surrogate", "lone surrogate in a name"])
def test_bad_feedback_is_400_naming_the_field(client, body, field):
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [field]


def test_feedback_for_unknown_service_is_404(client):
    response = client.post("/cds-services/nope/feedback", json={"feedback": [ACCEPTED]})
    assert response.status_code == 404


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_outside_the_utc_range_is_400_not_a_store_crash(tmp_path, timestamp):
    from cds_service import create_app
    client = create_app({"auth": "off", "database_url": f"sqlite:///{tmp_path}/trd-cds.db"}).test_client()
    response = client.post(FEEDBACK, json={"feedback": [_with(outcomeTimestamp=timestamp)]})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["feedback[0].outcomeTimestamp"]
    edge = _with(outcomeTimestamp="0001-01-01T00:00:00-01:00")  # converts to UTC fine: stored
    assert client.post(FEEDBACK, json={"feedback": [edge]}).status_code == 200
