"""The HL7 oracle accepts HL7's own examples and rejects broken variants, each for the named reason."""
from __future__ import annotations

import copy
import json

import pytest

from tests.hl7_oracle import HL7, check

EXAMPLES = {"Binary-CDSHookServices.json": "CDSHooksServices", "Binary-CDSHooksRequestPV.json": "CDSHooksRequest",
            "Binary-CDSHooksResponse.json": "CDSHooksResponse"}
UUID = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
SUGGESTION = {"label": "Use esketamine 56 mg", "isRecommended": True,
              "actions": [{"type": "create", "description": "Order 56 mg",
                           "resource": {"resourceType": "MedicationRequest", "status": "draft"}}]}
FEEDBACK = {"card": UUID, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:16:00Z",
            "overrideReason": {"userComment": "discussed with psychiatrist"}}


def example(name: str) -> dict:
    return json.loads((HL7 / "examples" / name).read_text())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_hl7_examples_pass(name):
    assert check(example(name), EXAMPLES[name]) == []


def test_a_valid_feedback_body_passes():
    accepted = {**FEEDBACK, "outcome": "accepted", "acceptedSuggestions": [{"id": UUID}]}
    del accepted["overrideReason"]
    assert check({"feedback": [FEEDBACK, accepted]}, "CDSHooksFeedback") == []


def card_doc(**changes):
    """HL7's example response with the first card changed (a value of None deletes the element)."""
    doc = example("Binary-CDSHooksResponse.json")
    doc["cards"][0].update(changes)
    doc["cards"][0] = {key: value for key, value in doc["cards"][0].items() if value is not None}
    return doc


def suggested(*suggestions, **card):
    return card_doc(suggestions=[copy.deepcopy(s) for s in suggestions], **card)


def with_action(**changes):
    action = {key: value for key, value in {**SUGGESTION["actions"][0], **changes}.items() if value is not None}
    return suggested({**SUGGESTION, "actions": [action]}, selectionBehavior="any")


def request_doc(**changes):
    doc = {**example("Binary-CDSHooksRequestPV.json"), **changes}
    return {key: value for key, value in doc.items() if value is not None}


def broken_links():
    doc = card_doc()
    doc["cards"][0]["links"][0]["appContext"] = "{}"
    return doc


def with_null():
    doc = card_doc()
    doc["cards"][0]["source"]["icon"] = None
    return doc


BROKEN = {
    "missing summary": (card_doc(summary=None), "CDSHooksResponse", "cards[0].summary: required"),
    "indicator urgent": (card_doc(indicator="urgent"), "CDSHooksResponse", "'urgent' is not in required value set CDSIndicator"),
    "missing indicator": (card_doc(indicator=None), "CDSHooksResponse", "cards[0].indicator: required"),
    "cds-resp-6": (suggested(SUGGESTION), "CDSHooksResponse", "cards[0]: cds-resp-6"),
    "cds-resp-1": (suggested(SUGGESTION, SUGGESTION, selectionBehavior="at-most-one"), "CDSHooksResponse", "cards[0]: cds-resp-1"),
    "cds-resp-4": (card_doc(overrideReasons=[{"code": "x", "system": "urn:x"}]), "CDSHooksResponse", "cards[0].overrideReasons[0]: cds-resp-4"),
    "cds-resp-5": (with_action(description=None), "CDSHooksResponse", "cards[0].suggestions[0]: cds-resp-5"),
    "cds-resp-2": (with_action(type="delete", resourceId="MedicationRequest/1"), "CDSHooksResponse",
                   "cards[0].suggestions[0].actions[0]: cds-resp-2"),
    "cds-resp-3": (broken_links(), "CDSHooksResponse", "cards[0].links[0]: cds-resp-3"),
    "action type": (with_action(type="CREATE"), "CDSHooksResponse", "not in required value set CDSActionType"),
    "empty string": (card_doc(detail=""), "CDSHooksResponse", 'cards[0].detail: empty "" is not allowed'),
    "null element": (with_null(), "CDSHooksResponse", "cards[0].source.icon: null is not allowed"),
    "unknown element": (card_doc(severity="high"), "CDSHooksResponse", "cards[0].severity: unknown element"),
    "summary as array": (card_doc(summary=["a", "b"]), "CDSHooksResponse", "cards[0].summary: max 1"),
    "card uuid": (card_doc(uuid="card-1"), "CDSHooksResponse", "cards[0].uuid: 'card-1' is not a valid uuid"),
    "relative icon": (card_doc(source={"label": "x", "icon": "img/icon.png"}), "CDSHooksResponse", "is not a valid url"),
    "cds-r-1": (request_doc(fhirServer=None), "CDSHooksRequest", "(root): cds-r-1"),
    "hookInstance": (request_doc(hookInstance="1"), "CDSHooksRequest", "hookInstance: '1' is not a valid uuid"),
    "expires_in string": (request_doc(fhirAuthorization={**example("Binary-CDSHooksRequestPV.json")["fhirAuthorization"],
                                                         "expires_in": "300"}), "CDSHooksRequest",
                          "fhirAuthorization.expires_in: must be a JSON integer"),
    "context patientId": (request_doc(context={"userId": "Practitioner/example"}), "CDSHooksRequest", "context.patientId: required"),
    "cds-fb-1": ({"feedback": [{**FEEDBACK, "outcome": "ignored"}]}, "CDSHooksFeedback", "feedback[0]: cds-fb-1"),
    "cds-fb-2": ({"feedback": [{**FEEDBACK, "outcome": "accepted"}]}, "CDSHooksFeedback", "feedback[0]: cds-fb-2"),
    "cds-fb-3": ({"feedback": [{**FEEDBACK, "overrideReason": {"extension": {"org.example.x": 1}}}]}, "CDSHooksFeedback",
                 "feedback[0].overrideReason: cds-fb-3"),
    "feedback timestamp": ({"feedback": [{**FEEDBACK, "outcomeTimestamp": "2026-11-20"}]}, "CDSHooksFeedback",
                           "is not a valid instant"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_variant_is_rejected_for_its_reason(case):
    document, model_name, expected = BROKEN[case]
    problems = check(document, model_name)
    assert any(expected in problem for problem in problems), problems


def test_allow_list_and_extension():
    services = example("Binary-CDSHookServices.json")
    services["services"][0]["version"] = "2.0.1"
    services["services"][0]["extension"] = {"org.example.note": "kept"}
    assert check(services, "CDSHooksServices") == ["services[0].version: unknown element (not in CDSHooksServices)"]
    assert check(services, "CDSHooksServices", allow=("version",)) == []


def test_sanctioned_empties_and_nulls():
    assert check({"cards": []}, "CDSHooksResponse") == []
    assert check({"services": []}, "CDSHooksServices") == []
    assert check(request_doc(prefetch={"patientToGreet": None}), "CDSHooksRequest") == []
    assert check({"cards": [], "systemActions": []}, "CDSHooksResponse") == ["systemActions: empty [] is not allowed"]
