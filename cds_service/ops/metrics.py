"""Prometheus metrics (``prometheus_client``); ``GET /metrics`` in the text format.

In one process (tests, ``flask run``) the default registry holds the values. Under ``trd-cds serve``
``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported: each worker writes its values to
files there and a scrape adds them up (``cds_service/ops/gunicorn_conf.py`` marks dead workers).
Label values come from fixed sets (service ids, card topics, prefetch keys, JWT checks, statuses):
never a patient, user or hookInstance identifier.
"""
from __future__ import annotations

import hmac
import os
import time
from pathlib import Path

from flask import Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

from cds_service.config import ConfigError, Settings, package_version
from cds_service.errors import ApiError, Unauthorized

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TIMED = {"cds.invoke": "hook", "cds.feedback": "feedback"}

HOOK_CALLS = Counter("trd_cds_hook_calls", "Hook calls by service and outcome (ok, 412, another 4xx status, 5xx)",
                     ["service", "outcome"])
HOOK_SECONDS = Histogram("trd_cds_hook_call_seconds", "Hook call time in the service, authentication included",
                         ["service"], buckets=LATENCY_BUCKETS)
CARDS = Counter("trd_cds_cards", "Cards returned, by service, topic and indicator", ["service", "topic", "indicator"])
FHIR_READS = Counter("trd_cds_fhir_reads", "Patient data per prefetch key, by where it came from or why it did not "
                     "(prefetched, fetched, partial, failed, timed_out)", ["key", "result"])
FHIR_SECONDS = Histogram("trd_cds_fhir_read_seconds", "Time of the FHIR reads of one prefetch key in a hook call "
                         "(a search with its pages, or a read)", ["key"], buckets=LATENCY_BUCKETS)
JWT_REFUSALS = Counter("trd_cds_jwt_refusals", "Calls refused for their JWT, by the failed check", ["check"])
FEEDBACK_CALLS = Counter("trd_cds_feedback_calls", "Feedback requests by service and outcome", ["service", "outcome"])
FEEDBACK_ITEMS = Counter("trd_cds_feedback_items", "Feedback items by result (stored, stored_unknown_card: no card "
                         "of ours has its uuid, duplicate)", ["service", "result"])
STORE_ERRORS = Counter("trd_cds_store_errors", "Store operations that raised, by operation", ["operation"])
AUDIT_PENDING = Gauge("trd_cds_audit_rows_pending", "Audit rows kept in memory after a failed write, waiting for "
                      "the store to take them (rows waiting only for their batch are not counted)",
                      multiprocess_mode="livesum")
AUDIT_LOST = Counter("trd_cds_audit_rows_lost", "Audit rows dropped for good (backlog full, or the process stopped "
                     "before the store took them); each is logged on trd_cds.audit")
AUDIT_WRITE_FAILURES = Counter("trd_cds_audit_write_failures", "Audit batch writes that failed, retries included")
BUILD_INFO = Gauge("trd_cds_build_info", "Always 1: the running version and clinical policy version",
                   ["version", "policy_version"], multiprocess_mode="livemax")
CALLS = {"hook": (HOOK_CALLS, HOOK_SECONDS), "feedback": (FEEDBACK_CALLS, None)}


def install(app: Flask, settings: Settings, policy_version: str, service_ids) -> None:
    """Time and count CDS calls (services outside ``service_ids`` as ``unknown``), and serve
    ``GET /metrics`` as ``settings`` allow."""
    BUILD_INFO.labels(package_version(), policy_version).set(1)
    app.extensions["trd_cds_metrics_services"] = frozenset(service_ids)
    app.before_request(_start_clock)
    app.after_request(_count_call)
    app.extensions["trd_cds_metrics_token"] = _token(settings.metrics_token_file)
    app.add_url_rule("/metrics", "metrics", _metrics)


def _token(path: str) -> str:
    if not path:
        return ""
    try:
        token = Path(path).read_text().strip()
    except OSError as error:
        raise ConfigError(f"TRD_CDS_METRICS_TOKEN_FILE {path}: {error.strerror}") from None
    if not token:
        raise ConfigError(f"TRD_CDS_METRICS_TOKEN_FILE {path} is empty")
    return token


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _count_call(response: Response) -> Response:
    kind = TIMED.get(request.endpoint)
    if kind is None or "metrics_started" not in g:
        return response
    service = (request.view_args or {}).get("service_id")
    service = service if service in current_app.extensions["trd_cds_metrics_services"] else "unknown"
    counter, histogram = CALLS[kind]
    counter.labels(service, outcome(response.status_code)).inc()
    if histogram is not None:
        histogram.labels(service).observe(time.perf_counter() - g.metrics_started)
    return response


def outcome(status: int) -> str:
    """``ok`` for 2xx, the status for a 4xx, ``5xx`` for any server error."""
    if status < 400:
        return "ok"
    return str(status) if status < 500 else "5xx"


def _metrics() -> Response:
    """The metrics, unless they are served elsewhere (a separate address) or this caller lacks the token."""
    settings = current_app.extensions["trd_cds"].settings
    token = current_app.extensions["trd_cds_metrics_token"]
    if settings.metrics_bind or not (token or settings.auth == "off"):
        raise ApiError("metrics are not served on this address", "path", status=404)
    if token:
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("/metrics needs Authorization: Bearer <the metrics token>", "Authorization")
    return Response(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def registry() -> CollectorRegistry:
    """All workers' values in multiprocess mode, else this process's default registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def cards(service: str, returned: list[dict]) -> None:
    for card in returned:
        CARDS.labels(service, card["source"]["topic"]["code"], card["indicator"]).inc()


def feedback(service: str, stored: int, duplicates: int, unknown_cards: int) -> None:
    for result, number in (("stored", stored - unknown_cards), ("stored_unknown_card", unknown_cards),
                           ("duplicate", duplicates)):
        if number:
            FEEDBACK_ITEMS.labels(service, result).inc(number)


def fhir_reads(results: dict[str, str], seconds: dict[str, float]) -> None:
    """``results``: prefetch key → result; ``seconds``: key → time of its FHIR reads."""
    for key, result in results.items():
        FHIR_READS.labels(key, result).inc()
    for key, elapsed in seconds.items():
        FHIR_SECONDS.labels(key).observe(elapsed)


STORE_OPERATIONS = ("record_audit", "record_feedback", "ping")


def instrument(store):
    """The same store (its type unchanged), its failing operations counted in
    ``trd_cds_store_errors_total`` and re-raised. The SQL replay cache counts its own (it falls back
    to memory instead of raising)."""
    for name in STORE_OPERATIONS:
        setattr(store, name, _counting(getattr(store, name), name))
    return store


def _counting(operation, name: str):
    def counted(*args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except Exception:
            STORE_ERRORS.labels(name).inc()
            raise
    return counted
