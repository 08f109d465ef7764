"""The fhirServer allowlist in the hook path: the EHR's token goes only to listed servers."""
from __future__ import annotations

import copy
import re

import pytest
import responses

import fixtures
from cds_service import create_app
from test_auth_support import BASE, DISCOVERY_URL, FHIR_SERVER, bearer, signers, write_issuers  # noqa: F401

SERVICE_URL = f"{DISCOVERY_URL}/ketamine-esketamine-order-sign"
TOKEN = "ehr-fhir-access-token"


def _request(fhir_server: str) -> dict:
    request = copy.deepcopy(fixtures.load_request("met-two-classes", "order-sign"))
    del request["prefetch"]
    request["fhirServer"] = fhir_server
    request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/*.read", "subject": "trd-cds"}
    return request


@pytest.fixture
def call(write_issuers, signers):
    app = create_app({"public_base_url": BASE, "auth": "on", "database_url": "memory://",
                      "issuers_file": write_issuers(allow_private_fhir=True)})

    def post(request):
        token = signers["es384"].token(aud=SERVICE_URL)
        return app.test_client().post("/cds-services/ketamine-esketamine-order-sign", json=request,
                                      headers=bearer(token))
    return post


@pytest.mark.parametrize("server", ["https://evil.example.net/fhir", FHIR_SERVER.replace("/r4/", "/other/"),
                                    FHIR_SERVER.replace("https", "http")])
def test_unlisted_fhir_server_gets_no_request_and_required_data_is_412(call, server):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        response = call(_request(server))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "no usable fhirServer" in response.get_json()["issue"][0]["diagnostics"]


def test_listed_fhir_server_is_read_with_the_bearer_token(call):
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(re.compile(re.escape(FHIR_SERVER) + ".*"), json=empty)
        response = call(_request(FHIR_SERVER))
        assert mock.calls, "the listed server is queried"
        assert {c.request.headers["Authorization"] for c in mock.calls} == {f"Bearer {TOKEN}"}
    assert response.status_code == 200
