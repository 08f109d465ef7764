"""CORS for browser-based CDS clients, and security headers on every response."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response
from flask_cors import CORS

from cds_service.config import PREFIX, ConfigError, Settings

# Discovery, invocation and feedback; flask-cors anchors the pattern at the start, "$" at the end.
CDS_PATHS = re.compile(r"^/cds-services(/[^/]+(/feedback)?)?/?$")
JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}


def install(app: Flask, settings: Settings) -> None:
    """Answer CORS preflight on the CDS endpoints for the configured origins; add security headers."""
    origins = cors_origins(settings)
    if origins:
        CORS(app, resources={CDS_PATHS: {}}, origins=origins, methods=["GET", "POST", "OPTIONS"],
             allow_headers=["Authorization", "Content-Type"], supports_credentials=False, max_age=600)
    app.after_request(_security_headers)


def cors_origins(settings: Settings) -> list[str]:
    """The allowed origins, checked: exact ``scheme://host[:port]``, or ``*`` only with auth off."""
    for origin in settings.cors_origins:
        if origin == "*":
            if settings.auth == "on":
                raise ConfigError(f"{PREFIX}CORS_ORIGINS '*' is allowed only in development mode (auth off)")
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or origin != f"{parts.scheme}://{parts.netloc}":
            raise ConfigError(f"{PREFIX}CORS_ORIGINS entry {origin!r} must be an origin like https://ehr.example.org")
    return list(settings.cors_origins)


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.is_json:
        response.headers.setdefault("Content-Security-Policy", JSON_CSP)
    return response
