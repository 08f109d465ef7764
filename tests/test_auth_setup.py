"""Auth start-up checks, development mode, remote JWKS, CORS, security headers and log hygiene."""
from __future__ import annotations

import io
import json
import logging

import pytest
import responses

from cds_service import create_app
from cds_service.auth import jwks
from cds_service.config import ConfigError
from test_auth_support import (BASE, FEEDBACK_URL, JWKS_URL, SERVICE, SERVICE_URL, bearer,  # noqa: F401 (fixtures)
                               client, failed_check, make_app, signers, write_issuers)
from streams import CountingBody

ORIGIN = "https://ehr-ui.example.org"
CDS_PATHS = ("/cds-services", f"/cds-services/{SERVICE}", f"/cds-services/{SERVICE}/feedback")
SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.mark.parametrize("settings, message", [
    ({"issuers_file": ""}, "ISSUERS_FILE names no trusted issuer"),
    ({"jwt_algorithms": "ES384,HS256"}, "not allowed: HS256"),
    ({"jwt_algorithms": "none"}, "not allowed: none"),
    ({"cors_origins": "*"}, "'*' is allowed only in development mode"),
    ({"cors_origins": "https://ehr.example.org/app"}, "must be an origin"),
    ({"jwt_max_age_s": "0"}, "JWT_MAX_AGE_S must be greater than 0"),
])
def test_bad_auth_settings_refused_at_start_up(make_app, settings, message):
    with pytest.raises(ConfigError, match=message):
        make_app(**settings)


@pytest.mark.parametrize("entry, message", [
    ({"jwks_url": "http://ehr.example.org/jwks.json"}, "jwks_url"),
    ({"jku": ["https://user:pw@ehr.example.org/jwks.json"]}, "jku"),
    ({"fhir_servers": ["http://fhir.example.org/r4"]}, "fhir_servers"),
    ({"allow_private_fhir": "yes"}, "allow_private_fhir must be true or false"),
    ({"jwks_file": "missing.json"}, "not a readable JWK Set"),
    ({"jwsk_url": "https://typo.example.org"}, "unknown fields jwsk_url"),
])
def test_bad_issuer_entries_refused(write_issuers, entry, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"public_base_url": BASE, "issuers_file": write_issuers(**entry)})


def test_sandbox_issuer_refused_unless_auth_is_off(write_issuers):
    issuers_file = write_issuers({SANDBOX: {"jwks_url": f"{SANDBOX}/.well-known/jwks.json"}})
    with pytest.raises(ConfigError, match="private key is public"):
        create_app({"public_base_url": BASE, "issuers_file": issuers_file})
    assert create_app({"public_base_url": BASE, "issuers_file": issuers_file, "auth": "off"})


@responses.activate
def test_an_oversized_jwks_is_refused_without_downloading_it(write_issuers, signers, caplog):
    body = CountingBody(64 * 1024 * 1024)
    responses.get(JWKS_URL, body=io.BufferedReader(body))
    client = create_app({"public_base_url": BASE,
                         "issuers_file": write_issuers(jwks_file=None, jku=[], jwks_url=JWKS_URL)}).test_client()
    assert failed_check(client.get("/cds-services", headers=bearer(signers["remote"].token()))) == "jwt.kid"
    assert "larger than" in caplog.text and body.sent < 1024 * 1024


@pytest.mark.parametrize("spelling", [f"{SANDBOX}/", "HTTPS://Sandbox.CDS-Hooks.org", f"{SANDBOX}:443//",
                                      "https://sandbox.cds-hooks.org."])
def test_sandbox_issuer_refused_however_spelled(write_issuers, spelling):
    issuers_file = write_issuers({spelling: {"jwks_url": f"{SANDBOX}/.well-known/jwks.json"}})
    with pytest.raises(ConfigError, match="private key is public"):
        create_app({"public_base_url": BASE, "issuers_file": issuers_file})


def test_auth_is_on_by_default(write_issuers, signers):
    client = create_app({"public_base_url": BASE, "issuers_file": write_issuers()}).test_client()
    assert failed_check(client.get("/cds-services")) == "Authorization"


def test_development_mode_needs_no_token_and_warns(caplog, signers):
    with caplog.at_level(logging.WARNING, logger="trd_cds.security"):
        client = create_app({"auth": "off", "public_base_url": BASE}).test_client()
    assert "AUTHENTICATION IS OFF" in caplog.text
    assert client.get("/cds-services").status_code == 200
    with caplog.at_level(logging.WARNING, logger="trd_cds.security"):
        response = client.get("/cds-services", headers=bearer(signers["es384"].token()))
    assert response.status_code == 200
    assert "ignored (auth off)" in caplog.text and "jwt.iss" in caplog.text


