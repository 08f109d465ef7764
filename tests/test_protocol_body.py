"""The request body decoder: the stdlib's values and 400s, with prefetched Bundle entries decoded lazily."""
from __future__ import annotations

import json
import tracemalloc

import pytest

from benchmarks import payloads
from cds_service.errors import ApiError
from cds_service.fhir.patient_data import check_patient
from cds_service.fhir.wire import EncodedBundle, bundle_resources, indexed_entries, next_link
from cds_service.protocol.body import decode_body, _stdlib
from fhir_mappings.patient import PatientRecordBuilder

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}


def bundle(*resources, **members) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", **members,
            "entry": [{"fullUrl": f"urn:{i}", "resource": r} for i, r in enumerate(resources)]}


def request_body(prefetch) -> bytes:
    return json.dumps({"hook": "order-sign", "context": {"patientId": "p1"}, "prefetch": prefetch}).encode()


def stdlib_outcome(raw: bytes):
    try:
        return "value", _stdlib(raw)
    except ApiError as error:
        return "error", str(error)


def outcome(raw: bytes, lazy: bool = True):
    try:
        return "value", as_read(materialised(decode_body(raw, lazy)))
    except ApiError as error:
        return "error", str(error)


def materialised(value):
    """Encoded bundles as dicts: members and an entry for each resource kept."""
    if isinstance(value, EncodedBundle):
        return {**{k: materialised(v) for k, v in value.items()},
                "entry": [{"resource": resource} for resource in bundle_resources(value)]}
    if isinstance(value, dict):
        return {k: materialised(v) for k, v in value.items()}
    return value


def as_read(value):
    """The stdlib's value as the data layer reads it (a Bundle's entries: their resources)."""
    if isinstance(value, dict) and value.get("resourceType") == "Bundle" and isinstance(value.get("entry"), list):
        if all(isinstance(entry, dict) for entry in value["entry"]):
            return {**{k: v for k, v in value.items() if k != "entry"}, "entry": bundle_resources(value)}
    if isinstance(value, dict):
        return {k: as_read(v) for k, v in value.items()}
    return value


SAME_AS_STDLIB = [
    request_body({"patient": PATIENT, "meds": bundle(PATIENT, {"resourceType": "Observation", "id": "o"})}),
    request_body({"empty": bundle(), "none": None, "outcome": {"resourceType": "OperationOutcome"}}),
    request_body({"odd": {"resourceType": "Bundle", "entry": [1, "x", None]}}),  # entries not objects
    request_body({"odd": {"resourceType": "Bundle", "entry": {"resource": PATIENT}}}),  # entry not a list
    request_body({"odd": {"resourceType": "Bundle", "entry": [{"resource": None}, {"resource": 5}, {}]}}),
    request_body({"odd": {"resourceType": ["Bundle"], "entry": []}}),
    request_body("not an object"),
    request_body({"x": bundle({"resourceType": "Observation", "valueQuantity": {"value": 1}},
                              link=[{"relation": "next", "url": "https://x/fhir?page=2"}])}),
    # what msgspec refuses and the stdlib accepts: a float beyond range, UTF-8 encoded surrogates
    request_body({"x": bundle({"resourceType": "Observation", "id": "o"})}).replace(b'"o"}', b'"o", "v": 1e999}'),
    request_body({"x": bundle({"resourceType": "Observation", "id": "\u00e9"})}).replace(b"\\u00e9", "é".encode()),
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b'"\xed\xa0\x80"'),
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b'"\\ud800"'),
    request_body({"x": bundle({"resourceType": "Observation", "id": 12345678901234567890123})}),
    b'{"prefetch": {"a": {"resourceType": "Bundle", "entry": []}, "a": null}, "prefetch": {"b": null}}',
    b"\xef\xbb\xbf" + request_body({"x": None}),  # a UTF-8 byte-order mark
    request_body({"x": None}).decode().encode("utf-16"),
    # what both refuse, with the same message
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b'"\xff"'),
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b"NaN"),
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b"Infinity"),
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b"01"),
    request_body({"x": None})[:-3], b"", b"   ", b"[1, 2]", b"null", b"{} []",
    request_body({"x": bundle({"resourceType": "Observation", "id": "s"})}).replace(b'"s"', b"9" * 5000),
    request_body({"x": None}).replace(b'"p1"', b"9" * 5000),  # past Python's 4,300 digits: a 400, not a 500
    b'{"prefetch": {"x": {"resourceType": "Bundle", "entry": [' + b"[" * 5000 + b"]" * 5000 + b"]}}}",
]


@pytest.mark.parametrize("raw", SAME_AS_STDLIB, ids=range(len(SAME_AS_STDLIB)))
def test_values_and_errors_are_the_stdlibs(raw):
    kind, expected = stdlib_outcome(raw)
    assert outcome(raw) == (kind, as_read(expected) if kind == "value" else expected)
    try:
        assert ("value", decode_body(raw)) == (kind, expected)
    except ApiError as error:
        assert ("error", str(error)) == (kind, expected)


def test_a_prefetched_bundle_stays_encoded_until_read():
    raw = request_body({"meds": bundle(PATIENT, {"resourceType": "Observation", "id": "o",
                                                 "subject": {"reference": "Patient/p2"}},
                                       link=[{"relation": "next", "url": "https://x/fhir?page=2"}])})
    value = decode_body(raw, lazy_prefetch=True)["prefetch"]["meds"]
    assert isinstance(value, EncodedBundle) and "entry" not in value
    assert next_link(value) == "https://x/fhir?page=2" and value["type"] == "searchset"
    with pytest.raises(ApiError, match=r"prefetch.meds.entry\[1\].resource.subject refers to another patient"):
        check_patient(((f"prefetch.meds.entry[{i}].resource", r) for i, r in indexed_entries(value)), "p1")
    assert [r["id"] for r in bundle_resources(value)] == ["p1", "o"]
    assert not isinstance(decode_body(raw)["prefetch"]["meds"], EncodedBundle)  # feedback: decoded whole


def test_a_large_prefetch_is_never_one_tree_of_dicts():
    """Decoding and mapping 2,000 resources holds far less than the stdlib's tree of them (memory, not time)."""
    raw = payloads.body(payloads.sized_request(2000))

    def peak(work) -> int:
        tracemalloc.start()
        try:
            work()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def lazily():
        prefetch = decode_body(raw, lazy_prefetch=True)["prefetch"]
        builder = PatientRecordBuilder("p1")
        for value in prefetch.values():
            builder.add_all(bundle_resources(value) if value and value.get("resourceType") == "Bundle" else [value])
        return builder.build()

    tree = peak(lambda: json.loads(raw))
    assert peak(lazily) < tree / 3
