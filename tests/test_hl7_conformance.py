"""The running service against HL7's definitions (tests/hl7_oracle.py): discovery, prefetch, feedback, hooks."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from cds_service import create_app
from tests.hl7_oracle import check

HOOKS = {"order-select": "CDSHookOrderSelectContext", "order-sign": "CDSHookOrderSignContext"}
REQUESTS = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "fixtures" / "requests").glob("*.json"))
# Prefetch tokens (spec §1.4): the order-select/order-sign context tokens, and the user tokens.
TOKENS = {"context.userId", "context.patientId", "context.encounterId",
          "userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
RESOURCE_TYPE = r"[A-Z][A-Za-z]+"
DATE_PREFIX = re.compile(r"([a-z]{2})\d{4}")


@pytest.fixture(scope="module")
def client():
    return create_app({"auth": "off"}).test_client()


@pytest.fixture(scope="module")
def services(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    return response.get_json()["services"]


def test_discovery_validates_against_cdshooksservices(client):
    assert check(client.get("/cds-services").get_json(), "CDSHooksServices", allow=("version",)) == []


def test_every_service_is_for_order_select_or_order_sign(services):
    assert services and {s["hook"] for s in services} <= set(HOOKS)
    assert all(s["id"] == f"ketamine-esketamine-{s['hook']}" for s in services)


def template_problems(template: str) -> list[str]:
    """Where a prefetch template leaves the recommended query subset (spec §1.4) or uses a foreign token."""
    problems = [f"token {{{{{t}}}}}" for t in re.findall(r"{{(.*?)}}", template) if t.strip() not in TOKENS]
    path, _, query = template.partition("?")
    if not query:
        return problems + ([] if re.fullmatch(rf"{RESOURCE_TYPE}/(\{{\{{[^}}]+\}}\}}|[A-Za-z0-9\-.]+)", path)
                           else [f"not an instance read: {path}"])
    if not re.fullmatch(RESOURCE_TYPE, path):
        problems.append(f"not a type-level search: {path}")
    for name, value in parse_qsl(query, keep_blank_values=True):
        base, _, modifier = name.partition(":")
        if name == "_count":
            problems += [] if value.isdigit() else [f"_count={value}"]
        elif name == "_sort":
            problems += [] if re.fullmatch(r"-?[a-z][\w-]*(,-?[a-z][\w-]*)*", value) else [f"_sort={value}"]
        elif base.startswith("_") or "." in base or modifier not in ("", "in") or not re.fullmatch(r"[a-z][a-z0-9-]*", base):
            problems.append(f"parameter {name} (no _include, chaining or other modifiers)")
        elif (m := DATE_PREFIX.match(value)) and m[1] not in ("eq", "lt", "gt", "ge", "le"):
            problems.append(f"date prefix {m[1]} in {name}={value}")
    return problems


def test_prefetch_templates_use_the_recommended_subset_and_allowed_tokens(services):
    problems = {f"{s['id']}.{key}": template_problems(t) for s in services for key, t in s.get("prefetch", {}).items()}
    assert {key: found for key, found in problems.items() if found} == {}


@pytest.mark.parametrize("template,bad", [
    ("Patient/{{context.patientId}}", False), ("Observation?patient={{context.patientId}}&date=ge2025-01-01", False),
    ("MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication", True),
    ("Observation?subject.name=x", True), ("Observation?date=sa2025-01-01", True),
    ("MedicationRequest?_id={{context.draftOrders.MedicationRequest.id}}", True)])
def test_template_check_can_fail(template, bad):
    assert bool(template_problems(template)) == bad


def feedback_bodies():
    card, suggestion, now = str(uuid.uuid4()), str(uuid.uuid4()), "2026-11-20T10:15:00Z"
    return {
        "accepted": {"feedback": [{"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
                                   "outcomeTimestamp": now}]},
        "overridden": {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": now, "overrideReason": {
            "reason": {"code": "benefit-outweighs-risk", "system": "urn:trd-cds:override-reason",
                       "display": "Benefit outweighs risk"}, "userComment": "Discussed with the patient"}}]},
        "comment only": {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": now,
                                       "overrideReason": {"userComment": "Not relevant"}}]},
    }


@pytest.mark.parametrize("hook", sorted(HOOKS))
@pytest.mark.parametrize("kind", sorted(feedback_bodies()))
def test_feedback_bodies_validate_and_are_accepted(client, hook, kind):
    body = feedback_bodies()[kind]
    assert check(body, "CDSHooksFeedback") == []
    assert client.post(f"/cds-services/ketamine-esketamine-{hook}/feedback", json=body).status_code == 200


def load(file_name: str) -> dict:
    import fixtures
    return fixtures.load_request_file(file_name)


def test_there_are_fixture_requests_for_both_hooks():
    assert {name.split(".")[-2] for name in REQUESTS} == set(HOOKS)


@pytest.mark.parametrize("file_name", REQUESTS)
def test_fixture_request_validates_against_hl7_request_and_context(file_name):
    request = load(file_name)
    assert request["hook"] in HOOKS
    assert check(request, "CDSHooksRequest") == []
    assert check(request["context"], HOOKS[request["hook"]]) == []


def card_problems(card: dict) -> list[str]:
    """What the models cannot express (spec §1.5) and what our service promises on every card."""
    problems = [] if len(card.get("summary", "")) < 140 else [f"summary is {len(card['summary'])} characters"]
    if card.get("source", {}).get("topic", {}).get("system") != "urn:trd-cds:card-topic":
        problems.append(f"source.topic {card.get('source', {}).get('topic')} is not in urn:trd-cds:card-topic")
    if "uuid" not in card:
        problems.append("no uuid (feedback needs it)")
    if card.get("indicator") in ("warning", "critical") and not card.get("overrideReasons"):
        problems.append(f"{card['indicator']} card without overrideReasons")
    return problems


@pytest.mark.parametrize("file_name", REQUESTS)
def test_hook_response_validates_against_hl7_response(client, file_name):
    request = load(file_name)
    response = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    body = response.get_json()
    assert check(body, "CDSHooksResponse") == []
    problems = {card.get("summary", i): card_problems(card) for i, card in enumerate(body["cards"])}
    assert {summary: found for summary, found in problems.items() if found} == {}
