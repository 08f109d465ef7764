"""fhir_server_allowed: the per-issuer fhirServer allowlist (SSRF guard)."""
from __future__ import annotations

import logging
import socket

import pytest

from cds_service.fhir import egress
from cds_service.config import Settings
from test_auth_support import BASE, FHIR_SERVER, ISS, signers, write_issuers  # noqa: F401 (fixtures)

OTHER_ISS = "https://other-ehr.example.org"
PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def resolve(monkeypatch):
    """Fake DNS: example.org names resolve to ``answers[host]`` (default a public address)."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host.endswith("example.org"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers.get(host, PUBLIC_IP), port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def settings(write_issuers):
    def build(auth: str = "on", **issuer_fields) -> Settings:
        other = {OTHER_ISS: {"jwks_file": "ehr-jwks.json", "fhir_servers": ["https://fhir.other.example.org/"]}}
        return Settings.build({"public_base_url": BASE, "auth": auth,
                               "issuers_file": write_issuers(other, **issuer_fields)})
    return build


@pytest.mark.parametrize("url", [FHIR_SERVER, "https://fhir.example.org/r4", "https://FHIR.example.org:443/r4/"])
def test_listed_server_allowed(settings, resolve, url):
    assert egress.fhir_server_allowed(url, ISS, settings()) == (True, "on the issuer's fhir_servers list")


@pytest.mark.parametrize("url, reason", [
    ("https://fhir.example.org/r5/", "not on the issuer's fhir_servers list"),
    ("https://fhir.example.org/r4-admin/", "not on the issuer's fhir_servers list"),
    ("https://fhir.example.org/r4/../admin", "dot segments"),
    ("https://fhir.example.org:8443/r4/", "not on the issuer's fhir_servers list"),
    ("https://fhir.example.org.evil.net/r4/", "not on the issuer's fhir_servers list"),
    ("https://user:pw@fhir.example.org/r4/", "credentials"),
    ("http://fhir.example.org/r4/", "scheme 'http' not allowed"),
    ("file:///etc/passwd", "not an absolute URL"),
    ("https://fhir.other.example.org/", "not on the issuer's fhir_servers list"),  # the other issuer's server
])
def test_unlisted_or_malformed_server_refused(settings, resolve, url, reason, caplog):
    allowed, why = egress.fhir_server_allowed(url, ISS, settings())
    assert not allowed and reason in why
    assert "refused for issuer" in caplog.text and "pw@" not in caplog.text


def test_unknown_or_missing_issuer_refused(settings, resolve):
    assert not egress.fhir_server_allowed(FHIR_SERVER, None, settings())[0]
    assert not egress.fhir_server_allowed(FHIR_SERVER, "https://stranger.example.org", settings())[0]


@pytest.mark.parametrize("server, address", [
    ("https://127.0.0.1/fhir/", None),
    ("https://10.1.2.3/fhir/", None),
    ("https://[::1]/fhir/", None),
    ("https://localhost/fhir/", None),
    ("https://fhir.example.org/r4/", "169.254.169.254"),  # listed name resolving to link-local
    ("https://fhir.example.org/r4/", "192.168.1.20"),
])
def test_private_addresses_refused_unless_allowed(settings, resolve, server, address):
    if address:
        resolve["fhir.example.org"] = address
    allowed, why = egress.fhir_server_allowed(server, ISS, settings(fhir_servers=[server]))
    assert not allowed and "non-public address" in why
    assert egress.fhir_server_allowed(server, ISS, settings(fhir_servers=[server], allow_private_fhir=True))[0]


def test_http_allowed_when_the_issuer_allows_it(settings, resolve):
    url = "http://fhir.example.org/r4/"
    assert egress.fhir_server_allowed(url, ISS, settings(fhir_servers=[url], allow_http_fhir=True))[0]


def test_development_mode_allows_anything_but_logs(settings, resolve, caplog):
    with caplog.at_level(logging.WARNING, logger="trd_cds.security"):
        allowed, why = egress.fhir_server_allowed("http://127.0.0.1:8080/fhir", None, settings(auth="off"))
    assert allowed and why.startswith("auth off")
    assert "would be refused" in caplog.text