@responses.activate
def test_remote_jwks_cached_and_refreshed_on_unknown_kid(make_app, write_issuers, signers, monkeypatch):
    client = create_app({"public_base_url": BASE,
                         "issuers_file": write_issuers(jwks_file=None, jku=[], jwks_url=JWKS_URL)}).test_client()
    remote, rotated = signers["remote"], signers["rotated"]
    responses.get(JWKS_URL, json={"keys": [remote.public_jwk()]})
    for _ in range(2):
        assert client.get("/cds-services", headers=bearer(remote.token())).status_code == 200
    assert len(responses.calls) == 1  # cached

    responses.replace(responses.GET, JWKS_URL, json={"keys": [remote.public_jwk(), rotated.public_jwk()]})
    assert failed_check(client.get("/cds-services", headers=bearer(rotated.token()))) == "jwt.kid"
    assert len(responses.calls) == 1  # refresh is rate-limited
    monkeypatch.setattr(jwks, "MIN_REFRESH_S", 0.0)
    assert client.get("/cds-services", headers=bearer(rotated.token())).status_code == 200
    assert len(responses.calls) == 2  # refreshed for the unknown kid


@responses.activate
def test_unreachable_jwks_answers_401(write_issuers, signers, caplog):
    responses.get(JWKS_URL, status=503)
    client = create_app({"public_base_url": BASE,
                         "issuers_file": write_issuers(jwks_file=None, jku=[], jwks_url=JWKS_URL)}).test_client()
    assert failed_check(client.get("/cds-services", headers=bearer(signers["remote"].token()))) == "jwt.kid"
    assert "JWKS fetch from" in caplog.text


@pytest.mark.parametrize("path", CDS_PATHS)
def test_cors_preflight_for_an_allowed_origin(make_app, path):
    client = make_app(cors_origins=f"{ORIGIN},https://other-ehr.example.org").test_client()
    response = client.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST", "OPTIONS"}


@pytest.mark.parametrize("path", CDS_PATHS)
def test_cors_preflight_for_a_refused_origin(make_app, path):
    client = make_app(cors_origins=ORIGIN).test_client()
    response = client.options(path, headers={"Origin": "https://evil.example.net",
                                             "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_headers_on_a_401_and_wildcard_in_development(make_app):
    response = make_app(cors_origins=ORIGIN).test_client().get("/cds-services", headers={"Origin": ORIGIN})
    assert response.status_code == 401 and response.headers["Access-Control-Allow-Origin"] == ORIGIN
    dev = create_app({"auth": "off", "cors_origins": "*"}).test_client()
    anywhere = "http://localhost:3000"
    assert dev.get("/cds-services", headers={"Origin": anywhere}).headers["Access-Control-Allow-Origin"] == anywhere


@pytest.mark.parametrize("path", ["/cds-services", "/healthz", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_tokens_never_logged(make_app, signers, caplog, capsys):
    """A full run at DEBUG, with accepted, replayed and refused tokens, never logs a token."""
    caplog.set_level(logging.DEBUG)
    client = make_app(log_level="DEBUG").test_client()
    signer = signers["es384"]
    tokens = [signer.token(), signer.token(aud=SERVICE_URL), signer.token(aud=FEEDBACK_URL),
              signer.token(aud="https://wrong.example.org"), signers["impostor"].token()]
    client.get("/cds-services", headers=bearer(tokens[0]))
    client.get("/cds-services", headers=bearer(tokens[0]))  # replay
    client.post(f"/cds-services/{SERVICE}", json={"hook": "order-select"}, headers=bearer(tokens[1]))
    feedback = {"feedback": [{"card": "0b9a7d5e-8f3c-4d2a-9b1e-2c3d4e5f6a7b", "outcome": "overridden",
                              "outcomeTimestamp": "2026-01-05T10:00:00Z"}]}
    client.post(f"/cds-services/{SERVICE}/feedback", json=feedback, headers=bearer(tokens[2]))
    bodies = [client.get("/cds-services", headers=bearer(token)).get_data(as_text=True) for token in tokens[3:]]
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + json.dumps(bodies)
    assert "JWT refused" in everything  # the refusals were logged ...
    for token in tokens:  # ... but no token, nor its signature, anywhere
        assert token not in everything and token.rsplit(".", 1)[1] not in everything
    assert "Bearer " not in caplog.text + captured.out + captured.err
