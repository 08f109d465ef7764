"""Shared helpers for the auth tests: real keys, real signatures, an app with one trusted issuer."""
from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service import create_app

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
SERVICE = "ketamine-esketamine-order-select"
DISCOVERY_URL = f"{BASE}/cds-services"
SERVICE_URL = f"{DISCOVERY_URL}/{SERVICE}"
FEEDBACK_URL = f"{SERVICE_URL}/feedback"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
ALLOWED_JKU = "https://keys.ehr.example.org/jwks.json"
FHIR_SERVER = "https://fhir.example.org/r4/"


class Signer:
    """A private key with its kid; ``token`` makes a CDS Hooks JWT, defaults overridable."""

    def __init__(self, private_key, kid: str, alg: str):
        self.private_key, self.kid, self.alg = private_key, kid, alg

    def public_jwk(self, **extra) -> dict:
        to_jwk = ECAlgorithm.to_jwk if self.alg.startswith("ES") else RSAAlgorithm.to_jwk
        return {**json.loads(to_jwk(self.private_key.public_key())), "kid": self.kid, **extra}

    def token(self, headers: dict | None = None, alg: str | None = None, **claims) -> str:
        """Claims default to a valid discovery call; ``claim=None`` (or header ``name: None``) leaves it out."""
        now = int(time.time())
        payload = {"iss": ISS, "aud": DISCOVERY_URL, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None or name == "typ"}
        return jwt.encode(payload, self.private_key, algorithm=alg or self.alg, headers=header)


def b64url(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def failed_check(response) -> str:
    """The check a 401 names, after asserting the 401 shape."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return response.get_json()["issue"][0]["expression"][0]


@pytest.fixture(scope="session")
def signers() -> dict[str, Signer]:
    return {
        "es384": Signer(ec.generate_private_key(ec.SECP384R1()), "ec-1", "ES384"),
        "rs384": Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1", "RS384"),
        "es256": Signer(ec.generate_private_key(ec.SECP256R1()), "ec256-1", "ES256"),
        "impostor": Signer(ec.generate_private_key(ec.SECP384R1()), "ec-1", "ES384"),  # same kid, other key
        "remote": Signer(ec.generate_private_key(ec.SECP384R1()), "remote-1", "ES384"),
        "rotated": Signer(ec.generate_private_key(ec.SECP384R1()), "remote-2", "ES384"),
    }


@pytest.fixture
def write_issuers(tmp_path, signers):
    """Writes an issuers file trusting ISS (file keys es384, rs384, es256); returns its path."""
    def write(entries: dict | None = None, **issuer_fields) -> str:
        jwks = {"keys": [signers[name].public_jwk() for name in ("es384", "rs384", "es256")]}
        (tmp_path / "ehr-jwks.json").write_text(json.dumps(jwks))
        entry = {"jwks_file": "ehr-jwks.json", "jku": [ALLOWED_JKU], "fhir_servers": [FHIR_SERVER],
                 **issuer_fields}
        path = tmp_path / f"issuers-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps({ISS: entry, **(entries or {})}))
        return str(path)
    return write


@pytest.fixture
def make_app(write_issuers):
    def make(**settings):
        config = {"public_base_url": BASE, "auth": "on", "issuers_file": write_issuers(), **settings}
        return create_app(config)
    return make


@pytest.fixture
def client(make_app):
    return make_app().test_client()
