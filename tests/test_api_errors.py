"""Bad requests: each kind gets its status and an OperationOutcome naming the offending field."""
from __future__ import annotations

import copy
import io
import json

import pytest

from cds_service import create_app

SIGN = "/cds-services/ketamine-esketamine-order-sign"
SELECT = "/cds-services/ketamine-esketamine-order-select"
ORDER = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "draft", "intent": "order",
         "subject": {"reference": "Patient/p-1"},
         "medicationCodeableConcept": {"text": "sertraline 50 MG Oral Tablet"}}
VALID = {
    "hook": "order-select",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/dr-1",
        "patientId": "p-1",
        "selections": ["MedicationRequest/mr-1"],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ORDER}]},
    },
}


def _set(body: dict, path: str, value) -> dict:
    """Copy of ``body`` with ``path`` ("a.b[0].c") set to ``value``, or removed when value is DROP."""
    body = copy.deepcopy(body)
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    parent = body
    for key in keys[:-1]:
        parent = parent[key]
    if value is DROP:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return body


DROP = object()
AUTH = {"access_token": "opaque-token", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "trd-cds"}

# (case id, url, body, expected field named in issue[0].expression)
BAD_BODIES = [
    ("missing hook", SELECT, _set(VALID, "hook", DROP), "hook"),
    ("hook of the other service", SIGN, VALID, "hook"),
    ("unknown hook", SELECT, _set(VALID, "hook", "patient-view"), "hook"),
    ("hook not a string", SELECT, _set(VALID, "hook", 7), "hook"),
    ("missing hookInstance", SELECT, _set(VALID, "hookInstance", DROP), "hookInstance"),
    ("non-UUID hookInstance", SELECT, _set(VALID, "hookInstance", "1234"), "hookInstance"),
    ("missing context", SELECT, _set(VALID, "context", DROP), "context"),
    ("context not an object", SELECT, _set(VALID, "context", ["p-1"]), "context"),
    ("missing patientId", SELECT, _set(VALID, "context.patientId", DROP), "context.patientId"),
    ("patientId with a type", SELECT, _set(VALID, "context.patientId", "Patient/p-1"), "context.patientId"),
    ("patientId a number", SELECT, _set(VALID, "context.patientId", 12), "context.patientId"),
    ("userId not Type/id", SELECT, _set(VALID, "context.userId", "dr-1"), "context.userId"),
    ("userId of a patient", SELECT, _set(VALID, "context.userId", "Patient/p-1"), "context.userId"),
    ("missing userId", SELECT, _set(VALID, "context.userId", DROP), "context.userId"),
    ("encounterId malformed", SELECT, _set(VALID, "context.encounterId", "enc 1"), "context.encounterId"),
    ("missing draftOrders", SELECT, _set(VALID, "context.draftOrders", DROP), "context.draftOrders"),
    ("draftOrders not a Bundle", SELECT, _set(VALID, "context.draftOrders", ORDER),
     "context.draftOrders.resourceType"),
    ("draftOrders a string", SELECT, _set(VALID, "context.draftOrders", "MedicationRequest/mr-1"),
     "context.draftOrders"),
    ("draftOrders entry not a list", SELECT, _set(VALID, "context.draftOrders.entry", {"resource": ORDER}),
     "context.draftOrders.entry"),
    ("draftOrders entry without resource", SELECT, _set(VALID, "context.draftOrders.entry", [{}]),
     "context.draftOrders.entry[0].resource"),
    ("draft order without resourceType", SELECT,
     _set(VALID, "context.draftOrders.entry[0].resource.resourceType", DROP),
     "context.draftOrders.entry[0].resource.resourceType"),
    ("missing selections", SELECT, _set(VALID, "context.selections", DROP), "context.selections"),
    ("empty selections", SELECT, _set(VALID, "context.selections", []), "context.selections"),
    ("selection not Type/id", SELECT, _set(VALID, "context.selections", ["mr-1"]), "context.selections[0]"),
    ("selection not in draftOrders", SELECT, _set(VALID, "context.selections", ["MedicationRequest/other"]),
     "context.selections[0]"),
    ("fhirAuthorization without fhirServer", SELECT, _set(VALID, "fhirAuthorization", AUTH), "fhirServer"),
    ("fhirAuthorization without access_token", SELECT,
     _set(_set(_set(VALID, "fhirAuthorization", AUTH), "fhirServer", "https://ehr.example.org/fhir"),
          "fhirAuthorization.access_token", DROP), "fhirAuthorization.access_token"),
    ("fhirAuthorization token_type MAC", SELECT,
     _set(_set(_set(VALID, "fhirAuthorization", AUTH), "fhirServer", "https://ehr.example.org/fhir"),
          "fhirAuthorization.token_type", "MAC"), "fhirAuthorization.token_type"),
    ("fhirServer not a URL", SELECT, _set(VALID, "fhirServer", "ehr.example.org"), "fhirServer"),
    ("prefetch not an object", SELECT, _set(VALID, "prefetch", ["Patient/p-1"]), "prefetch"),
    ("prefetch value a string", SELECT, _set(VALID, "prefetch", {"patient": "Patient/p-1"}), "prefetch.patient"),
    ("body a JSON array", SELECT, [VALID], "(body)"),
    ("body a JSON string", SELECT, "order", "(body)"),
]


