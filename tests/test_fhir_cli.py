"""``trd-cds fixtures load`` and ``trd-cds invoke`` against mocked FHIR server and service."""
from __future__ import annotations

import json
import sys
import types

import pytest
import requests
import responses
from responses import matchers

from cds_service.cli import fhir as cli_fhir
from cds_service.cli import main
from fhir_mappings.orders import ordered_medications

FHIR = "http://fhir.test/fhir"
SERVICE = "http://cds.test"
TEMPLATES = {"patient": "Patient/{{context.patientId}}", "encounter": "Encounter/{{context.encounterId}}",
             "conditions": "Condition?patient={{context.patientId}}"}
CARD = {"uuid": "u1", "indicator": "warning", "summary": "Blood pressure not recorded",
        "detail": "No BP in 30 days.\nCheck before dosing.",
        "source": {"label": "trd-cds", "topic": {"code": "bp", "display": "Blood pressure"}}}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def discovery(http, hook="order-sign"):
    http.get(f"{SERVICE}/cds-services", json={"services": [
        {"id": f"ketamine-esketamine-{hook}", "hook": hook, "prefetch": TEMPLATES}]})


def posted(http) -> dict:
    return json.loads(next(c.request.body for c in http.calls if c.request.method == "POST"))


def test_invoke_prefetches_like_an_ehr_and_prints_the_cards(http, capsys):
    discovery(http)
    http.get(f"{FHIR}/Patient/p1", json={"resourceType": "Patient", "id": "p1"},
             match=[matchers.header_matcher({"Authorization": "Bearer tok"})])
    http.get(f"{FHIR}/Condition", json={"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}}]})
    http.post(f"{SERVICE}/cds-services/ketamine-esketamine-order-sign", json={"cards": [CARD]})
    assert main(["invoke", "order-sign", "--patient", "p1", "--fhir-server", FHIR, "--service", SERVICE,
                 "--order", "ketamine-iv-mgkg", "--bearer", "tok"]) == 0
    request = posted(http)
    assert request["prefetch"]["patient"]["id"] == "p1" and "encounter" not in request["prefetch"]
    assert [e["resource"]["id"] for e in request["prefetch"]["conditions"]["entry"]] == ["c1"]
    assert request["fhirAuthorization"]["access_token"] == "tok"
    out = capsys.readouterr().out
    assert "[WARNING] Blood pressure — Blood pressure not recorded" in out
    assert "    Check before dosing." in out


@pytest.mark.parametrize("name, drug, route", [("esketamine-84mg", "esketamine", "nasal"),
                                               ("ketamine-iv", "ketamine", "intravenous")])
def test_draft_orders_are_understood_by_the_order_extractor(name, drug, route):
    request = cli_fhir.build_request("order-select", "p1", FHIR, [name, "esketamine-28mg"])
    orders = ordered_medications(request["context"], "order-select")
    assert (orders[0].drug, orders[0].route) == (drug, route) and orders[0].per_week == 2
    assert request["context"]["selections"] == ["MedicationRequest/trd-cds-draft-1",
                                                "MedicationRequest/trd-cds-draft-2"]


def test_invoke_without_prefetch_sends_none_and_prints_json(http, capsys):
    http.post(f"{SERVICE}/cds-services/ketamine-esketamine-order-select", json={"cards": []})
    assert main(["invoke", "order-select", "--patient", "p1", "--fhir-server", FHIR, "--service", SERVICE,
                 "--no-prefetch", "--json"]) == 0
    request = posted(http)
    assert "prefetch" not in request and "fhirAuthorization" not in request
    assert json.loads(capsys.readouterr().out) == {"cards": []}


def test_a_failed_prefetch_query_is_sent_as_operation_outcome(http):
    discovery(http)
    http.get(f"{FHIR}/Patient/p1", status=500)
    http.get(f"{FHIR}/Condition", status=500)
    http.post(f"{SERVICE}/cds-services/ketamine-esketamine-order-sign", json={"cards": []})
    main(["invoke", "order-sign", "--patient", "p1", "--fhir-server", FHIR, "--service", SERVICE])
    assert posted(http)["prefetch"]["conditions"]["resourceType"] == "OperationOutcome"


def test_invoke_reports_the_operation_outcome_of_a_4xx(http, capsys):
    http.post(f"{SERVICE}/cds-services/ketamine-esketamine-order-sign", status=412, json={
        "resourceType": "OperationOutcome", "issue": [{"diagnostics": "no medications"}]})
    assert main(["invoke", "order-sign", "--patient", "p1", "--fhir-server", FHIR, "--service", SERVICE,
                 "--no-prefetch"]) == 1
    assert "HTTP 412: no medications" in capsys.readouterr().err


def test_invoke_reports_a_refused_connection(http, capsys):
    http.get(f"{SERVICE}/cds-services", body=requests.ConnectionError("refused"))
    assert main(["invoke", "order-sign", "--patient", "p1", "--fhir-server", FHIR, "--service", SERVICE]) == 1
    assert "cannot connect" in capsys.readouterr().err


@pytest.fixture
def fake_fixtures(monkeypatch):
    bundles = {name: {"resourceType": "Bundle", "type": "transaction", "entry": [{}] * size}
               for name, size in (("alice", 2), ("bob", 3))}
    module = types.SimpleNamespace(patient_names=lambda: list(bundles),
                                   load_patient_bundle=bundles.__getitem__)
    monkeypatch.setitem(sys.modules, "fixtures", module)


def transaction_response(*statuses):
    return {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": status}} for status in statuses]}


def test_fixtures_load_posts_transactions_and_counts(http, capsys, fake_fixtures):
    fhir_json = matchers.header_matcher({"Content-Type": "application/fhir+json"})
    http.post(FHIR, json=transaction_response("201 Created", "200 OK"), match=[fhir_json])
    http.post(FHIR, json=transaction_response("201 Created", "201 Created", "201"), match=[fhir_json])
    assert main(["fixtures", "load", "--fhir-server", FHIR + "/"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "created 4, updated 1"
    assert "2/2 bob" in captured.err and "#" * 30 in captured.err


def test_fixtures_load_rejects_unknown_names_and_server_errors(http, capsys, fake_fixtures):
    assert main(["fixtures", "load", "--fhir-server", FHIR, "--patient", "carol"]) == 1
    assert "unknown fixture patient(s) carol; known: alice, bob" in capsys.readouterr().err
    http.post(FHIR, status=400, json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "bad"}]})
    assert main(["fixtures", "load", "--fhir-server", FHIR, "--patient", "alice", "--bearer", "t"]) == 1
    assert "HTTP 400: bad" in capsys.readouterr().err


def test_fixtures_load_fails_on_any_entry_that_is_not_2xx(http, capsys, fake_fixtures):
    """Medplum answers a transaction 200 with a 400 per refused entry: that is an error, not 'other'."""
    refused = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "400 Bad Request", "outcome": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "Invalid id"}]}}},
        {"response": {"status": "201 Created"}}]}
    http.post(FHIR, json=refused)
    assert main(["fixtures", "load", "--fhir-server", FHIR, "--patient", "alice"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("created 1, updated 0, failed 1")
    assert "trd-cds: alice: entry 0 (None None) answered 400 Bad Request: Invalid id" in captured.err


def test_fixtures_load_counts_missing_entry_responses_as_errors(http, capsys, fake_fixtures):
    http.post(FHIR, json=transaction_response("201 Created"))  # bob has 3 entries
    assert main(["fixtures", "load", "--fhir-server", FHIR, "--patient", "bob"]) == 1
    assert capsys.readouterr().err.count("answered nothing: no OperationOutcome") == 2


def test_server_assigned_ids_post_with_urn_uuid_and_rewrite_references():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "trd-cds-a"}, "request": {"method": "PUT", "url": "Patient/trd-cds-a"}},
        {"resource": {"resourceType": "MedicationStatement", "id": "trd-cds-a-ms", "subject": {"reference": "Patient/trd-cds-a"},
                      "contained": [{"resourceType": "Medication", "id": "m"}], "medicationReference": {"reference": "#m"},
                      "informationSource": {"reference": "Practitioner/elsewhere"}},
         "request": {"method": "PUT", "url": "MedicationStatement/trd-cds-a-ms"}}]}
    sent = cli_fhir.server_assigned_ids(bundle)
    patient, statement = sent["entry"]
    assert patient["fullUrl"].startswith("urn:uuid:") and "id" not in patient["resource"]
    assert patient["request"] == {"method": "POST", "url": "Patient"}
    assert statement["resource"]["subject"] == {"reference": patient["fullUrl"]}
    assert statement["resource"]["contained"][0]["id"] == "m"  # contained ids and "#m" stay
    assert statement["resource"]["medicationReference"] == {"reference": "#m"}
    assert statement["resource"]["informationSource"] == {"reference": "Practitioner/elsewhere"}
    assert cli_fhir.server_assigned_ids(bundle) == sent  # the same fullUrls on every load
