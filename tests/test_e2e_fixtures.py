"""End to end through the Flask app: every fixture request gives its expected (topic, indicator) set."""
from __future__ import annotations

import copy

import pytest
import responses

import fixtures

EXPECTED = fixtures.expected()


def _topics(response) -> set[tuple[str, str]]:
    return {(card["source"]["topic"]["code"], card["indicator"]) for card in response.get_json()["cards"]}


@pytest.mark.parametrize("request_name", sorted(EXPECTED))
def test_fixture_request_gives_the_expected_cards(client, request_name):
    request = fixtures.load_request_file(request_name)
    response = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)
    assert response.status_code == 200, response.get_json()
    expected = {tuple(pair) for pair in EXPECTED[request_name]["cards"]}
    assert _topics(response) == expected


@pytest.mark.parametrize("request_name", sorted(EXPECTED)[:6])
def test_same_request_gives_the_same_cards(client, request_name):
    request = fixtures.load_request_file(request_name)
    url = f"/cds-services/ketamine-esketamine-{request['hook']}"
    assert client.post(url, json=request).get_json() == client.post(url, json=request).get_json()


def test_order_without_ketamine_returns_no_cards_and_reads_nothing(client):
    name = next(n for n, e in EXPECTED.items() if not e["cards"])
    request = copy.deepcopy(fixtures.load_request_file(name))
    request.pop("prefetch", None)
    request["fhirServer"] = "https://ehr.example.org/fhir"
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60,
                                    "scope": "patient/*.read", "subject": "trd-cds"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        response = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)
        assert len(mock.calls) == 0
    assert response.get_json() == {"cards": []}


def test_partly_read_conditions_still_give_the_contraindication(client):
    request = copy.deepcopy(fixtures.load_request("aortic-aneurysm", "order-sign"))
    request["prefetch"]["conditions"]["link"] = [{"relation": "next", "url": "https://ehr.example.org/fhir/p2"}]
    cards = client.post("/cds-services/ketamine-esketamine-order-sign", json=request).get_json()["cards"]
    found = {(card["source"]["topic"]["code"], card["indicator"]) for card in cards}
    assert ("contraindication", "critical") in found
    unavailable = next(card for card in cards if card["source"]["topic"]["code"] == "data-unavailable")
    assert "read in part: conditions" in unavailable["summary"]


def _trd_detail(client, name: str) -> str:
    request = fixtures.load_request_file(name) if name.endswith(".json") else fixtures.load_request(name, "order-sign")
    cards = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request).get_json()["cards"]
    return next(c["detail"] for c in cards if c["source"]["topic"]["code"].startswith("trd-criteria-"))


@pytest.mark.parametrize("name, row", [
    ("refills-monthly", "| venlafaxine | SNRI | 2026-05-04 to 2026-08-02 | 150 mg vs ≥ 75 mg | 12.9 |"),
    ("auvelity", "| dextromethorphan-bupropion | NMDA antagonist + NDRI | 2026-05-04 to 2026-11-20 (ongoing) | "
                 "90 mg dextromethorphan vs ≥ 90 mg |"),
    ("olanzapine-fluoxetine", "| fluoxetine | SSRI | 2026-05-04 to 2026-11-20 (ongoing) | 25 mg vs ≥ 20 mg |"),
    ("brand-names", "| venlafaxine | SNRI | 2026-05-04 to 2026-11-20 (ongoing) | 150 mg vs ≥ 75 mg |"),
    ("prior-esketamine-course", "| prior esketamine course | NMDA receptor antagonist | 2026-01-24 to 2026-02-04 | "
                                "4 session(s) | 1.6 | no pair | not counted: a prior course"),
    ("history-reference-unresolved", "- unidentified medication (2026-05-04 to 2026-11-20): which medicine this is: "
                                     "medication: reference 'Medication/trd-cds-missing-medication' not resolved"),
])
def test_real_chart_data_rows(client, name, row):
    """decision-rules §2.9 v2, through the app with the fixture's prefetch."""
    assert row in _trd_detail(client, name)
