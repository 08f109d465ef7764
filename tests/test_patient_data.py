"""gather(): prefetch first, then fhirServer for missing keys, concurrently within one deadline."""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace

import pytest
import requests
import responses
from responses import matchers

from cds_service.config import Settings
from cds_service.errors import ApiError, PreconditionFailed
from cds_service.fhir import patient_data
from cds_service.fhir.patient_data import call_summary, gather, render, resolve_references
from cds_service.protocol.services import REQUIRED_KEYS, prefetch_templates
from fhir_mappings.records import OrderedMedication

BASE = "https://ehr.example.org/fhir"
TOKEN = "token-abc"
PATIENT = "p1"
TEMPLATES = prefetch_templates()
SETTINGS = Settings(fhir_deadline_s=1.0)
SEARCH_TYPES = {key: template.split("?")[0] for key, template in TEMPLATES.items() if "?" in template}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


@pytest.fixture
def fhir():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def searchset(resource_type: str, count: int = 1, patient: str = PATIENT, next_url=None) -> dict:
    entries = [{"resource": {"resourceType": resource_type, "id": f"{resource_type}-{n}",
                             "subject": {"reference": f"Patient/{patient}"}}} for n in range(count)]
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def full_prefetch() -> dict:
    prefetch = {key: searchset(resource_type) for key, resource_type in SEARCH_TYPES.items()}
    prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT}
    return prefetch


def payload(prefetch=None, server=True, token=True, encounter=False) -> dict:
    request = {"hookInstance": "3f1e2c1a-0000-4000-8000-000000000001", "hook": "order-sign",
               "context": {"userId": "Practitioner/u1", "patientId": PATIENT, "draftOrders": {}}}
    if encounter:
        request["context"]["encounterId"] = "e1"
    if prefetch is not None:
        request["prefetch"] = prefetch
    if server:
        request["fhirServer"] = BASE
    if server and token:
        request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "trd-cds"}
    return request


def run(request, settings=SETTINGS):
    return gather(request, TEMPLATES, REQUIRED_KEYS, settings, requests.Session())


def mock_search(fhir, key, bundle=None, **kwargs):
    resource_type = SEARCH_TYPES[key]
    query = TEMPLATES[key].split("?")[1].replace("{{context.patientId}}", PATIENT)
    if "body" not in kwargs:
        kwargs["json"] = bundle or searchset(resource_type)
    fhir.get(f"{BASE}/{resource_type}",
             match=[matchers.query_string_matcher(query)], **kwargs)


def test_complete_prefetch_makes_no_http_call(fhir):
    gathered = run(payload(full_prefetch()))
    assert len(fhir.calls) == 0
    assert gathered.fetched == () and set(gathered.prefetched) == set(TEMPLATES) - {"encounter"}
    assert gathered.resources["medicationStatements"][0]["id"] == "MedicationStatement-0"
    assert gathered.resources["encounter"] == [] and gathered.unavailable == {}


def test_null_means_no_data_and_no_query(fhir):
    prefetch = full_prefetch() | {"conditions": None, "patient": None}
    gathered = run(payload(prefetch))
    assert len(fhir.calls) == 0
    assert gathered.resources["conditions"] == [] and "conditions" in gathered.prefetched


def test_operation_outcome_is_fetched_from_the_server(fhir):
    mock_search(fhir, "allergies", searchset("AllergyIntolerance", 2))
    gathered = run(payload(full_prefetch() | {"allergies": OUTCOME}))
    assert gathered.fetched == ("allergies",) and len(gathered.resources["allergies"]) == 2
    assert gathered.pages == 1


def test_missing_keys_are_fetched_with_the_bearer_token(fhir):
    prefetch = full_prefetch()
    del prefetch["medicationStatements"], prefetch["patient"]
    bearer = matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})
    resource_type = SEARCH_TYPES["medicationStatements"]
    fhir.get(f"{BASE}/{resource_type}", json=searchset(resource_type, 3), match=[bearer])
    fhir.get(f"{BASE}/Patient/{PATIENT}", json={"resourceType": "Patient", "id": PATIENT}, match=[bearer])
    gathered = run(payload(prefetch))
    assert set(gathered.fetched) == {"medicationStatements", "patient"}
    assert len(gathered.resources["medicationStatements"]) == 3


