"""Integrator tools: a client signing key pair, and signed CDS Hooks service tokens.

``trd-cds keys generate --out DIR`` writes an ES384 private key (PEM, mode 0600) and adds its
public key to ``DIR/jwks.json``, the JWK Set to publish or to name as ``jwks_file`` in the
issuers file. ``sign_service_token`` makes the JWT a CDS client sends to one endpoint URL.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

JWKS_NAME = "jwks.json"


def generate_keypair(out_dir: str | os.PathLike, kid: str | None = None) -> tuple[Path, Path]:
    """Write ``<kid>.private.pem`` and add the public key to ``jwks.json``; returns both paths."""
    private_key = ec.generate_private_key(ec.SECP384R1())
    public_jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    kid = kid or _thumbprint(public_jwk)
    public_jwk.update(kid=kid, alg="ES384", use="sig")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    private_path = folder / f"{kid}.private.pem"
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    with os.fdopen(os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(pem)
    jwks_path = folder / JWKS_NAME
    jwks = json.loads(jwks_path.read_text()) if jwks_path.exists() else {"keys": []}
    jwks["keys"] = [key for key in jwks["keys"] if key.get("kid") != kid] + [public_jwk]
    jwks_path.write_text(json.dumps(jwks, indent=2) + "\n")
    return private_path, jwks_path


def sign_service_token(private_key_pem_path: str | os.PathLike, kid: str, issuer: str, audience: str,
                       lifetime_s: int = 60) -> str:
    """A CDS Hooks JWT for one call: ES384 for an EC P-384 key, RS384 for an RSA key."""
    private_key = serialization.load_pem_private_key(Path(private_key_pem_path).read_bytes(), password=None)
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP384R1):
        algorithm = "ES384"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "RS384"
    else:
        raise ValueError("the signing key must be an EC P-384 or an RSA private key")
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime_s, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid, "typ": "JWT"})


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint of an EC public key, base64url without padding."""
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def generate_command(args: argparse.Namespace) -> int:
    try:
        private_path, jwks_path = generate_keypair(args.out, args.kid)
    except FileExistsError as error:  # never overwrite a private key
        raise SystemExit(f"trd-cds keys generate: {error.filename} exists; choose another --kid") from None
    print(f"private key (keep secret): {private_path}")
    print(f"public JWK Set: {jwks_path}  (publish it, or name it as jwks_file in the issuers file)")
    return 0
