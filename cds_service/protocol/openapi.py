"""The OpenAPI 3.1 description of the service, built from the request schemas in ``schemas.py``.

Served at ``GET /openapi.json`` and committed as docs/openapi.json (``python -m cds_service.protocol.openapi``
rewrites it; a test keeps the two identical). Response shapes follow CDS Hooks 2.0; every error
is a FHIR OperationOutcome.
"""
from __future__ import annotations

import json
import sys

from flask import Blueprint, jsonify

from cds_service.protocol import schemas
from cds_service.protocol.services import SERVICES

DOCUMENT_VERSION = "1.0.0"
docs = Blueprint("openapi", __name__)

_REF = "#/components/schemas/"
_CODING = {"type": "object", "properties": {"system": {"type": "string"}, "code": {"type": "string"},
                                            "display": {"type": "string"}}}
_CARD = {
    "type": "object",
    "required": ["summary", "indicator", "source"],
    "properties": {
        "uuid": {"type": "string", "pattern": schemas.UUID},
        "summary": {"type": "string", "minLength": 1, "maxLength": 140},
        "detail": {"type": "string"},
        "indicator": {"enum": ["info", "warning", "critical"]},
        "source": {"type": "object", "required": ["label"],
                   "properties": {"label": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                                  "topic": _CODING}},
        "suggestions": {"type": "array", "items": {
            "type": "object", "required": ["label"],
            "properties": {"label": {"type": "string"}, "uuid": {"type": "string", "pattern": schemas.UUID},
                           "isRecommended": {"type": "boolean"},
                           "actions": {"type": "array", "items": {
                               "type": "object", "required": ["type"],
                               "properties": {"type": {"enum": ["create", "update", "delete"]},
                                              "description": {"type": "string"},
                                              "resource": {"type": "object"}}}}}}},
        "selectionBehavior": {"enum": ["at-most-one", "any"]},
        "overrideReasons": {"type": "array", "items": _CODING},
        "links": {"type": "array", "items": {
            "type": "object", "required": ["label", "url", "type"],
            "properties": {"label": {"type": "string"}, "url": {"type": "string"},
                           "type": {"enum": ["absolute", "smart"]}}}},
    },
}
_COMPONENTS = {
    "Cards": {"type": "object", "required": ["cards"],
              "properties": {"cards": {"type": "array", "items": {"$ref": _REF + "Card"}}}},
    "Card": _CARD,
    "OperationOutcome": {
        "type": "object", "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["severity", "code"],
                "properties": {"severity": {"enum": ["fatal", "error", "warning", "information"]},
                               "code": {"type": "string"}, "diagnostics": {"type": "string"},
                               "expression": {"type": "array", "items": {"type": "string"}}}}},
        },
    },
    "Discovery": {"type": "object", "required": ["services"], "properties": {"services": {"type": "array", "items": {
        "type": "object", "required": ["hook", "description", "id"],
        "properties": {"hook": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                       "id": {"type": "string"}, "usageRequirements": {"type": "string"},
                       "prefetch": {"type": "object", "additionalProperties": {"type": "string"}}}}}}},
    "FeedbackResult": {"type": "object", "required": ["stored", "duplicates", "unknownCards"],
                       "properties": {name: {"type": "integer", "minimum": 0}
                                      for name in ("stored", "duplicates", "unknownCards")}},
    "Feedback": schemas.FEEDBACK_SCHEMA,
}
_ERRORS = {
    "400": "Bad JSON, wrong hook or a failed schema check; expression names the field",
    "401": "Missing or invalid CDS Hooks JWT (authentication on); expression names the failed check or claim",
    "408": "The request did not arrive whole within TRD_CDS_READ_TIMEOUT_S (trd-cds serve)",
    "413": "Request body too large (with a Content-Length or chunked)",
    "415": "Content-Type is not JSON",
    "503": "The store cannot be written now; nothing was stored: retry after Retry-After seconds",
}


def request_schema(hook: str) -> dict:
    """The JSON Schema ``schemas.validate`` checks a ``hook`` request against (the very same dict)."""
    return schemas._VALIDATORS[hook].schema  # noqa: SLF001 — schemas.py keeps its validators private


def _json(description: str, schema_name: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + schema_name}}}}


def _errors(*statuses: str, **more: str) -> dict:
    described = {status: _ERRORS[status] for status in statuses} | more
    return {status: _json(text, "OperationOutcome") for status, text in described.items()}


def _post(summary: str, schema: dict, ok: dict, errors: dict) -> dict:
    return {"post": {"summary": summary, "security": [{"cdsHooksJwt": []}],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                     "responses": {"200": ok, **errors}}}


def _get(summary: str, ok: dict, errors: dict | None = None, secured: bool = False) -> dict:
    operation = {"summary": summary, "responses": {"200": ok, **(errors or {})}}
    if secured:
        operation["security"] = [{"cdsHooksJwt": []}]
    return {"get": operation}


def build() -> dict:
    """The OpenAPI 3.1 document (the same dict on every call)."""
    paths = {"/cds-services": _get("CDS Hooks discovery", _json("The services offered", "Discovery"),
                                   _errors("401"), secured=True)}
    for service in SERVICES.values():
        path = f"/cds-services/{service.id}"
        paths[path] = _post(f"Invoke {service.id} ({service.hook} hook)", request_schema(service.hook),
                            _json("Cards for the order (none when the drug is out of scope)", "Cards"),
                            _errors("400", "401", "408", "413", "415",
                                    **{"412": "Required patient data could not be obtained"}))
        paths[f"{path}/feedback"] = _post(f"Feedback on cards of {service.id}", {"$ref": _REF + "Feedback"},
                                          _json("What was stored", "FeedbackResult"),
                                          _errors("400", "401", "408", "413", "415", "503"))
    paths["/healthz"] = _get("Liveness", {"description": "Alive", "content": {"application/json": {"schema": {
        "type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}}})
    paths["/readyz"] = _get("Readiness", {"description": "Configuration loaded, the store takes a write and no audit "
                                                         "row kept after a failed write waits for it", "content": {
        "application/json": {"schema": {"type": "object", "required": ["status"], "properties": {
            "status": {"const": "ready"}, "policyVersion": {"type": "string"}}}}}},
        _errors(**{"503": "The store cannot be written, or audit rows kept during a store fault wait for it"}))
    paths["/metrics"] = _get("Prometheus metrics (text format; README \"Operating it\")", {
        "description": "Counters, histograms and build information", "content": {"text/plain": {"schema": {
            "type": "string"}}}}, _errors("401", **{"404": "Served on TRD_CDS_METRICS_BIND instead, or off"}))
    paths["/openapi.json"] = _get("This document", {"description": "OpenAPI 3.1", "content": {
        "application/json": {"schema": {"type": "object"}}}})
    return {
        "openapi": "3.1.0",
        "info": {"title": "trd-cds", "version": DOCUMENT_VERSION,
                 "description": "HL7 CDS Hooks 2.0 service for IV ketamine and intranasal esketamine orders. "
                                "Optional request fields sent as null are treated as absent; required "
                                "fields must not be null."},
        "paths": paths,
        "components": {"schemas": _COMPONENTS, "securitySchemes": {"cdsHooksJwt": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "CDS Hooks 2.0 JWT signed by a trusted issuer (not required with auth off)"}}},
    }


@docs.get("/openapi.json")
def openapi_document():
    return jsonify(build())


def render() -> str:
    """The committed form of the document: indented JSON with a final newline."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