def test_no_prefetch_fetches_every_applicable_key_and_skips_encounter(fhir):
    for key in SEARCH_TYPES:
        mock_search(fhir, key)
    fhir.get(f"{BASE}/Patient/{PATIENT}", json={"resourceType": "Patient", "id": PATIENT})
    gathered = run(payload())
    assert set(gathered.fetched) == set(TEMPLATES) - {"encounter"}
    assert gathered.resources["patient"][0]["id"] == PATIENT and gathered.resources["encounter"] == []
    assert gathered.unavailable == {} and list(gathered.resources) == list(TEMPLATES)


@pytest.mark.parametrize("status", [404, 410])
def test_a_patient_the_fhir_server_does_not_know_is_412_naming_patient(fhir, status):
    """decision-rules §8 v2: every absence would be meaningless, so no confident card."""
    fhir.assert_all_requests_are_fired = False
    for key in SEARCH_TYPES:
        mock_search(fhir, key)
    fhir.get(f"{BASE}/Patient/{PATIENT}", status=status)
    with pytest.raises(PreconditionFailed) as raised:
        run(payload())
    assert raised.value.status == 412 and raised.value.issues[0][1] == "prefetch.patient"
    assert f"Patient/{PATIENT} does not exist" in raised.value.issues[0][0]


def test_a_missing_encounter_is_still_no_data(fhir):
    fhir.get(f"{BASE}/Encounter/e1", status=404)
    gathered = run(payload(full_prefetch(), encounter=True))
    assert gathered.resources["encounter"] == [] and gathered.unavailable == {}


def test_encounter_is_read_when_the_context_has_one(fhir):
    fhir.get(f"{BASE}/Encounter/e1", json={"resourceType": "Encounter", "id": "e1",
                                           "subject": {"reference": f"Patient/{PATIENT}"}})
    gathered = run(payload(full_prefetch(), encounter=True))
    assert gathered.fetched == ("encounter",) and gathered.resources["encounter"][0]["id"] == "e1"


def test_no_server_required_key_missing_is_412_naming_the_fields():
    prefetch = full_prefetch()
    del prefetch["medicationStatements"], prefetch["depressionScores"]
    with pytest.raises(PreconditionFailed) as raised:
        run(payload(prefetch, server=False))
    assert raised.value.status == 412
    assert [field for _, field in raised.value.issues] == ["prefetch.depressionScores",
                                                          "prefetch.medicationStatements"]


def test_no_server_optional_key_missing_is_unavailable():
    prefetch = full_prefetch()
    del prefetch["bloodPressure"]
    gathered = run(payload(prefetch | {"weight": OUTCOME}, server=False))
    assert set(gathered.unavailable) == {"bloodPressure", "weight"}
    assert "no usable fhirServer" in gathered.unavailable["weight"]


@pytest.mark.parametrize("failure, reason", [
    ({"status": 401}, "HTTP 401"), ({"status": 403}, "HTTP 403"), ({"status": 500}, "HTTP 500"),
    ({"body": requests.ConnectionError("refused")}, "unreachable"),
    ({"body": requests.ReadTimeout("slow")}, "timeout"),
    ({"body": "not json"}, "malformed"),
])
def test_server_failures_make_optional_keys_unavailable_and_required_keys_412(fhir, failure, reason):
    fhir.assert_all_requests_are_fired = False
    mock_search(fhir, "conditions", **failure)
    mock_search(fhir, "medicationRequests", **failure)
    prefetch = full_prefetch()
    del prefetch["conditions"]
    assert reason in run(payload(prefetch)).unavailable["conditions"]
    del prefetch["medicationRequests"]
    with pytest.raises(PreconditionFailed, match=reason) as raised:
        run(payload(prefetch))
    assert raised.value.field == "prefetch.medicationRequests"
    assert raised.value.gathered.unavailable.keys() == {"conditions"}


def test_prefetched_bundle_for_another_patient_is_400_naming_the_entry():
    prefetch = full_prefetch()
    prefetch["conditions"] = searchset("Condition", 3)
    prefetch["conditions"]["entry"].insert(0, {"resource": OUTCOME, "search": {"mode": "outcome"}})
    prefetch["conditions"]["entry"][3]["resource"]["subject"]["reference"] = f"{BASE}/Patient/other"
    with pytest.raises(ApiError) as raised:
        run(payload(prefetch))
    assert raised.value.status == 400
    assert raised.value.field == "prefetch.conditions.entry[3].resource.subject"


def test_prefetched_patient_with_another_id_is_400():
    with pytest.raises(ApiError, match="not the context patient") as raised:
        run(payload(full_prefetch() | {"patient": {"resourceType": "Patient", "id": "other"}}))
    assert raised.value.field == "prefetch.patient.id"


