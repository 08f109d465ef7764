"""Fuzzing: schemathesis against the served OpenAPI document, and mutated fixture requests.

Every answer must be 2xx or 4xx, a non-2xx answer a FHIR OperationOutcome, never a 5xx or a
traceback. The app runs with auth off (authentication has its own tests) and an offline HTTP
session, so a generated ``fhirServer`` is never contacted: its reads fail like an unreachable server.
"""
from __future__ import annotations

import copy
import json
from unittest import mock

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

import fixtures
from cds_service import create_app
from cds_service.fhir import client as fhir_client
from cds_service.protocol.services import SERVICES

SERVICE_PATHS = {service.hook: f"/cds-services/{service.id}" for service in SERVICES.values()}
REQUESTS = [fixtures.load_request_file(name) for name in fixtures.request_files()]
NESTING_MARK = "\u0000nest\u0000"
FUZZ_SETTINGS = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))


class OfflineAdapter(requests.adapters.BaseAdapter):
    """Fails every request as a refused connection would."""

    def send(self, request, **kwargs):
        raise requests.ConnectionError("offline: fuzz tests contact no server")

    def close(self):
        pass


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    offline = requests.Session()
    for scheme in ("http://", "https://"):
        offline.mount(scheme, OfflineAdapter())
    database = tmp_path_factory.mktemp("fuzz") / "trd-cds.db"
    with mock.patch.object(fhir_client, "shared_session", lambda: offline):
        yield create_app({"auth": "off", "fhir_retries": 0, "log_level": "WARNING",
                          "database_url": f"sqlite:///{database}"})


def assert_answered_cleanly(status: int, body: bytes) -> None:
    """2xx, or 4xx with an OperationOutcome; no trace either way."""
    assert status < 500, body[:1000]
    assert b"Traceback" not in body and b'File "' not in body, body[:1000]
    if status >= 300:
        document = json.loads(body)
        assert document["resourceType"] == "OperationOutcome" and document["issue"], document


# --- schemathesis: discovery, invocation and feedback as the OpenAPI document describes them ---

@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The served document as it applies with auth off: no operation asks for a JWT."""
    document = fuzz_app.test_client().get("/openapi.json").get_json()
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = fuzz_app
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=20)
def test_schemathesis(case):
    # Schema-valid requests may still be refused by checks a schema cannot express (an order-select
    # selection must name a draft order, a timestamp must be a real date, required data must exist).
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    assert_answered_cleanly(response.status_code, response.content)


# --- mutated fixture requests ---

def _locations(node, found: list) -> list:
    """(container, key) of every value inside ``node``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found.append((node, key))
        _locations(value, found)
    return found


def _bundles(node, found: list) -> list:
    if isinstance(node, dict):
        if node.get("resourceType") == "Bundle":
            found.append(node)
        for value in node.values():
            _bundles(value, found)
    elif isinstance(node, list):
        for value in node:
            _bundles(value, found)
    return found


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3),
                           max_leaves=8)
odd_text = st.sampled_from(["", " ", "\ud800", "\u202eevil", "\u0000", "名前", "🧪" * 50, "Patient/../x",
                            "{{context.patientId}}", "x" * 100_000, "é" * 1_000_000])
bad_entries = st.sampled_from([{}, "entry", [1, "x", None], [{"resource": []}], [{"resource": "Patient/1"}],
                               [{"resource": {}}], [{"resource": {"resourceType": 7}}],
                               [{"fullUrl": "x"}], [{"resource": {"resourceType": "Bundle", "entry": [{}]}}]])


def _mutate(document: dict, data) -> str:
    """Apply 1–3 random mutations to ``document`` (in place); return the request body text."""
    nesting = 0
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["drop", "duplicate", "retype", "odd-text", "nest", "bundle"]))
        if kind == "bundle" and _bundles(document, []):
            bundle = data.draw(st.sampled_from(_bundles(document, [])))
            bundle[data.draw(st.sampled_from(["entry", "link", "resourceType"]))] = copy.deepcopy(data.draw(bad_entries))
            continue
        locations = _locations(document, [])
        if not locations:
            break
        container, key = data.draw(st.sampled_from(locations))
        if kind == "drop":
            del container[key]
        elif kind == "duplicate":
            if isinstance(container, list):
                container.insert(key, copy.deepcopy(container[key]))
            else:  # the same member under a near-identical name
                container[f"{key} "] = copy.deepcopy(container[key])
        elif kind == "retype":
            container[key] = data.draw(json_values)
        elif kind == "odd-text":
            container[key] = data.draw(odd_text)
        else:
            nesting = data.draw(st.sampled_from([64, 900, 5000, 100_000]))
            container[key] = NESTING_MARK
    text = json.dumps(document)
    if nesting:
        text = text.replace(json.dumps(NESTING_MARK), "[" * nesting + "]" * nesting, 1)
    if data.draw(st.booleans()):  # a duplicated JSON key: the later value wins in Python's parser
        text = text.replace('"hook": ', '"hook": 1, "hook": ', 1)
    return text


@settings(FUZZ_SETTINGS, max_examples=2000)
@given(data=st.data())
def test_mutated_fixture_requests(fuzz_app, data):
    document = copy.deepcopy(data.draw(st.sampled_from(REQUESTS)))
    own_service = data.draw(st.integers(0, 9)) > 0  # now and then the other hook's service
    path = SERVICE_PATHS[document["hook"] if own_service else data.draw(st.sampled_from(sorted(SERVICE_PATHS)))]
    body = _mutate(document, data).encode("utf-8", "surrogatepass")
    response = fuzz_app.test_client().post(path, data=body, content_type="application/json")
    assert_answered_cleanly(response.status_code, response.get_data())
    if response.status_code == 200:
        assert isinstance(response.get_json()["cards"], list)
