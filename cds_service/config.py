"""Typed settings read once from ``TRD_CDS_*`` environment variables.

Every field is documented in README.md ("Configuration"); keep the two in step.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

PREFIX = "TRD_CDS_"


def package_version() -> str:
    """The installed trd-cds version."""
    from importlib import metadata  # here: an import costing 20 ms that `trd-cds --help` does not need

    try:
        return metadata.version("trd-cds")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class ConfigError(ValueError):
    """A configuration value that cannot be used; raised at start-up, never per request."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    public_base_url: str = "http://127.0.0.1:8080"  # the URL EHRs call; used for JWT `aud`
    max_body_bytes: int = 5 * 1024 * 1024
    read_timeout_s: float = 15.0  # `trd-cds serve`: a whole request must arrive within this, else 408
    fhir_deadline_s: float = 3.0  # caps all FHIR reads of one hook call together
    fhir_connect_timeout_s: float = 1.0
    fhir_read_timeout_s: float = 2.5
    fhir_max_pages: int = 10
    fhir_page_size: int = 100
    fhir_max_workers: int = 12  # concurrent FHIR searches per hook call (one per prefetch key)
    fhir_retries: int = 2
    fhir_max_response_bytes: int = 20 * 1024 * 1024  # one FHIR response body; larger → FhirError
    database_url: str = "sqlite:///trd-cds.db"
    audit_delay_s: float = 0.05  # longest an audit row waits in memory for its batch (cds_service/store/audit.py)
    auth: str = "on"  # "on" | "off" (development only)
    issuers_file: str = ""  # JSON file of trusted JWT issuers: keys, jku allowlist, FHIR servers
    jwt_algorithms: tuple[str, ...] = ("ES384", "RS384")  # may add ES256, RS256; never none/HS*
    jwt_max_age_s: int = 300  # oldest accepted JWT `iat`
    jwt_leeway_s: int = 30  # clock skew tolerated on `exp` and `iat`
    jwks_cache_s: int = 3600  # how long a JWKS fetched over HTTPS is reused
    jwks_timeout_s: float = 3.0  # timeout of one JWKS fetch
    cors_origins: tuple[str, ...] = ()
    policy_file: str = ""  # JSON file overriding policy defaults (hooks/policy.py)
    scale_codes: tuple[str, ...] = ()  # extra depression-scale codes: "system|code=MADRS"
    surveys: str = "on"  # "off": no surveys prefetch key / query (scores known only by their text)
    log_level: str = "INFO"
    log_format: str = "text"  # "text" | "json": one JSON object per line on every logger
    metrics_bind: str = ""  # host:port where `trd-cds serve` serves /metrics apart from the service port
    metrics_token_file: str = ""  # file holding the bearer token /metrics requires on the service port
    preview: str = "off"
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown overrides passed to create_app

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = environ.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = raw
        return cls.build(values)

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> "Settings":
        """Coerce strings to the field types and check ranges; unknown keys go to ``extra``."""
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        coerced: dict[str, Any] = {}
        extra = {}
        for key, raw in values.items():
            name = key.lower()
            if name not in known:
                extra[key] = raw
                continue
            coerced[name] = _coerce(name, known[name].type, raw)
        settings = cls(**coerced, extra=extra)
        settings.check()
        return settings

    def check(self) -> None:
        positive = ("max_body_bytes", "read_timeout_s", "fhir_deadline_s", "fhir_connect_timeout_s",
                    "fhir_read_timeout_s", "fhir_max_pages", "fhir_page_size", "fhir_max_workers",
                    "fhir_max_response_bytes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be greater than 0")
        for name in ("fhir_retries", "audit_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must not be negative")
        if self.auth not in ("on", "off"):
            raise ConfigError(f"{PREFIX}AUTH must be 'on' or 'off', not {self.auth!r}")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"{PREFIX}LOG_FORMAT must be 'text' or 'json', not {self.log_format!r}")
        host, _, port = self.metrics_bind.rpartition(":")
        if self.metrics_bind and not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"{PREFIX}METRICS_BIND must be HOST:PORT, not {self.metrics_bind!r}")
        for name in ("preview", "surveys"):
            if getattr(self, name) not in ("on", "off"):
                raise ConfigError(f"{PREFIX}{name.upper()} must be 'on' or 'off', not {getattr(self, name)!r}")
        for entry in self.scale_codes:
            if "|" not in entry.split("=")[0] or "=" not in entry:
                raise ConfigError(f"{PREFIX}SCALE_CODES entry {entry!r} is not 'system|code=INSTRUMENT'")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{PREFIX}PUBLIC_BASE_URL must be an http(s) URL")

    @property
    def scale_code_map(self) -> dict[str, str]:
        """``{"system|code": instrument}`` from ``scale_codes``."""
        return dict(entry.rsplit("=", 1) for entry in self.scale_codes)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")


def _coerce(name: str, type_name: Any, raw: Any) -> Any:
    type_name = str(type_name)
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if type_name.startswith("tuple"):
            return _csv(raw) if isinstance(raw, str) else tuple(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{PREFIX}{name.upper()}: cannot use {raw!r} as {type_name}") from None
