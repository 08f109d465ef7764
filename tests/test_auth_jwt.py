"""JWT verification on discovery, invocation and feedback: attacks, mistakes, and valid tokens."""
from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import responses
from cryptography.hazmat.primitives import serialization

from test_auth_support import (ALLOWED_JKU, BASE, DISCOVERY_URL, FEEDBACK_URL, ISS, SERVICE, SERVICE_URL,
                               b64url, bearer, client, failed_check, make_app, signers,  # noqa: F401 (fixtures)
                               write_issuers)

FEEDBACK_BODY = {"feedback": [{"card": "0b9a7d5e-8f3c-4d2a-9b1e-2c3d4e5f6a7b", "outcome": "overridden",
                               "outcomeTimestamp": "2026-01-05T10:00:00Z"}]}


def now() -> int:
    """The time at the moment a token is made: a module-level constant expires in a long run."""
    return int(time.time())


def discovery(client, token: str | None = None, **headers):
    return client.get("/cds-services", headers={**(bearer(token) if token else {}), **headers})


def test_no_authorization_header(client):
    assert failed_check(discovery(client)) == "Authorization"


def test_not_bearer_scheme(client):
    assert failed_check(discovery(client, Authorization="Basic dXNlcjpwYXNz")) == "Authorization"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "Bearer"])
def test_not_a_jwt(client, token):
    assert failed_check(discovery(client, token)) == "Authorization"


def test_alg_none(client):
    token = f"{b64url({'alg': 'none', 'typ': 'JWT', 'kid': 'ec-1'})}.{b64url({'iss': ISS, 'aud': DISCOVERY_URL})}."
    assert failed_check(discovery(client, token)) == "jwt.alg"


def test_hs384_signed_with_the_public_key_pem(client, signers):
    """Algorithm confusion: an HMAC 'signature' keyed with the issuer's public key."""
    pem = signers["es384"].private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (f"{b64url({'alg': 'HS384', 'typ': 'JWT', 'kid': 'ec-1'})}."
                     f"{b64url({'iss': ISS, 'aud': DISCOVERY_URL, 'iat': now(), 'exp': now() + 60, 'jti': 'x'})}")
    signature = b64url(hmac.new(pem, signing_input.encode(), hashlib.sha384).digest())
    assert failed_check(discovery(client, f"{signing_input}.{signature}")) == "jwt.alg"


def test_es256_when_not_allowed(client, signers):
    assert failed_check(discovery(client, signers["es256"].token())) == "jwt.alg"


def test_signed_with_the_wrong_key(client, signers):
    assert failed_check(discovery(client, signers["impostor"].token())) == "jwt.signature"


def test_tampered_payload(client, signers):
    header, _, signature = signers["es384"].token(aud=f"{BASE}/other").split(".")
    forged = b64url({"iss": ISS, "aud": DISCOVERY_URL, "iat": now(), "exp": now() + 60, "jti": "forged"})
    assert failed_check(discovery(client, f"{header}.{forged}.{signature}")) == "jwt.signature"


def test_unknown_kid(client, signers):
    assert failed_check(discovery(client, signers["es384"].token(headers={"kid": "nope"}))) == "jwt.kid"


def test_missing_kid(client, signers):
    assert failed_check(discovery(client, signers["es384"].token(headers={"kid": None}))) == "jwt.kid"


def test_key_type_confusion(client, signers):
    """An RS384 token naming the EC key's kid is refused before any signature check."""
    token = signers["rs384"].token(headers={"kid": "ec-1"})
    assert failed_check(discovery(client, token)) == "jwt.kid"


@pytest.mark.parametrize("typ", ["JOSE", None])
def test_typ_not_jwt(client, signers, typ):
    assert failed_check(discovery(client, signers["es384"].token(headers={"typ": typ}))) == "jwt.typ"


def test_untrusted_issuer(client, signers):
    assert failed_check(discovery(client, signers["es384"].token(iss="https://evil.example.com"))) == "jwt.iss"


def test_sandbox_issuer_when_auth_is_on(client, signers):
    token = signers["es384"].token(iss="https://sandbox.cds-hooks.org")
    assert failed_check(discovery(client, token)) == "jwt.iss"


@pytest.mark.parametrize("aud", [
    f"{DISCOVERY_URL}/ketamine-esketamine-order-sign",  # another service
    f"https://other.example.org/cds-services/{SERVICE}",  # another host
    SERVICE_URL.replace("https://", "http://"),  # http instead of https
    DISCOVERY_URL,  # the discovery URL
])
def test_invocation_with_wrong_aud(client, signers, aud):
    response = client.post(f"/cds-services/{SERVICE}", json={}, headers=bearer(signers["es384"].token(aud=aud)))
    assert failed_check(response) == "jwt.aud"


