"""The fixture files: valid FHIR R4 (R4B models), well-formed CDS Hooks requests, consistent ids."""
from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B import get_fhir_model_class

import fixtures
from fixtures import build

PATIENTS = fixtures.patient_names()
REQUESTS = fixtures.request_files()
PREFETCH_KEYS = {"patient", "encounter", "medicationStatements", "medicationRequests", "depressionScores",
                 "bloodPressure", "weight", "conditions", "allergies", "surveys"}


def validate(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def all_ids(resource: dict):
    yield resource["id"]
    for inner in resource.get("contained", []):
        yield inner["id"]


def prefetch_resources(request: dict):
    for value in request["prefetch"].values():
        if value["resourceType"] == "Bundle":
            yield from (entry["resource"] for entry in value.get("entry", []))
        elif value["resourceType"] != "OperationOutcome":
            yield value


def owner(resource: dict) -> str | None:
    if resource["resourceType"] == "Patient":
        return f"Patient/{resource['id']}"
    return (resource.get("subject") or resource.get("patient") or {}).get("reference")


def test_enough_patients_and_a_paging_one():
    assert len(PATIENTS) >= 24
    statements = [sum(e["resource"]["resourceType"] == "MedicationStatement"
                      for e in fixtures.load_patient_bundle(name)["entry"]) for name in PATIENTS]
    assert max(statements) > 300  # > 3 pages at _count=100


@pytest.mark.parametrize("name", PATIENTS)
def test_patient_bundle_is_a_valid_put_transaction(name):
    bundle = fixtures.load_patient_bundle(name)
    assert bundle["type"] == "transaction"
    validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        validate(resource)
        assert all(i.startswith("trd-cds-") for i in all_ids(resource))
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    patients = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patients == [f"trd-cds-{name}"]
    urls = [e["request"]["url"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))


@pytest.mark.parametrize("file_name", REQUESTS)
def test_request_shape(file_name):
    request = fixtures.load_request_file(file_name)
    hook = file_name.split(".")[-2]
    context = request["context"]
    assert request["hook"] == hook
    assert request["hookInstance"] == str(uuid.uuid5(build.NAMESPACE, file_name))
    assert "fhirServer" not in request and "fhirAuthorization" not in request
    assert context["userId"] == "Practitioner/trd-cds-prescriber"
    assert set(request["prefetch"]) <= PREFETCH_KEYS
    drafts = context["draftOrders"]
    assert drafts["type"] == "collection"
    validate(drafts)
    in_drafts = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts["entry"]}
    for entry in drafts["entry"]:
        validate(entry["resource"])
        assert all(i.startswith("trd-cds-") for i in all_ids(entry["resource"]))
        if entry["resource"]["resourceType"] == "MedicationRequest":
            assert entry["resource"]["status"] == "draft"
            assert entry["resource"]["subject"]["reference"] == f"Patient/{context['patientId']}"
    if hook == "order-select":
        assert context["selections"] and set(context["selections"]) <= in_drafts
    else:
        assert "selections" not in context
    assert ("encounterId" in context) == ("encounter" in request["prefetch"])


@pytest.mark.parametrize("file_name", REQUESTS)
def test_prefetch_is_valid_and_belongs_to_the_patient(file_name):
    request = fixtures.load_request_file(file_name)
    context, data = request["context"], request["prefetch"]
    assert data["patient"]["id"] == context["patientId"]
    if "encounter" in data:
        assert data["encounter"]["id"] == context["encounterId"]
    for value in data.values():
        validate(value)
        if value["resourceType"] == "Bundle":
            matches = [e for e in value.get("entry", []) if e["search"] == {"mode": "match"}]
            assert value["type"] == "searchset" and value["total"] == len(matches)
            assert all(e["fullUrl"].endswith(f"/{e['resource']['resourceType']}/{e['resource']['id']}")
                       for e in value.get("entry", []))
            # _include=...:medication adds the referenced Medications (no subject) as "include" entries
            assert all(e["search"] == {"mode": "include"} and e["resource"]["resourceType"] == "Medication"
                       for e in value.get("entry", []) if e not in matches)
    for resource in prefetch_resources(request):
        if resource["resourceType"] == "Medication":
            continue
        assert owner(resource) == f"Patient/{context['patientId']}", resource["id"]
        assert resource["id"].startswith("trd-cds-")


@pytest.mark.parametrize("file_name", REQUESTS)
def test_prefetch_resources_are_the_patients_stored_ones(file_name):
    request = fixtures.load_request_file(file_name)
    stored = {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"]
              for e in fixtures.load_patient_bundle(fixtures.expected()[file_name]["patient"])["entry"]}
    for resource in prefetch_resources(request):
        assert stored[(resource["resourceType"], resource["id"])] == resource


def test_observation_searches_are_sorted_newest_first():
    for file_name in REQUESTS:
        data = fixtures.load_request_file(file_name)["prefetch"]
        for key in ("depressionScores", "bloodPressure", "weight"):
            if key in data and data[key]["resourceType"] == "Bundle":
                dates = [e["resource"]["effectiveDateTime"] for e in data[key].get("entry", [])]
                assert dates == sorted(dates, reverse=True), (file_name, key)


def test_loader_api():
    name = PATIENTS[0]
    assert fixtures.load_request(name, "order-sign")["context"]["patientId"] == f"trd-cds-{name}"
    with pytest.raises(KeyError):
        fixtures.load_patient_bundle("no-such-patient")


def empty_arrays(value, path=""):
    if isinstance(value, list):
        if not value:
            yield path
        for n, item in enumerate(value):
            yield from empty_arrays(item, f"{path}[{n}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from empty_arrays(item, f"{path}.{key}")


def test_no_empty_arrays_anywhere():  # FHIR JSON forbids them
    for name in PATIENTS:
        assert list(empty_arrays(fixtures.load_patient_bundle(name))) == [], name
    for file_name in REQUESTS:
        assert list(empty_arrays(fixtures.load_request_file(file_name))) == [], file_name