def test_fetched_resource_for_another_patient_is_400(fhir):
    mock_search(fhir, "allergies", searchset("AllergyIntolerance", 2, patient="other"))
    prefetch = full_prefetch()
    del prefetch["allergies"]
    with pytest.raises(ApiError) as raised:
        run(payload(prefetch))
    assert raised.value.field == "fhirServer.allergies[0].subject"


def test_a_prefetch_value_that_is_not_a_resource_is_400():
    with pytest.raises(ApiError) as raised:
        run(payload(full_prefetch() | {"conditions": [1, 2]}))
    assert raised.value.field == "prefetch.conditions"


def test_search_outcome_entries_are_skipped():
    prefetch = full_prefetch()
    prefetch["conditions"]["entry"].append({"resource": OUTCOME, "search": {"mode": "outcome"}})
    assert [r["resourceType"] for r in run(payload(prefetch)).resources["conditions"]] == ["Condition"]


def test_prefetched_bundle_with_next_link_is_followed_with_the_token(fhir):
    next_url = f"{BASE}/MedicationStatement?patient={PATIENT}&_offset=1"
    prefetch = full_prefetch()
    prefetch["medicationStatements"] = searchset("MedicationStatement", 1, next_url=next_url)
    page2 = searchset("MedicationStatement", 1)
    page2["entry"][0]["resource"]["id"] = "second"
    fhir.get(next_url, json=page2, match=[matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})])
    gathered = run(payload(prefetch))
    statements = gathered.resources["medicationStatements"]
    assert [r["id"] for r in statements] == ["MedicationStatement-0", "second"]
    assert gathered.partial == {} and "medicationStatements" in gathered.prefetched


def test_prefetched_bundle_with_next_link_and_no_token_is_partial(fhir):
    prefetch = full_prefetch()
    prefetch["conditions"] = searchset("Condition", 2, next_url=f"{BASE}/Condition?_offset=2")
    gathered = run(payload(prefetch, token=False))
    assert len(fhir.calls) == 0 and len(gathered.resources["conditions"]) == 2
    assert "no fhirAuthorization" in gathered.partial["conditions"]


@pytest.mark.parametrize("url", [{"href": f"{BASE}/Condition?_offset=2"}, 2, [], ""])
def test_a_prefetched_bundle_whose_next_url_is_not_a_string_is_used_as_complete(fhir, url):
    prefetch = full_prefetch()
    prefetch["conditions"] = searchset("Condition", 2)
    prefetch["conditions"]["link"] = [{"relation": "next", "url": url}]
    gathered = run(payload(prefetch))
    assert len(fhir.calls) == 0 and len(gathered.resources["conditions"]) == 2
    assert gathered.partial == {} and gathered.unavailable == {}


def test_slow_server_is_cut_at_the_deadline(fhir):
    def slow(request):
        time.sleep(3.0)
        return 200, {}, json.dumps(searchset("Condition"))

    fhir.assert_all_requests_are_fired = False
    fhir.add_callback(responses.GET, re.compile(f"{BASE}/.*"), callback=slow)
    prefetch = full_prefetch()
    del prefetch["conditions"]
    short = SETTINGS.replace(fhir_deadline_s=0.5)
    gathered = run(payload(prefetch), short)
    assert "deadline" in gathered.unavailable["conditions"]
    # the service's own FHIR time (its monotonic clock): cut at the deadline, not the 3 s answer
    assert gathered.fhir_seconds < 0.5 + 1.0
    del prefetch["depressionScores"]
    with pytest.raises(PreconditionFailed, match="deadline") as failed:
        run(payload(prefetch), short)
    assert failed.value.gathered.fhir_seconds < 0.5 + 1.0


def test_searches_run_concurrently(fhir):
    all_in_flight = threading.Barrier(len(TEMPLATES) - 1)  # every key but the encounter (no encounterId)

    def slow(request):
        all_in_flight.wait(timeout=2.5)  # raises BrokenBarrierError unless all the searches overlap
        if "/Patient/" in request.url:
            return 200, {}, json.dumps({"resourceType": "Patient", "id": PATIENT})
        resource_type = request.path_url.split("?")[0].rsplit("/", 1)[1]
        return 200, {}, json.dumps(searchset(resource_type))

    fhir.add_callback(responses.GET, re.compile(f"{BASE}/.*"), callback=slow)
    gathered = run(payload(), SETTINGS.replace(fhir_deadline_s=3.0, fhir_max_workers=len(TEMPLATES) - 1))
    assert len(gathered.fetched) == len(fhir.calls) == len(TEMPLATES) - 1
    assert not gathered.unavailable and not all_in_flight.broken


