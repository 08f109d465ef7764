"""Every non-2xx answer is a FHIR OperationOutcome naming the offending field.

Handlers here turn our own errors and Werkzeug's HTTP errors into OperationOutcome JSON. An
unexpected exception becomes a 500 OperationOutcome without any trace; the trace goes to the log.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# FHIR issue-type codes (http://hl7.org/fhir/R4/valueset-issue-type.html) per HTTP status.
_ISSUE_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               408: "timeout", 412: "incomplete", 413: "too-long", 415: "not-supported", 431: "too-long",
               500: "exception", 503: "transient"}


class ApiError(Exception):
    """An error answered to the client; ``field`` names the offending element (a FHIRPath-ish path)."""

    status = 400

    def __init__(self, message: str, field: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        if status is not None:
            self.status = status


class PreconditionFailed(ApiError):
    """CDS Hooks 2.0: data the service requires could not be obtained (412)."""

    status = 412


class StoreUnavailable(ApiError):
    """The feedback/audit store cannot be written now (locked, read-only, down): 503, retry later."""

    status = 503
    RETRY_AFTER_S = 5

    def __init__(self, message: str):
        super().__init__(message, "store", headers={"Retry-After": str(self.RETRY_AFTER_S)})


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, field, headers={"WWW-Authenticate": 'Bearer realm="trd-cds"'})


def operation_outcome(status: int, message: str, field: str | None = None,
                      issues: list[tuple[str, str | None]] | None = None) -> dict:
    """An OperationOutcome with one issue per (message, field); ``expression`` names the field."""
    pairs = issues or [(message, field)]
    return {
        "resourceType": "OperationOutcome",
        "issue": [_issue(status, text, path) for text, path in pairs],
    }


def _issue(status: int, text: str, path: str | None) -> dict:
    issue = {"severity": "error", "code": _ISSUE_CODE.get(status, "processing"), "diagnostics": text}
    if path:
        issue["expression"] = [path]
    return issue


def error_response(status: int, message: str, field: str | None = None, headers=None,
                   issues: list[tuple[str, str | None]] | None = None):
    response = jsonify(operation_outcome(status, message, field, issues))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        issues = getattr(error, "issues", None)
        return error_response(error.status, error.message, error.field, error.headers, issues)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        return error_response(status, _http_message(status, error), None, headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "Internal error: the service could not process this request")


def _http_message(status: int, error: HTTPException) -> str:
    if status == 413:
        return "Request body too large"
    if status == 404:
        return "No such endpoint"
    if status == 405:
        return "Method not allowed on this endpoint"
    return error.description or error.name
