"""Against a real FHIR server (sekmet): fixtures load, paging, and gather() without prefetch."""
from __future__ import annotations

import pytest
import requests

import fixtures
from cds_service.cli import main
from cds_service.config import Settings
from cds_service.fhir.client import FhirClient, bundle_resources
from cds_service.fhir.patient_data import gather
from cds_service.protocol.services import LATEST_VALUE_KEYS, REQUIRED_KEYS, prefetch_templates

pytestmark = pytest.mark.integration

SETTINGS = Settings(fhir_deadline_s=20.0, fhir_read_timeout_s=10.0)
PAGING_PATIENT = "trd-cds-paging-probe"
MIN_PAGED = 301  # > 3 pages at _count=100


def ids(resources) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in resources}


def patient_id_of(bundle: dict) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def gather_ids(request: dict) -> dict[str, set[str]]:
    gathered = gather(request, prefetch_templates(), REQUIRED_KEYS, SETTINGS, requests.Session(),
                      latest=LATEST_VALUE_KEYS)
    assert gathered.unavailable == {} and gathered.partial == {}
    return {key: ids(found) for key, found in gathered.resources.items()}


def medication_statement_count(bundle: dict) -> int:
    return sum(e["resource"]["resourceType"] == "MedicationStatement" for e in bundle.get("entry", []))


def test_fixtures_load_again_updates_and_creates_nothing(fhir_server, first_load, capsys):
    assert first_load["created"] > 0 and first_load["other"] == 0
    assert main(["fixtures", "load", "--fhir-server", fhir_server]) == 0
    total = first_load["created"] + first_load["updated"]
    assert capsys.readouterr().out.strip() == f"created 0, updated {total}"


@pytest.fixture(scope="module")
def paged_patient(loaded_fhir_server) -> tuple[str, int]:
    """A patient with more than 3 pages of MedicationStatements: a fixture one, else our own."""
    for name in fixtures.patient_names():
        bundle = fixtures.load_patient_bundle(name)
        count = medication_statement_count(bundle)
        if count >= MIN_PAGED:
            return patient_id_of(bundle), count
    entries = [{"resource": {"resourceType": "Patient", "id": PAGING_PATIENT},
                "request": {"method": "PUT", "url": f"Patient/{PAGING_PATIENT}"}}]
    entries += [{"resource": {"resourceType": "MedicationStatement", "id": f"{PAGING_PATIENT}-{n}",
                              "status": "completed", "medicationCodeableConcept": {"text": "sertraline"},
                              "subject": {"reference": f"Patient/{PAGING_PATIENT}"}},
                 "request": {"method": "PUT", "url": f"MedicationStatement/{PAGING_PATIENT}-{n}"}}
                for n in range(MIN_PAGED + 20)]
    response = requests.post(loaded_fhir_server, json={"resourceType": "Bundle", "type": "transaction",
                                                       "entry": entries}, timeout=60)
    response.raise_for_status()
    return PAGING_PATIENT, MIN_PAGED + 20


def test_search_follows_every_page_of_a_real_server(loaded_fhir_server, paged_patient):
    patient, count = paged_patient
    client = FhirClient(loaded_fhir_server, None, SETTINGS, requests.Session())
    result = client.search(f"MedicationStatement?patient={patient}&_count=100")
    assert result.pages == -(-count // 100) and result.truncated is None
    assert len(ids(result.resources)) == len(result.resources) == count


def test_page_cap_truncates_on_a_real_server(loaded_fhir_server, paged_patient):
    patient, _ = paged_patient
    client = FhirClient(loaded_fhir_server, None, SETTINGS.replace(fhir_max_pages=2), requests.Session())
    result = client.search(f"MedicationStatement?patient={patient}&_count=100")
    assert (result.pages, len(result.resources)) == (2, 200) and result.truncated


@pytest.mark.parametrize("name", fixtures.patient_names())
def test_gather_without_prefetch_reads_what_an_ehr_prefetches(ehr_request, name):
    patient = patient_id_of(fixtures.load_patient_bundle(name))
    with_prefetch = ehr_request("order-sign", patient, prefetch=True)
    without = {key: value for key, value in with_prefetch.items() if key != "prefetch"}
    assert gather_ids(without) == gather_ids(with_prefetch)


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("name", fixtures.patient_names())
def test_gather_without_prefetch_equals_the_fixture_request_prefetch(loaded_fhir_server, name, hook):
    request = fixtures.load_request(name, hook)
    prefetch = request.pop("prefetch", None) or {}
    request["fhirServer"] = loaded_fhir_server
    request.pop("fhirAuthorization", None)
    fetched = gather_ids(request)
    for key, value in prefetch.items():
        if value is None or value.get("resourceType") != "OperationOutcome":
            expected = ids(bundle_resources(value) if value and value["resourceType"] == "Bundle"
                           else [value] if value else [])
            expected = {ref for ref in expected if not ref.startswith("Medication/")}  # the EHR's _include
            assert fetched[key] == expected, key
