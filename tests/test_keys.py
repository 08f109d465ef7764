"""Integrator key tools: generated keys and signed tokens work against the service."""
from __future__ import annotations

import json
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cds_service import create_app
from cds_service.cli import keys
from cds_service.cli import main
from test_auth_support import BASE, DISCOVERY_URL, ISS, bearer


def test_generate_keypair_then_sign_a_token_the_service_accepts(tmp_path):
    private_path, jwks_path = keys.generate_keypair(tmp_path / "keys", kid="ehr-2026")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    (public_key,) = json.loads(jwks_path.read_text())["keys"]
    assert public_key["kid"] == "ehr-2026" and public_key["alg"] == "ES384" and "d" not in public_key
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({ISS: {"jwks_file": str(jwks_path)}}))
    client = create_app({"public_base_url": BASE, "issuers_file": str(issuers)}).test_client()

    token = keys.sign_service_token(private_path, "ehr-2026", ISS, DISCOVERY_URL)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"]
    assert jwt.get_unverified_header(token) == {"alg": "ES384", "kid": "ehr-2026", "typ": "JWT"}
    assert client.get("/cds-services", headers=bearer(token)).status_code == 200


def test_second_key_is_added_for_rotation_and_never_overwritten(tmp_path):
    first, jwks_path = keys.generate_keypair(tmp_path)
    second, _ = keys.generate_keypair(tmp_path)
    kids = [key["kid"] for key in json.loads(jwks_path.read_text())["keys"]]
    assert len(set(kids)) == 2 and first.name == f"{kids[0]}.private.pem"
    with pytest.raises(FileExistsError):
        keys.generate_keypair(tmp_path, kid=kids[0])


def test_rsa_key_signs_rs384(tmp_path):
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.pem").write_bytes(pem)
    token = keys.sign_service_token(tmp_path / "rsa.pem", "rsa-1", ISS, DISCOVERY_URL)
    assert jwt.get_unverified_header(token)["alg"] == "RS384"


def test_cli_keys_generate(tmp_path, capsys):
    assert main(["keys", "generate", "--out", str(tmp_path), "--kid", "cli-key"]) == 0
    assert (tmp_path / "cli-key.private.pem").exists() and (tmp_path / "jwks.json").exists()
    assert "jwks.json" in capsys.readouterr().out


@pytest.mark.parametrize("kid", ["../../evil", "/etc/evil", ".hidden", "a/b", ""])
def test_cli_refuses_a_kid_that_is_not_a_plain_file_name(tmp_path, capsys, kid):
    with pytest.raises(SystemExit) as stopped:
        main(["keys", "generate", "--out", str(tmp_path / "keys"), "--kid", kid])
    assert stopped.value.code == 2 and "argument --kid" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.pem")) and not (tmp_path / "evil.private.pem").exists()


def test_cli_refuses_to_overwrite_a_private_key_without_a_traceback(tmp_path):
    assert main(["keys", "generate", "--out", str(tmp_path), "--kid", "ehr-1"]) == 0
    with pytest.raises(SystemExit, match="ehr-1.private.pem exists; choose another --kid"):
        main(["keys", "generate", "--out", str(tmp_path), "--kid", "ehr-1"])
