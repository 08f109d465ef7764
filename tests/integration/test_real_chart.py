"""Real chart data against the real FHIR server (issue 13; decision-rules v2 §1, §2.9, §8).

Each case runs through the app with the EHR's prefetch and without it (the service reads sekmet).
The prefetch/no-prefetch parity of every fixture request is tests/integration/test_same_cards.py.
"""
from __future__ import annotations

import copy
from urllib.parse import urlsplit, urlunsplit

import pytest

import fixtures
from cds_service import create_app
from fixtures import build
from cds_service.cli import fhir as cli_fhir
from cds_service.config import Settings
from cds_service.protocol.services import configured_templates

SITE_MADRS = "http://site.example.org/scales|MADRS-TOT"


def app_client(**settings):
    return create_app({"auth": "off", "database_url": "memory://", **settings}).test_client()


def post(client, request):
    return client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)


def codes(response) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response.get_json()["cards"]]


def without_prefetch(name: str, fhir_server: str, hook: str = "order-sign") -> dict:
    request = copy.deepcopy(fixtures.load_request(name, hook))
    del request["prefetch"]
    request["fhirServer"] = fhir_server
    return request


def ehr_prefetch(request: dict, settings: dict) -> dict:
    """The request with the prefetch an EHR builds from the service's own discovery templates."""
    request = copy.deepcopy(request)
    request["prefetch"] = cli_fhir.prefetch_from_server(request, configured_templates(Settings.build(settings)))
    del request["fhirServer"]
    return request


def test_site_scale_code_is_queried_as_a_plain_token_and_counts(loaded_fhir_server):
    settings = {"scale_codes": f"{SITE_MADRS}=MADRS"}
    client = app_client(**settings)
    [template] = {s["prefetch"]["depressionScores"] for s in client.get("/cds-services").get_json()["services"]}
    assert f"{SITE_MADRS}&" in template and "=MADRS" not in template
    request = without_prefetch("scale-site-code", loaded_fhir_server)
    assert "trd-criteria-insufficient-data" in codes(post(app_client(), request))  # unconfigured: not scores
    fetched, prefetched = post(client, request), post(client, ehr_prefetch(request, settings))
    assert "trd-criteria-met" in codes(fetched)
    assert fetched.get_json() == prefetched.get_json()


def test_scores_known_only_by_text_arrive_through_surveys_and_the_setting_turns_it_off(loaded_fhir_server):
    request = without_prefetch("survey-text-only", loaded_fhir_server)
    assert "trd-criteria-met" in codes(post(app_client(), request))
    assert "trd-criteria-met" in codes(post(app_client(), ehr_prefetch(request, {})))
    off = app_client(surveys="off")
    assert "surveys" not in off.get("/cds-services").get_json()["services"][0]["prefetch"]
    assert "trd-criteria-insufficient-data" in codes(post(off, request))


def test_a_patient_the_fhir_server_does_not_know_is_412_naming_patient(loaded_fhir_server):
    request = without_prefetch("met-two-classes", loaded_fhir_server)
    request["context"]["patientId"] = "trd-cds-nobody"
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/trd-cds-nobody"}
    response = post(app_client(), request)
    assert response.status_code == 412
    [issue] = response.get_json()["issue"]
    assert issue["expression"] == ["prefetch.patient"] and "Patient/trd-cds-nobody" in issue["diagnostics"]


def test_fhir_server_spelled_differently_pages_through_rebased_links(loaded_fhir_server):
    """sekmet writes its next links with 127.0.0.1; the EHR says localhost (§8 v2)."""
    parts = urlsplit(loaded_fhir_server)
    alias = urlunsplit(parts._replace(netloc=f"localhost:{parts.port}"))
    prefetched = post(app_client(), fixtures.load_request("many-medications", "order-sign"))
    fetched = post(app_client(), without_prefetch("many-medications", alias))
    assert fetched.status_code == 200, fetched.get_json()
    assert "data-unavailable" not in codes(fetched)
    assert fetched.get_json() == prefetched.get_json()


def test_history_medication_reference_is_read_when_the_prefetch_left_it_out(loaded_fhir_server):
    request = copy.deepcopy(fixtures.load_request("history-medication-reference", "order-sign"))
    bundle = request["prefetch"]["medicationStatements"]
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Medication"]
    assert "trd-criteria-insufficient-data" in codes(post(app_client(), request))  # unresolved: unknown trial
    request["fhirServer"] = loaded_fhir_server
    assert "trd-criteria-met" in codes(post(app_client(), request))


def test_unresolvable_history_reference_is_an_unknown_trial_both_ways(loaded_fhir_server):
    for request in (fixtures.load_request("history-reference-unresolved", "order-sign"),
                    without_prefetch("history-reference-unresolved", loaded_fhir_server)):
        response = post(app_client(), request)
        trd = next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"].startswith("trd-"))
        assert trd["source"]["topic"]["code"] == "trd-criteria-insufficient-data"
        assert "Medication/trd-cds-missing-medication" in trd["detail"]


@pytest.mark.parametrize("prefetch", [True, False])
def test_two_in_scope_orders_give_one_trd_card(loaded_fhir_server, prefetch):
    name = "esketamine-and-ketamine.order-sign.json"
    request = fixtures.load_request_file(name)
    if not prefetch:
        request = {**copy.deepcopy(request), "fhirServer": loaded_fhir_server}
        del request["prefetch"]
    found = codes(post(app_client(), request))
    assert sum(code.startswith("trd-criteria-") for code in found) == 1


def test_latest_value_data_reads_one_page(loaded_fhir_server):
    request = without_prefetch("bp-many-readings", loaded_fhir_server)
    response = post(app_client(), request)
    assert "data-unavailable" not in codes(response)
    bp = next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "blood-pressure")
    assert "152/94" in bp["summary"] + bp["detail"]


def test_fixtures_load_with_server_assigned_ids(fhir_server):
    result = cli_fhir.load_fixtures(fhir_server, ["prior-esketamine-course"], ids="server")
    assert not result.errors and result.counts["created"] > 0
    server_id = result.patients["trd-cds-prior-esketamine-course"].split("/")[1]
    assert server_id != "trd-cds-prior-esketamine-course"
    request = cli_fhir.build_request("order-sign", server_id, fhir_server)
    for entry in request["context"]["draftOrders"]["entry"]:  # the fixtures' order date, not the wall clock
        entry["resource"]["authoredOn"] = build.ORDER_DATE.isoformat()
    found = codes(post(app_client(), request))
    assert found.count("trd-criteria-met") == 1
    trd = next(c for c in post(app_client(), request).get_json()["cards"]
               if c["source"]["topic"]["code"] == "trd-criteria-met")
    assert "prior esketamine course" in trd["detail"]
