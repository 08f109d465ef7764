"""Request authentication: the CDS Hooks 2.0 JWT on discovery, invocation and feedback.

Every check that fails answers 401 naming the check (``jwt.alg``, ``jwt.aud``, ...); the token
itself is never logged or echoed. With ``auth`` off (development) no token is required; one that
is sent is still verified, and a failure is only logged.
"""
from __future__ import annotations

import logging
import math
import time
from functools import partial

import jwt
from flask import Flask, g, request
from jwt import exceptions as jwt_errors

from cds_service.auth import http_security
from cds_service.config import Settings
from cds_service.errors import Unauthorized
from cds_service.ops import metrics
from cds_service.auth.issuers import TrustedIssuer, check_auth_settings
from cds_service.auth.jwks import JwksCache
from cds_service.store.replay import MemoryReplayCache, ReplayCache

CDS_ENDPOINTS = ("cds.discovery", "cds.invoke", "cds.feedback")
_KEY_TYPES = {"ES": "EC", "RS": "RSA"}
# PyJWT errors raised after the key was found, most specific first: (error, failed check, message).
_DECODE_ERRORS = (
    (jwt_errors.InvalidSignatureError, "jwt.signature", "JWT signature does not verify"),
    (jwt_errors.ExpiredSignatureError, "jwt.exp", "JWT has expired"),
    (jwt_errors.ImmatureSignatureError, "jwt.iat", "JWT is not valid yet (iat or nbf in the future)"),
    (jwt_errors.InvalidIssuedAtError, "jwt.iat", "JWT iat must be a number"),
    (jwt_errors.InvalidJTIError, "jwt.jti", "JWT jti must be a string"),
    (jwt_errors.InvalidKeyError, "jwt.kid", "the key named by kid does not fit the JWT alg"),
    (jwt_errors.PyJWTError, "Authorization", "the bearer token is not a valid JWT"),
)
# JSON types of the registered claims we read (RFC 7519 §4.1); any other type is a 401 naming the claim.
_CLAIM_TYPES = {"iss": "a string", "jti": "a string", "aud": "a string or an array of strings",
                "exp": "a number", "iat": "a number", "nbf": "a number"}
security_log = logging.getLogger("trd_cds.security")


def install(app: Flask, settings: Settings, replays: ReplayCache | None = None) -> None:
    """Check the auth settings, then guard the CDS endpoints and add CORS and security headers."""
    verifier = TokenVerifier(settings, check_auth_settings(settings), replays)
    if settings.auth == "off":
        security_log.warning("AUTHENTICATION IS OFF (development mode): CDS endpoints accept calls "
                             "without a JWT. Never run this way with real patient data.")
    app.before_request(partial(_authenticate, verifier, settings))
    http_security.install(app, settings)


def expected_audiences(base_url: str, endpoint: str, service_id: str | None) -> tuple[str, ...]:
    """The ``aud`` values accepted on an endpoint (feedback: its own URL or the service URL)."""
    discovery = f"{base_url}/cds-services"
    if endpoint == "cds.discovery":
        return (discovery,)
    service = f"{discovery}/{service_id}"
    return (f"{service}/feedback", service) if endpoint == "cds.feedback" else (service,)


def _authenticate(verifier: TokenVerifier, settings: Settings) -> None:
    if request.endpoint not in CDS_ENDPOINTS or request.method == "OPTIONS":
        return
    authorization = request.headers.get("Authorization")
    if settings.auth == "off" and not authorization:
        return
    service_id = (request.view_args or {}).get("service_id")
    try:
        g.issuer = verifier.verify(authorization,
                                   expected_audiences(settings.base_url, request.endpoint, service_id))
    except Unauthorized as error:
        mode = "refused" if settings.auth == "on" else "ignored (auth off)"
        security_log.warning("JWT %s on %s %s: %s [%s]", mode, request.method, request.path,
                             error.message, error.field)
        if settings.auth == "on":
            metrics.JWT_REFUSALS.labels(error.field).inc()
            raise


