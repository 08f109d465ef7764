"""The service gives the same advice whether the EHR prefetches or the service reads the FHIR server."""
from __future__ import annotations

import copy

import pytest

import fixtures
from cds_service import create_app
from cds_service.protocol.services import prefetch_templates

EXPECTED = fixtures.expected()


def _fully_prefetched(request: dict) -> bool:
    prefetch = request.get("prefetch", {})
    every_key = set(prefetch_templates()) - {"encounter"} <= set(prefetch)  # none left out
    return every_key and all(value is None or value.get("resourceType") != "OperationOutcome"
                             for value in prefetch.values())


FULL = [name for name in fixtures.request_files()
        if EXPECTED[name]["cards"] and _fully_prefetched(fixtures.load_request_file(name))]
PARTIAL = [name for name in fixtures.request_files() if name not in FULL and EXPECTED[name]["cards"]]


@pytest.fixture(scope="module")
def client():
    return create_app({"auth": "off", "database_url": "memory://"}).test_client()


def _post(client, request):
    return client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)


def _topics(response) -> set[tuple[str, str]]:
    return {(card["source"]["topic"]["code"], card["indicator"]) for card in response.get_json()["cards"]}


@pytest.mark.parametrize("file_name", FULL)
def test_no_prefetch_gives_the_same_cards_as_full_prefetch(client, loaded_fhir_server, file_name):
    with_prefetch = fixtures.load_request_file(file_name)
    without = copy.deepcopy(with_prefetch)
    del without["prefetch"]
    without["fhirServer"] = loaded_fhir_server

    prefetched, fetched = _post(client, with_prefetch), _post(client, without)

    assert prefetched.status_code == fetched.status_code == 200, fetched.get_json()
    assert fetched.get_json()["cards"], "an in-scope order always gets the TRD card"
    assert fetched.get_json() == prefetched.get_json()


@pytest.mark.parametrize("file_name", PARTIAL)
def test_failed_prefetch_keys_are_read_from_the_server(client, loaded_fhir_server, file_name):
    request = copy.deepcopy(fixtures.load_request_file(file_name))
    request["fhirServer"] = loaded_fhir_server
    patient_request = fixtures.load_request(EXPECTED[file_name]["patient"], request["hook"])

    assert "data-unavailable" in {topic for topic, _ in EXPECTED[file_name]["cards"]}
    assert _topics(_post(client, request)) == _topics(_post(client, patient_request))
