"""Interacting medicines and mood stabilizers charted by brand name under a local code (decision-rules
§1 and §2.9 v2: brand names count), end to end through the app."""
from __future__ import annotations

import copy

import pytest

import fixtures

PATIENT = "Patient/trd-cds-met-two-classes"


def _with(request: dict, key: str, resource: dict) -> dict:
    request = copy.deepcopy(request)
    bundle = request["prefetch"][key]
    bundle.setdefault("entry", []).append({"resource": resource})
    bundle["total"] = len(bundle["entry"])
    return request


def _local_order(text: str) -> dict:
    """An active prescription known only by its text under a site's own code."""
    return {"resourceType": "MedicationRequest", "id": "local-" + text.split()[0].lower(), "status": "active",
            "intent": "order", "subject": {"reference": PATIENT}, "authoredOn": "2026-11-01",
            "medicationCodeableConcept": {"coding": [{"system": "urn:example:local-drug", "code": "LD-1"}],
                                          "text": text}}


def _cards(client, request: dict) -> dict:
    response = client.post("/cds-services/ketamine-esketamine-order-sign", json=request)
    assert response.status_code == 200, response.get_json()
    return {card["source"]["topic"]["code"]: card for card in response.get_json()["cards"]}


@pytest.mark.parametrize("text, ingredient", [
    ("XANAX 0.5MG TAB", "alprazolam"), ("Ativan 1mg", "lorazepam"), ("Klonopin 1 mg", "clonazepam"),
    ("Ambien 10 mg", "zolpidem"), ("OxyContin 10 mg", "oxycodone"), ("Percocet 5-325", "oxycodone"),
    ("Norco 10-325", "hydrocodone"), ("suboxone 8-2 mg", "buprenorphine"), ("MS Contin 15 mg", "morphine"),
    ("Ritalin 10mg", "methylphenidate"), ("Adderall XR 20 mg", "amphetamine"),
    ("Vyvanse 30 mg", "lisdexamfetamine"),
])
def test_brand_named_interacting_medicine_gives_the_interaction_card(client, text, ingredient):
    request = fixtures.load_request("met-two-classes", "order-sign")
    assert "drug-interaction" not in _cards(client, request)
    card = _cards(client, _with(request, "medicationRequests", _local_order(text)))["drug-interaction"]
    assert card["indicator"] == "warning" and ingredient in card["detail"]


@pytest.mark.parametrize("text, ingredient", [
    ("SEROquel XR 300mg", "quetiapine"), ("Lamictal 100 mg", "lamotrigine"), ("Latuda 40mg", "lurasidone"),
    ("Vraylar 1.5 mg", "cariprazine"), ("Depakote ER 500 mg", "valproic acid"), ("Lithobid 300 mg", "lithium"),
])
def test_brand_named_mood_stabilizer_is_named_on_the_bipolar_caution(client, text, ingredient):
    bipolar = {"resourceType": "Condition", "id": "bipolar-1", "subject": {"reference": PATIENT},
               "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                              "code": "active"}]},
               "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F31.9"}]}}
    request = _with(fixtures.load_request("met-two-classes", "order-sign"), "conditions", bipolar)
    assert _cards(client, request)["diagnosis-caution"]["summary"].endswith("no mood stabilizer active")
    caution = _cards(client, _with(request, "medicationRequests", _local_order(text)))["diagnosis-caution"]
    assert caution["summary"].endswith(f"mood stabilizer active: {ingredient}")