@pytest.mark.parametrize("url,body,field", [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_bad_request_bodies_get_400_naming_the_field(client, url, body, field):
    response = client.post(url, json=body)
    assert response.status_code == 400, response.get_json()
    _assert_outcome(response, field)


def _assert_outcome(response, field):
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["expression"] == [field]
    assert issue["diagnostics"]
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("data,content_type,status,field", [
    (b"{not json", "application/json", 400, "(body)"),
    (b"", "application/json", 400, "(body)"),
    (b"   ", "application/json", 400, "(body)"),
    (b"\xff\xfe{}", "application/json", 400, "(body)"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "(body)"),
    (b'{"hook": NaN}', "application/json", 400, "(body)"),
    (b'{"hook": -Infinity}', "application/json", 400, "(body)"),
    (json.dumps(VALID).encode(), "text/plain", 415, "Content-Type"),
    (json.dumps(VALID).encode(), None, 415, "Content-Type"),
    (json.dumps(VALID).encode(), "application/x-www-form-urlencoded", 415, "Content-Type"),
], ids=["invalid JSON", "empty body", "blank body", "not UTF-8", "nested too deep", "NaN", "Infinity", "text/plain",
        "no content type", "form encoded"])
def test_unreadable_bodies(client, data, content_type, status, field):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(SELECT, data=data, headers=headers)
    assert response.status_code == status
    _assert_outcome(response, field)


def test_body_over_the_configured_limit_is_413():
    client = create_app({"auth": "off", "max_body_bytes": 2000}).test_client()
    body = _set(VALID, "context.draftOrders.entry[0].resource.note", [{"text": "x" * 5000}])
    response = client.post(SELECT, json=body)
    assert response.status_code == 413
    assert response.get_json()["issue"][0]["code"] == "too-long"


def test_default_limit_is_5_mb(client):
    body = _set(VALID, "context.draftOrders.entry[0].resource.note", [{"text": "x" * 5_300_000}])
    assert client.post(SELECT, json=body).status_code == 413


CHUNKED = {"wsgi.input_terminated": True}  # what gunicorn sets for a chunked body (no CONTENT_LENGTH)


@pytest.mark.parametrize("size", [6 * 2**20, 10 * 2**20])
def test_chunked_body_over_the_limit_is_413_like_with_a_content_length(client, size):
    """Transfer-Encoding: chunked (no Content-Length): a valid 6 MB request and 10 MB of junk alike."""
    body = json.dumps(_set(VALID, "context.draftOrders.entry[0].resource.note", [{"text": "x" * size}])).encode()
    for data in (body, b"x" * size):
        response = client.post(SELECT, input_stream=io.BytesIO(data), content_type="application/json",
                               headers={"Transfer-Encoding": "chunked"}, environ_overrides=CHUNKED)
        assert response.status_code == 413
        assert response.get_json()["issue"][0]["code"] == "too-long"


def test_chunked_body_within_the_limit_is_read_whole():
    client = create_app({"auth": "off", "max_body_bytes": len(json.dumps(VALID))}).test_client()
    for data in (json.dumps(VALID).encode(), b"x" * len(json.dumps(VALID))):
        response = client.post(SELECT, input_stream=io.BytesIO(data), content_type="application/json",
                               headers={"Transfer-Encoding": "chunked"}, environ_overrides=CHUNKED)
        assert response.status_code == (200 if data.startswith(b"{") else 400)


NULLED = [("fhirServer", None), ("fhirAuthorization", None), ("prefetch", None), ("context.encounterId", None)]


def test_null_optional_fields_are_treated_as_absent(client):
    """pydantic/Jackson defaults: ``"fhirServer": null`` etc. mean absent (README "Requests")."""
    body = VALID
    for path, value in NULLED:
        body = _set(body, path, value)
    assert client.post(SELECT, json=body).get_json() == client.post(SELECT, json=VALID).get_json()
    feedback = {"feedback": [{"card": VALID["hookInstance"], "outcome": "overridden", "acceptedSuggestions": None,
                              "overrideReason": {"reason": None, "userComment": "not now"},
                              "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}
    assert client.post(f"{SELECT}/feedback", json=feedback).status_code == 200


@pytest.mark.parametrize("path", ["hookInstance", "context", "context.patientId", "context.userId",
                                  "context.draftOrders", "context.selections"])
def test_null_required_fields_stay_a_400_naming_them(client, path):
    response = client.post(SELECT, json=_set(VALID, path, None))
    assert response.status_code == 400
    _assert_outcome(response, path)


def test_unknown_service_is_404_naming_the_id(client):
    response = client.post("/cds-services/no-such-service", json=VALID)
    assert response.status_code == 404
    _assert_outcome(response, "id")


@pytest.mark.parametrize("method,url", [("get", SELECT), ("put", SELECT), ("delete", SIGN),
                                        ("post", "/cds-services"), ("get", SELECT + "/feedback")])
def test_wrong_method_is_405_with_operation_outcome(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "Allow" in response.headers


def test_unknown_path_is_404_operation_outcome(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_several_problems_are_all_named(client):
    body = _set(_set(VALID, "hookInstance", "x"), "context.patientId", DROP)
    fields = {issue["expression"][0] for issue in client.post(SELECT, json=body).get_json()["issue"]}
    assert {"hookInstance", "context.patientId"} <= fields