class TokenVerifier:
    """Verifies one bearer JWT against the trusted issuers; returns its ``iss``."""

    def __init__(self, settings: Settings, issuers: dict[str, TrustedIssuer],
                 replays: ReplayCache | None = None):
        self.settings = settings
        self.issuers = issuers
        self.replays = replays or MemoryReplayCache()  # a cache shared by all workers can replace it
        self.keys = JwksCache(settings.jwks_timeout_s, settings.jwks_cache_s)

    def verify(self, authorization: str | None, audiences: tuple[str, ...]) -> str:
        token = _bearer_token(authorization)
        header = _unverified(jwt.get_unverified_header, token)
        alg = header.get("alg")
        if alg not in self.settings.jwt_algorithms:
            raise Unauthorized(f"JWT alg must be one of {', '.join(self.settings.jwt_algorithms)}", "jwt.alg")
        if header.get("typ") != "JWT":
            raise Unauthorized("JWT header typ must be 'JWT'", "jwt.typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("JWT header kid is required", "jwt.kid")
        claims = _unverified(partial(jwt.decode, options={"verify_signature": False}), token)
        _check_claim_types(claims)
        issuer = self.issuers.get(claims.get("iss")) if isinstance(claims.get("iss"), str) else None
        if issuer is None:
            raise Unauthorized("JWT iss is not a trusted issuer of this service", "jwt.iss")
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku:
            raise Unauthorized("JWT jku is not on this issuer's allowlist", "jwt.jku")
        jwk = self.keys.find_key(issuer, kid, jku)
        if jwk is None:
            raise Unauthorized("JWT kid names no key of this issuer", "jwt.kid")
        verified = self._decode(token, _public_key(jwk, alg), alg, issuer.iss, audiences)
        self._check_age_and_replay(verified)
        return issuer.iss

    def _decode(self, token: str, key: jwt.PyJWK, alg: str, iss: str, audiences: tuple[str, ...]) -> dict:
        try:
            return jwt.decode(token, key, algorithms=[alg], audience=list(audiences), issuer=iss,
                              leeway=self.settings.jwt_leeway_s,
                              options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt_errors.MissingRequiredClaimError as error:
            raise Unauthorized(f"JWT claim {error.claim} is required", f"jwt.{error.claim}") from None
        except jwt_errors.InvalidAudienceError:
            raise Unauthorized(f"JWT aud must be {' or '.join(audiences)}", "jwt.aud") from None
        except jwt_errors.PyJWTError as error:
            field, message = next((f, m) for kind, f, m in _DECODE_ERRORS if isinstance(error, kind))
            raise Unauthorized(message, field) from None

    def _check_age_and_replay(self, claims: dict) -> None:
        max_age, leeway = self.settings.jwt_max_age_s, self.settings.jwt_leeway_s
        if claims["iat"] < time.time() - max_age - leeway:
            raise Unauthorized(f"JWT is too old: iat more than {max_age} s ago", "jwt.iat")
        if not claims["jti"]:
            raise Unauthorized("JWT claim jti must not be empty", "jwt.jti")
        expires_at = min(claims["exp"], claims["iat"] + max_age) + leeway
        if self.replays.seen(claims["iss"], claims["jti"], expires_at):
            raise Unauthorized("JWT jti was already used (replay)", "jwt.jti")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Authorization: Bearer <JWT> header is required", "Authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must use the Bearer scheme", "Authorization")
    return token.strip()


def _unverified(read, token: str) -> dict:
    """The JWT header or payload before verification (only to pick the issuer and key)."""
    try:
        found = read(token)
    except jwt_errors.PyJWTError:
        raise Unauthorized("the bearer token is not a JWT", "Authorization") from None
    if not isinstance(found, dict):
        raise Unauthorized("the bearer token is not a JWT", "Authorization")
    return found


def _check_claim_types(claims: dict) -> None:
    for name, kind in _CLAIM_TYPES.items():
        if name in claims and not _has_type(claims[name], kind):
            raise Unauthorized(f"JWT claim {name} must be {kind}", f"jwt.{name}")


def _has_type(value, kind: str) -> bool:
    if kind == "a number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "a string":
        return isinstance(value, str)
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _public_key(jwk: dict, alg: str) -> jwt.PyJWK:
    """The JWK bound to ``alg``, refused when its type, ``alg`` or ``use`` does not fit."""
    if jwk.get("kty") != _KEY_TYPES[alg[:2]] or jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise Unauthorized("the key named by kid does not fit the JWT alg", "jwt.kid")
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except (jwt_errors.PyJWTError, ValueError):
        raise Unauthorized("the key named by kid is not a usable public key", "jwt.kid") from None
