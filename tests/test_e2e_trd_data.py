"""TRD card through the Flask app on edited fixture charts (reviewer findings on real chart data)."""
from __future__ import annotations

import copy

import fixtures

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _venlafaxine(request):
    """met-two-classes: the venlafaxine statement and request (the sertraline statement comes first)."""
    prefetch = request["prefetch"]
    return ([e["resource"] for e in prefetch["medicationStatements"]["entry"]][1:]
            + [e["resource"] for e in prefetch["medicationRequests"]["entry"]])


def _trd(client, request):
    response = client.post("/cds-services/ketamine-esketamine-order-sign", json=request)
    assert response.status_code == 200, response.get_json()
    [card] = [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"].startswith("trd-")]
    return card


def _request():
    return copy.deepcopy(fixtures.load_request("met-two-classes", "order-sign"))


def test_auvelity_by_brand_at_one_tablet_twice_daily_is_an_adequate_failed_trial(client):
    for concept in ({"text": "Auvelity 45 mg-105 mg ER tablet"}, {"text": "AUVELITY"},
                    {"coding": [{"system": RXNORM, "code": "2611260"}], "text": "Auvelity 45 mg-105 mg ER tablet"}):
        request = _request()
        for record in _venlafaxine(request):
            record["medicationCodeableConcept"] = concept
            dosage = (record.get("dosageInstruction") or record.get("dosage"))[0]
            dosage["doseAndRate"] = [{"doseQuantity": {"value": 1, "unit": "tablet"}}]
            dosage["timing"] = {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}
        card = _trd(client, request)
        assert card["source"]["topic"]["code"] == "trd-criteria-met", card["detail"]
        assert "| 90 mg dextromethorphan vs ≥ 90 mg |" in card["detail"]


def test_one_unresolved_medication_in_a_statement_and_a_request_is_one_possible_trial(client):
    request = _request()
    for record in _venlafaxine(request):
        del record["medicationCodeableConcept"]
        record["medicationReference"] = {"reference": "Medication/nope"}
    sertraline = request["prefetch"]["medicationStatements"]["entry"][0]["resource"]
    sertraline["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 25
    card = _trd(client, request)
    assert card["source"]["topic"]["code"] == "trd-criteria-not-met", card["summary"]
    assert card["detail"].count("| unidentified medication |") == 1


def test_to_document_asks_only_for_the_missing_follow_up_up_to_the_order_date(client):
    request = _request()
    for key in ("depressionScores", "surveys"):
        bundle = request["prefetch"].get(key) or {}
        bundle["entry"] = [e for e in bundle.get("entry", [])
                           if not e["resource"].get("effectiveDateTime", "").startswith("2026-11-10")]
    card = _trd(client, request)
    assert card["source"]["topic"]["code"] == "trd-criteria-insufficient-data"
    todo = card["detail"].split("**To document:**")[1]
    assert "- venlafaxine (2026-05-04 to 2026-11-20): a follow-up score on PHQ-9" in todo
    assert "baseline score" not in todo and "2026-11-20)" in todo and "2026-12-04" not in todo


def test_insufficient_data_summary_says_the_medication_is_what_is_missing(client):
    request = _request()
    for record in _venlafaxine(request):
        del record["medicationCodeableConcept"]
        record["medicationReference"] = {"reference": "Medication/nope"}
    card = _trd(client, request)
    assert card["source"]["topic"]["code"] == "trd-criteria-insufficient-data"
    assert card["summary"].endswith("; document missing medication name")
