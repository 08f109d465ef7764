"""SSRF guard: may this service call the ``fhirServer`` a hook request names?

Only a server on the calling issuer's ``fhir_servers`` list (same scheme, host and port, path
under the listed path), over HTTPS unless the issuer allows HTTP, and never at a loopback,
private, link-local or otherwise non-public address unless the issuer allows private servers.
With auth off (development) everything is allowed, but what would be refused is still logged.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import unquote, urlsplit

from cds_service.config import Settings
from cds_service.auth.issuers import TrustedIssuer, trusted_issuers

security_log = logging.getLogger("trd_cds.security")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def fhir_server_allowed(url: str, issuer: str | None, settings: Settings) -> tuple[bool, str]:
    """(allowed, reason) for calling ``url`` on behalf of ``issuer`` (``flask.g.issuer``)."""
    trusted = trusted_issuers(settings).get(issuer) if issuer else None
    refusal = _refusal(url, trusted) if trusted else "the caller is not an authenticated trusted issuer"
    if refusal is None:
        return True, "on the issuer's fhir_servers list"
    shown = _without_secrets(url)
    if settings.auth == "off":
        security_log.warning("fhirServer %s would be refused (%s); allowed because auth is off", shown, refusal)
        return True, f"auth off (development): {refusal}"
    security_log.warning("fhirServer %s refused for issuer %s: %s", shown, issuer, refusal)
    return False, refusal


def _refusal(url: str, issuer: TrustedIssuer) -> str | None:
    schemes = ("https", "http") if issuer.allow_http_fhir else ("https",)
    try:
        target = _origin_and_path(url)
        listed = any(_under(target, _origin_and_path(allowed)) for allowed in issuer.fhir_servers)
    except ValueError as error:
        return str(error)
    if target[0] not in schemes:
        return f"scheme {target[0]!r} not allowed (use {' or '.join(schemes)})"
    if not listed:
        return "not on the issuer's fhir_servers list"
    return None if issuer.allow_private_fhir else _non_public_address(target[1], target[2])


def _origin_and_path(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a base URL; refuses credentials, query, fragment and dot segments."""
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        raise ValueError("invalid port") from None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError("not an absolute URL with a host (and without credentials)")
    if parts.query or parts.fragment:
        raise ValueError("a FHIR base URL has no query or fragment")
    segments = unquote(parts.path).split("/")
    if "." in segments or ".." in segments or any("\\" in segment for segment in segments):
        raise ValueError("dot segments and backslashes are not allowed in the path")
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port, parts.path.rstrip("/") + "/"


def _under(target: tuple[str, str, int, str], allowed: tuple[str, str, int, str]) -> bool:
    return target[:3] == allowed[:3] and target[3].startswith(allowed[3])


def _non_public_address(host: str, port: int) -> str | None:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError) as error:
        return f"host does not resolve ({error})"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if not ip.is_global or ip.is_multicast:
            return f"host resolves to a non-public address ({ip})"
    return None


def _without_secrets(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()
