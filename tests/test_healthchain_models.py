"""Every fixture response validates with HealthChain's CDS Hooks response models (a widely used client).

HealthChain requires ``Suggestion.isRecommended`` (and ``Link.autoLaunchable``), which CDS Hooks 2.0
makes optional: the service sends them, so its clients accept every card. Not an oracle of the spec
(../shared/spec/real-clients.md); the HL7 checks are tests/test_hl7_conformance.py. HealthChain runs
in its own venv (``TRD_CDS_HEALTHCHAIN_VENV``, default ``.venv-healthchain``, made from
requirements/healthchain.lock when missing): its pins clash with ours (requirements/healthchain.in).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fixtures

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "healthchain.lock"
NAMES = sorted(fixtures.expected())
# Reads a JSON list of response bodies; prints, per body, HealthChain's validation errors ([] if valid).
VALIDATE = """
import json, sys
from pydantic import ValidationError
from healthchain.models.responses.cdsresponse import CDSResponse
found = []
for body in json.load(sys.stdin):
    try:
        CDSResponse.model_validate(body)
        found.append([])
    except ValidationError as error:
        found.append([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()])
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def healthchain_python() -> Path:
    venv = Path(os.environ.get("TRD_CDS_HEALTHCHAIN_VENV", REPO / ".venv-healthchain"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--require-hashes", "-r", str(LOCK)],
                       check=True)
    return python


def healthchain_errors(python: Path, bodies: list[dict]) -> list[list[str]]:
    done = subprocess.run([str(python), "-c", VALIDATE], input=json.dumps(bodies), capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def responses() -> list[dict]:
    """The service's answer to every fixture request."""
    from cds_service import create_app

    client = create_app({"auth": "off", "database_url": "memory://"}).test_client()
    bodies = []
    for name in NAMES:
        request = fixtures.load_request_file(name)
        response = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)
        assert response.status_code == 200, name
        bodies.append(response.get_json())
    return bodies


def test_every_fixture_response_validates_with_healthchain(healthchain_python, responses):
    errors = healthchain_errors(healthchain_python, responses)
    assert {name: found for name, found in zip(NAMES, errors) if found} == {}
    cards = [card for body in responses for card in body["cards"]]
    assert len(cards) > 100 and any(card.get("suggestions") for card in cards)  # the fixtures exercise both


def test_healthchain_refuses_a_suggestion_without_is_recommended(healthchain_python, responses):
    """The check above can fail: HealthChain's models reject what CDS Hooks 2.0 allows."""
    stripped = copy.deepcopy(next(body for body in responses if any(c.get("suggestions") for c in body["cards"])))
    for card in stripped["cards"]:
        for suggestion in card.get("suggestions", []):
            del suggestion["isRecommended"]
    (errors,) = healthchain_errors(healthchain_python, [stripped])
    assert errors and all("isRecommended" in error for error in errors)
