"""The OpenAPI description: served and committed documents are identical and match the app."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import fixtures
from cds_service.protocol import openapi
from cds_service.protocol.services import SERVICES

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def test_served_document_is_the_committed_one(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(COMMITTED.read_text(encoding="utf-8")), \
        "docs/openapi.json is stale: python -m cds_service.protocol.openapi > docs/openapi.json"
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render()


def test_every_route_of_the_api_is_described(app):
    described = set(openapi.build()["paths"])
    routes = {rule.rule.replace("<service_id>", service_id) for rule in app.url_map.iter_rules()
              if not rule.rule.startswith(("/preview", "/static"))
              for service_id in (SERVICES if "<service_id>" in rule.rule else [""])}
    assert routes == described


def test_request_bodies_are_the_schemas_the_service_validates_with():
    paths = openapi.build()["paths"]
    for service in SERVICES.values():
        body = paths[f"/cds-services/{service.id}"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] is openapi.request_schema(service.hook)


def _response_validator(path: str, status: int) -> Draft202012Validator:
    document = openapi.build()
    schema = document["paths"][path]["post"]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


@pytest.mark.parametrize("file_name", fixtures.request_files())
def test_fixture_responses_match_the_document(client, file_name):
    request = fixtures.load_request_file(file_name)
    service = next(s for s in SERVICES.values() if s.hook == request["hook"])
    path = f"/cds-services/{service.id}"
    response = client.post(path, json=request)
    errors = list(_response_validator(path, response.status_code).iter_errors(response.get_json()))
    assert not errors, [error.message for error in errors]