def test_feedback_with_the_discovery_aud(client, signers):
    response = client.post(f"/cds-services/{SERVICE}/feedback", json=FEEDBACK_BODY,
                           headers=bearer(signers["es384"].token(aud=DISCOVERY_URL)))
    assert failed_check(response) == "jwt.aud"


TIME_CLAIMS = ("iat", "exp")


@pytest.mark.parametrize("claims, check", [
    # iat/exp as seconds from the moment the token is made
    ({"exp": -120, "iat": -180}, "jwt.exp"),
    ({"iat": 600, "exp": 660}, "jwt.iat"),
    ({"iat": -3600, "exp": 60}, "jwt.iat"),  # older than jwt_max_age_s
    ({"jti": None}, "jwt.jti"),
    ({"jti": ""}, "jwt.jti"),
    ({"exp": None}, "jwt.exp"),
    ({"iat": None}, "jwt.iat"),
    ({"aud": None}, "jwt.aud"),
])
def test_bad_claims(client, signers, claims, check):
    made_at = now()
    claims = {name: made_at + value if name in TIME_CLAIMS and value is not None else value
              for name, value in claims.items()}
    assert failed_check(discovery(client, signers["es384"].token(**claims))) == check


@pytest.mark.parametrize("claim, value", [
    ("iat", lambda now: str(now)), ("exp", lambda now: str(now + 60)), ("nbf", lambda now: str(now)),
    ("iat", lambda now: True), ("exp", lambda now: [now + 60]), ("jti", lambda now: 5),
    ("aud", lambda now: 7), ("aud", lambda now: [DISCOVERY_URL, 7]), ("iat", lambda now: float("inf")),
])
def test_claim_of_the_wrong_json_type_is_a_401_naming_it(client, signers, caplog, claim, value):
    """Signed by a trusted key, yet e.g. ``"iat": "1795979439"``: 401 naming the claim, no traceback."""
    response = discovery(client, signers["es384"].token(**{claim: value(int(time.time()))}))
    assert failed_check(response) == f"jwt.{claim}"
    assert "Traceback" not in caplog.text


def test_replayed_jti(client, signers):
    token = signers["es384"].token()
    assert discovery(client, token).status_code == 200
    assert failed_check(discovery(client, token)) == "jwt.jti"
    assert discovery(client, signers["es384"].token()).status_code == 200


@responses.activate
def test_jku_not_on_the_allowlist_is_never_fetched(client, signers):
    attacker = "https://attacker.example.net/jwks.json"
    responses.get(attacker, json={"keys": [signers["impostor"].public_jwk()]})
    token = signers["impostor"].token(headers={"jku": attacker})
    assert failed_check(discovery(client, token)) == "jwt.jku"
    assert len(responses.calls) == 0


@responses.activate
def test_jku_on_the_allowlist_is_used(client, signers):
    responses.get(ALLOWED_JKU, json={"keys": [signers["remote"].public_jwk()]})
    token = signers["remote"].token(headers={"jku": ALLOWED_JKU})
    assert discovery(client, token).status_code == 200
    assert [call.request.url for call in responses.calls] == [ALLOWED_JKU]


@pytest.mark.parametrize("name", ["es384", "rs384"])
def test_valid_token_accepted(client, signers, name):
    response = discovery(client, signers[name].token())
    assert response.status_code == 200
    assert response.get_json()["services"]


def test_aud_array_containing_the_endpoint(client, signers):
    token = signers["es384"].token(aud=["https://elsewhere.example.org", DISCOVERY_URL])
    assert discovery(client, token).status_code == 200


def test_es256_when_allowed(make_app, signers):
    client = make_app(jwt_algorithms="ES384,RS384,ES256").test_client()
    assert discovery(client, signers["es256"].token()).status_code == 200


@pytest.mark.parametrize("aud", [FEEDBACK_URL, SERVICE_URL])
def test_feedback_accepted_and_records_the_issuer(make_app, signers, aud):
    app = make_app()
    response = app.test_client().post(f"/cds-services/{SERVICE}/feedback", json=FEEDBACK_BODY,
                                      headers=bearer(signers["es384"].token(aud=aud)))
    assert response.status_code == 200, response.get_json()
    stored = list(app.extensions["trd_cds"].store.feedback.values())
    assert [item["issuer"] for item in stored] == [ISS]


def test_invocation_authenticates_before_validating(client, signers):
    """A valid token gets past auth: the bad body then answers 400, not 401."""
    response = client.post(f"/cds-services/{SERVICE}", json={"hook": "order-select"},
                           headers=bearer(signers["es384"].token(aud=SERVICE_URL)))
    assert response.status_code == 400
    assert failed_check(client.post(f"/cds-services/{SERVICE}", json={"hook": "order-select"})) == "Authorization"


def test_health_endpoints_need_no_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
