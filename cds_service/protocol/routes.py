"""HTTP surface: discovery, hook invocation, feedback and health."""
from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timezone

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

import hooks
from cds_service.errors import ApiError, PreconditionFailed
from cds_service.fhir import egress, patient_data
from cds_service.ops import metrics
from cds_service.protocol import schemas
from cds_service.protocol.body import decode_body
from cds_service.protocol.services import LATEST_VALUE_KEYS, REQUIRED_KEYS, SERVICES, configured_templates, discovery_document
from fhir_mappings.orders import ordered_medications
from fhir_mappings.patient import PatientRecordBuilder

cds = Blueprint("cds", __name__)
ops = Blueprint("ops", __name__)
call_log = logging.getLogger("trd_cds.calls")

JSON_TYPES = ("application/json", "application/fhir+json")


def state():
    return current_app.extensions["trd_cds"]


@cds.get("/cds-services")
def discovery():
    settings = state().settings
    return jsonify(discovery_document(state().policy.describe(), configured_templates(settings)))


@cds.post("/cds-services/<service_id>")
def invoke(service_id: str):
    service = _service(service_id)
    payload = schemas.without_nulls(service.hook, _json_body(lazy_prefetch=True))
    if isinstance(payload, dict) and payload.get("hook") not in (None, service.hook):
        raise ApiError(f"service {service.id} answers the {service.hook} hook, not {payload['hook']!r}", "hook")
    schemas.validate(service.hook, payload)
    if service.hook == "order-select":
        schemas.check_selections(payload["context"])
    started = time.monotonic()
    try:
        cards, summary = _advise(service.hook, payload)
    except PreconditionFailed as error:
        _log_call(patient_data.call_summary(getattr(error, "gathered", None), status=412), payload, service, started, 0)
        raise
    _log_call(summary, payload, service, started, len(cards))
    metrics.cards(service.id, cards)
    if cards:
        _audit(service, payload, cards)
    return jsonify({"cards": cards})


def _log_call(summary: dict, payload: dict, service, started: float, cards: int) -> None:
    summary.update(service=service.id, hookInstance=payload["hookInstance"], cards=cards,
                   ms=round((time.monotonic() - started) * 1000, 1))
    call_log.info(json.dumps(summary, sort_keys=True), extra={"fields": summary})


def _usable_server(payload: dict) -> dict:
    """The payload as the data layer may use it: an fhirServer not allowed for the caller is dropped,
    so its token is never sent there (cds_service/fhir/egress.py logs the refusal)."""
    server = payload.get("fhirServer")
    if server and not egress.fhir_server_allowed(server, g.get("issuer"), state().settings)[0]:
        return {key: value for key, value in payload.items() if key not in ("fhirServer", "fhirAuthorization")}
    return payload


def _advise(hook: str, payload: dict) -> tuple[list[dict], dict]:
    app_state = state()
    context = payload["context"]
    deadline = patient_data.Deadline(app_state.settings.fhir_deadline_s)
    orders = ordered_medications(context, hook)
    unresolved = any(order.medication_reference for order in orders)
    if unresolved or hooks.in_scope(orders):  # otherwise no FHIR read at all, not even a DNS lookup
        payload = _usable_server(payload)
    if unresolved:
        orders = patient_data.resolve_references(orders, payload, app_state.settings, deadline=deadline)
    in_scope = hooks.in_scope(orders)
    if not in_scope:
        return [], {"status": 200, "outOfScope": True, "prefetched": [], "fetched": []}
    templates = configured_templates(app_state.settings)
    gathered = patient_data.gather(payload, templates, REQUIRED_KEYS, app_state.settings, deadline=deadline,
                                   latest=LATEST_VALUE_KEYS)
    builder = PatientRecordBuilder(context["patientId"], app_state.settings.scale_code_map)
    for found in gathered.resources.values():
        builder.add_all(found)
    builder.add_all(patient_data.history_medications(builder.medication_references(), builder.medications_known,
                                                     payload, app_state.settings, gathered, deadline=deadline))
    patient = builder.build()
    cards = hooks.advise(in_scope, patient, app_state.policy, _as_of(in_scope), frozenset(gathered.unavailable),
                         seed=payload["hookInstance"], partial=frozenset(gathered.partial),
                         user=context.get("userId"))
    return cards, patient_data.call_summary(gathered)


def _as_of(orders) -> date:
    """The order's authoring date when given (so advice is reproducible), else today in UTC."""
    authored = [order.authored for order in orders if order.authored]
    return min(authored) if authored else datetime.now(timezone.utc).date()


def _audit(service, payload: dict, cards: list[dict]) -> None:
    context = payload["context"]
    state().audits.record({
        "hookInstance": payload["hookInstance"], "service": service.id, "hook": service.hook,
        "time": datetime.now(timezone.utc).isoformat(), "patientId": context["patientId"],
        "userId": context["userId"], "policyVersion": state().policy.version,
        "cards": [{"uuid": c["uuid"], "topic": c["source"]["topic"]["code"], "indicator": c["indicator"]}
                  for c in cards],
    })


@cds.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = _service(service_id)
    document = schemas.without_nulls("feedback", _json_body())
    schemas.validate("feedback", document)
    schemas.check_feedback_timestamps(document)
    schemas.check_storable_text(document)
    audits = state().audits
    if audits.queued and not audits.pending:  # the cards this worker issued are known before their feedback
        audits.flush()
    result = state().store.record_feedback(service.id, document["feedback"], g.get("issuer"))
    metrics.feedback(service.id, result.stored, result.duplicates, result.unknown_cards)
    return jsonify({"stored": result.stored, "duplicates": result.duplicates,
                    "unknownCards": result.unknown_cards})


@ops.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@ops.get("/readyz")
def readyz():
    """Ready when the store can write and no audit row is kept after a failed write (rows waiting
    only for their batch do not count: under load some always do)."""
    try:
        writable = state().store.ping()
    except Exception:  # any store failure means "not ready", reported without detail
        writable = False
    pending = state().audits.pending
    if not writable or pending:
        raise ApiError(f"feedback/audit store cannot be written ({pending} audit rows kept for retry)",
                       "store", status=503)
    return jsonify({"status": "ready", "policyVersion": state().policy.version})


def _service(service_id: str):
    if service_id not in SERVICES:
        raise ApiError(f"unknown CDS service {service_id!r}; see GET /cds-services", "id", status=404)
    return SERVICES[service_id]


def _json_body(lazy_prefetch: bool = False):
    mimetype = request.mimetype or ""
    if mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
        raise ApiError(f"Content-Type must be application/json, not {mimetype or 'missing'!r}",
                       "Content-Type", status=415)
    raw = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()  # a chunked body: werkzeug's stream stops at the limit silently
    if not raw.strip():
        raise ApiError("request body is empty; a JSON object is required", "(body)")
    body = decode_body(raw, lazy_prefetch)
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object", "(body)")
    return body
