"""Trusted JWT issuers, read from ``settings.issuers_file`` and checked at start-up.

The file maps each ``iss`` to where its keys are and which FHIR servers it may send us to::

    {"https://ehr.example.org": {
        "jwks_file": "ehr-jwks.json", "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
        "jku": ["https://ehr.example.org/jwks.json"],
        "fhir_servers": ["https://fhir.example.org/r4/"],
        "allow_private_fhir": false, "allow_http_fhir": false}}

A relative ``jwks_file`` is resolved against the issuers file's folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from cds_service.config import PREFIX, ConfigError, Settings

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"  # its private key is public: development only
SUPPORTED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
_FIELDS = {"jwks_file", "jwks_url", "jku", "fhir_servers", "allow_private_fhir", "allow_http_fhir"}


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks: tuple[dict, ...]  # keys from jwks_file, loaded at start-up
    jwks_url: str
    jku: tuple[str, ...]
    fhir_servers: tuple[str, ...]
    allow_private_fhir: bool
    allow_http_fhir: bool


def trusted_issuers(settings: Settings) -> dict[str, TrustedIssuer]:
    """The issuers in ``settings.issuers_file`` (re-read only when the file changes)."""
    if not settings.issuers_file:
        return {}
    try:
        stat = os.stat(settings.issuers_file)
    except OSError as error:
        raise ConfigError(f"{PREFIX}ISSUERS_FILE: cannot read {settings.issuers_file}: {error.strerror}") from None
    return _load(settings.issuers_file, stat.st_mtime_ns, stat.st_size)


def check_auth_settings(settings: Settings) -> dict[str, TrustedIssuer]:
    """Start-up checks of the auth settings; returns the trusted issuers."""
    unsupported = set(settings.jwt_algorithms) - set(SUPPORTED_ALGORITHMS)
    if unsupported or not settings.jwt_algorithms:
        raise ConfigError(f"{PREFIX}JWT_ALGORITHMS must be chosen from {', '.join(SUPPORTED_ALGORITHMS)}; "
                          f"not allowed: {', '.join(sorted(unsupported)) or '(empty)'}")
    for name in ("jwt_max_age_s", "jwks_cache_s", "jwks_timeout_s"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{PREFIX}{name.upper()} must be greater than 0")
    if settings.jwt_leeway_s < 0:
        raise ConfigError(f"{PREFIX}JWT_LEEWAY_S must not be negative")
    issuers = trusted_issuers(settings)
    if settings.auth == "on":
        if not issuers:
            raise ConfigError(f"{PREFIX}AUTH is on but {PREFIX}ISSUERS_FILE names no trusted issuer, so no "
                              "client could call; configure issuers (or run with --dev for development)")
        if sandbox := next((iss for iss in issuers if _normal_url(iss) == _normal_url(SANDBOX_ISSUER)), None):
            raise ConfigError(f"{PREFIX}ISSUERS_FILE trusts {sandbox}, whose private key is public; "
                              "that is allowed only in development mode (auth off)")
    return issuers


def _normal_url(url: str) -> str:
    """``url`` with scheme and host lower-cased, default port and trailing "/" dropped, for comparing."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    host = (parts.hostname or "").rstrip(".")
    if port is not None and port != {"https": 443, "http": 80}.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return parts._replace(scheme=parts.scheme.lower(), netloc=host, path=parts.path.rstrip("/")).geturl()


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int) -> dict[str, TrustedIssuer]:
    where = f"{PREFIX}ISSUERS_FILE {path}"
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{where}: not a readable JSON file ({error})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: must be a JSON object keyed by issuer URL")
    folder = os.path.dirname(os.path.abspath(path))
    return {iss: _issuer(iss, entry, folder, f"{where}, issuer {iss}") for iss, entry in document.items()}


def _issuer(iss: str, entry: object, folder: str, where: str) -> TrustedIssuer:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    if unknown := set(entry) - _FIELDS:
        raise ConfigError(f"{where}: unknown fields {', '.join(sorted(unknown))}")
    _require_url(iss, where, "the issuer", https_only=False)
    allow_http = _flag(entry, "allow_http_fhir", where)
    jwks_url = entry.get("jwks_url", "")
    jku = _url_list(entry, "jku", where, https_only=True)
    if jwks_url:
        _require_url(jwks_url, where, "jwks_url", https_only=True)
    jwks = _read_jwks(os.path.join(folder, entry["jwks_file"]), where) if entry.get("jwks_file") else ()
    if not (jwks or jwks_url or jku):
        raise ConfigError(f"{where}: needs jwks_file, jwks_url or jku to find its keys")
    return TrustedIssuer(iss, jwks, jwks_url, jku, _url_list(entry, "fhir_servers", where, not allow_http),
                         _flag(entry, "allow_private_fhir", where), allow_http)


def _read_jwks(path: str, where: str) -> tuple[dict, ...]:
    try:
        with open(path, encoding="utf-8") as handle:
            keys = json.load(handle).get("keys")
    except (OSError, ValueError, AttributeError) as error:
        raise ConfigError(f"{where}: jwks_file {path} is not a readable JWK Set ({error})") from None
    if not isinstance(keys, list) or not all(isinstance(key, dict) and key.get("kid") for key in keys):
        raise ConfigError(f"{where}: jwks_file {path} must hold {{'keys': [...]}}, each key with a kid")
    return tuple(keys)


def _url_list(entry: dict, name: str, where: str, https_only: bool) -> tuple[str, ...]:
    urls = entry.get(name, [])
    if not isinstance(urls, list):
        raise ConfigError(f"{where}: {name} must be a list of URLs")
    for url in urls:
        _require_url(url, where, name, https_only)
    return tuple(urls)


def _require_url(url: object, where: str, name: str, https_only: bool) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    schemes = ("https",) if https_only else ("https", "http")
    if not parts or parts.scheme not in schemes or not parts.hostname or parts.username or parts.query:
        raise ConfigError(f"{where}: {name} {url!r} must be an {' or '.join(schemes)} URL with a host "
                          "(no credentials, no query)")


def _flag(entry: dict, name: str, where: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {name} must be true or false")
    return value
