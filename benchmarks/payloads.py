"""Generated order-sign requests of any size, shaped like the fixture patient ``met-two-classes``.

Each resource is a copy of one of that fixture's resources (MedicationStatement and
MedicationRequest with RxNorm code, dosage and timing; PHQ-9, blood pressure and weight
Observations; Condition; AllergyIntolerance) with its own id, drug, dose, date and value, so the
service does the work a real chart of that size makes it do. Deterministic: same size, same bytes.
"""
from __future__ import annotations

import copy
import json
from datetime import date, timedelta

import fixtures
from fixtures.build import DRUGS, RXNORM

TEMPLATE_PATIENT = "met-two-classes"
ORDER_DATE = date(2026, 11, 20)
# Share of each prefetch key in a generated chart (the rest of the resources are Patient + Encounter).
MIX = (("medicationStatements", 0.35), ("medicationRequests", 0.25), ("depressionScores", 0.15),
       ("bloodPressure", 0.1), ("weight", 0.05), ("conditions", 0.07), ("allergies", 0.03))
DOSES_MG = (10, 20, 50, 75, 100, 150, 200, 300)
HISTORY_DAYS = 8 * 365  # every chart spans eight years, however many records it has


def typical_request() -> dict:
    """The typical patient: 50 medication records, 30 observations, 4 conditions, 1 allergy."""
    return order_sign_request({"medicationStatements": 30, "medicationRequests": 20, "depressionScores": 15,
                               "bloodPressure": 10, "weight": 5, "conditions": 4, "allergies": 1})


def sized_request(resources: int) -> dict:
    """An order-sign request whose prefetch holds ``resources`` resources in all."""
    counts = {key: int(share * (resources - 2)) for key, share in MIX}
    counts["medicationStatements"] += resources - 2 - sum(counts.values())
    return order_sign_request(counts)


def order_sign_request(counts: dict[str, int]) -> dict:
    """The template's order-sign request (esketamine 56 mg draft) with ``counts[key]`` resources per key."""
    request = fixtures.load_request(TEMPLATE_PATIENT, "order-sign")
    prefetch = request["prefetch"]
    for key, count in counts.items():
        template = prefetch[key]
        entries = [_entry(template["entry"][i % len(template["entry"])], key, i, count) for i in range(count)]
        prefetch[key] = {**template, "total": count, "entry": entries}
    return request


def body(request: dict) -> bytes:
    return json.dumps(request).encode()


def resource_count(request: dict) -> int:
    return sum(len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
               for value in request["prefetch"].values() if value)


def _entry(template: dict, key: str, index: int, count: int) -> dict:
    entry = copy.deepcopy(template)
    resource = entry["resource"]
    resource["id"] = f"{resource['id']}-{index}"
    entry["fullUrl"] = f"{entry['fullUrl'].rsplit('/', 1)[0]}/{resource['id']}"
    when = ORDER_DATE - timedelta(days=7 + index * HISTORY_DAYS // count)
    if key in ("medicationStatements", "medicationRequests"):
        _vary_medication(resource, index, when)
    elif "effectiveDateTime" in resource:
        resource["effectiveDateTime"] = f"{when.isoformat()}T09:30:00-05:00"
        _vary_value(resource, index)
    return entry


def _vary_medication(resource: dict, index: int, start: date) -> None:
    drug = list(DRUGS)[index % len(DRUGS)]
    rxcui, name = DRUGS[drug]
    mg = DOSES_MG[index % len(DOSES_MG)]
    resource["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": rxcui, "display": drug}],
                                             "text": name.format(mg)}
    dosage = resource.get("dosage") or resource.get("dosageInstruction")
    dosage[0]["doseAndRate"][0]["doseQuantity"]["value"] = mg
    dosage[0]["text"] = f"{mg} mg by mouth 1 time(s) daily"
    if "effectivePeriod" in resource:
        resource["effectivePeriod"] = {"start": start.isoformat(), "end": (start + timedelta(days=70)).isoformat()}
    if "authoredOn" in resource:
        resource["authoredOn"] = start.isoformat()


def _vary_value(resource: dict, index: int) -> None:
    if "valueInteger" in resource:
        resource["valueInteger"] = 8 + index % 19
    elif "valueQuantity" in resource:
        resource["valueQuantity"]["value"] = round(resource["valueQuantity"]["value"] * (1 + index % 7 / 100), 1)
    for component in resource.get("component", []):
        component["valueQuantity"]["value"] += index % 15