def test_render_fills_context_tokens_and_skips_missing_ones():
    assert render("Encounter/{{context.encounterId}}", {"encounterId": "e 1"}) == "Encounter/e%201"
    assert render("Encounter/{{context.encounterId}}", {"patientId": "p"}) is None


def test_call_summary_has_counts_but_no_token(fhir):
    mock_search(fhir, "conditions")
    prefetch = full_prefetch()
    del prefetch["conditions"]
    request = payload(prefetch)
    summary = call_summary(run(request), 200)
    assert summary["fetched"] == ["conditions"] and summary["fhirPages"] == 1
    assert summary["status"] == 200 and "fhirMs" in summary
    assert call_summary(None, status=412) == {"status": 412}
    assert TOKEN not in json.dumps(summary)


def order(reference: str | None) -> OrderedMedication:
    return OrderedMedication("MedicationRequest/o1", None, "order", medication_reference=reference)


@pytest.fixture
def fake_resolve_order(monkeypatch):
    monkeypatch.setattr(patient_data, "resolve_order",
                        lambda o, medication: replace(o, drug=medication["code"]["text"], medication_reference=None))


def test_resolve_references_uses_the_real_order_resolver(fhir):
    fhir.get(f"{BASE}/Medication/m1", json={"resourceType": "Medication", "id": "m1", "code": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2119365"}]}})
    [resolved] = resolve_references([order("Medication/m1")], payload(), SETTINGS, requests.Session())
    assert resolved.drug is not None and resolved.medication_reference is None


def test_resolve_references_reads_each_medication_once(fhir, fake_resolve_order):
    fhir.get(f"{BASE}/Medication/m1", json={"resourceType": "Medication", "id": "m1",
                                            "code": {"text": "esketamine"}})
    orders = resolve_references([order("Medication/m1"), order(f"{BASE}/Medication/m1"), order(None)],
                                payload(), SETTINGS, requests.Session())
    assert [o.drug for o in orders] == ["esketamine", "esketamine", None]
    assert len(fhir.calls) == 1


def test_resolve_references_fails_soft(fhir, fake_resolve_order):
    fhir.get(f"{BASE}/Medication/m1", status=500)
    orders = [order("Medication/m1"), order("https://other.example.org/fhir/Medication/m2")]
    assert resolve_references(orders, payload(), SETTINGS, requests.Session()) == orders


def test_history_medication_references_are_read_once_and_failures_stay_unresolved(fhir):
    from cds_service.fhir.patient_data import Gathered, history_medications
    from fhir_mappings.patient import PatientRecordBuilder
    statements = [{"resourceType": "MedicationStatement", "id": f"ms{n}", "medicationReference": {"reference": ref}}
                  for n, ref in enumerate(["Medication/m1", "Medication/m1", f"{BASE}/Medication/m2",
                                           "Medication/m3", "#contained", "Medication/in-bundle",
                                           "https://elsewhere.example/fhir/Medication/m4"])]
    resources = statements + [{"resourceType": "Medication", "id": "in-bundle"}]
    fhir.get(f"{BASE}/Medication/m1", json={"resourceType": "Medication", "id": "m1"})
    fhir.get(f"{BASE}/Medication/m2", json={"resourceType": "Medication", "id": "m2"})
    fhir.get(f"{BASE}/Medication/m3", status=404)
    builder = PatientRecordBuilder("p1")
    builder.add_all(resources)
    wanted, known = builder.medication_references(), builder.medications_known
    gathered = Gathered(resources={})
    found = history_medications(wanted, known, payload(), SETTINGS, gathered, requests.Session())
    assert sorted(r["id"] for r in found) == ["m1", "m2"]
    assert len(fhir.calls) == 3 and gathered.pages == 3  # never the other server, never twice
    assert history_medications(wanted, known, payload(server=False), SETTINGS, Gathered(resources={})) == []


def test_a_prefetched_latest_value_page_is_not_followed_nor_read_in_part(fhir):
    prefetch = full_prefetch()
    prefetch["bloodPressure"] = searchset("Observation", 20, next_url=f"{BASE}/Observation?page=2")
    prefetch["conditions"] = searchset("Condition", 1, next_url=f"{BASE}/Condition?page=2")
    fhir.get(f"{BASE}/Condition", json=searchset("Condition", 1))
    gathered = gather(payload(prefetch), TEMPLATES, REQUIRED_KEYS, SETTINGS, requests.Session(),
                      latest={"bloodPressure"})
    assert len(fhir.calls) == 1 and gathered.partial == {}  # only conditions' second page is read
    assert len(gathered.resources["bloodPressure"]) == 20
