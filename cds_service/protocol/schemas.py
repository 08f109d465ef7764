"""JSON Schemas (Draft 2020-12) for hook requests and feedback, and the checks schemas cannot say.

Shapes follow the CDS Hooks 2.0 request/feedback models and the Hook Library contexts
(../shared/data/hl7-cds-hooks): ``Type/id`` references (invariant ord-1), FHIR ids, cds-r-1.
Additional properties are allowed (the spec reserves ``extension``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from jsonschema import Draft202012Validator

from cds_service.errors import ApiError

FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def _reference(types: str) -> dict:
    return {"type": "string", "pattern": rf"^({types})/[A-Za-z0-9\-\.]{{1,64}}$"}


_NON_EMPTY = {"type": "string", "minLength": 1}
_RESOURCE = {"type": "object", "required": ["resourceType"],
             "properties": {"resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"}}}
_DRAFT_ORDERS = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "entry": {"type": "array", "items": {"type": "object", "required": ["resource"],
                                             "properties": {"resource": _RESOURCE}}},
    },
}
_ORDER_SIGN_CONTEXT = {
    "type": "object",
    "required": ["userId", "patientId", "draftOrders"],
    "properties": {
        "userId": _reference("Practitioner|PractitionerRole"),
        "patientId": {"type": "string", "pattern": FHIR_ID},
        "encounterId": {"type": "string", "pattern": FHIR_ID},
        "draftOrders": _DRAFT_ORDERS,
    },
}
_ORDER_SELECT_CONTEXT = {
    **_ORDER_SIGN_CONTEXT,
    "required": ["userId", "patientId", "selections", "draftOrders"],
    "properties": {
        **_ORDER_SIGN_CONTEXT["properties"],
        "selections": {"type": "array", "minItems": 1, "items": _reference("[A-Z][A-Za-z]+")},
    },
}


def request_schema(context_schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": _NON_EMPTY,
            "hookInstance": {"type": "string", "pattern": UUID},
            "fhirServer": {"type": "string", "pattern": r"^https?://[^\s/$.?#][^\s]*$"},
            "fhirAuthorization": {
                "type": "object",
                # expires_in is REQUIRED by the spec, but real clients omit it (cds-hooks/sandbox#65).
                "required": ["access_token", "token_type", "scope", "subject"],
                "properties": {
                    "access_token": _NON_EMPTY,
                    "token_type": {"enum": ["Bearer", "bearer"]},
                    "expires_in": {"type": "integer", "minimum": 0},
                    "scope": _NON_EMPTY,
                    "subject": _NON_EMPTY,
                    "patient": {"type": "string", "pattern": FHIR_ID},
                },
            },
            "context": context_schema,
            "prefetch": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        },
        # cds-r-1: if fhirAuthorization details are provided, a fhirServer SHALL be specified.
        "dependentRequired": {"fhirAuthorization": ["fhirServer"]},
    }


FEEDBACK_SCHEMA = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string", "pattern": UUID},
                    "outcome": {"enum": ["accepted", "overridden"]},
                    "acceptedSuggestions": {
                        "type": "array", "minItems": 1,
                        "items": {"type": "object", "required": ["id"],
                                  "properties": {"id": {"type": "string", "pattern": UUID}}},
                    },
                    "overrideReason": {
                        "type": "object",
                        # cds-fb-3: a reason or a user comment.
                        "anyOf": [{"required": ["reason"]}, {"required": ["userComment"]}],
                        "properties": {
                            "reason": {"type": "object", "required": ["code", "system"],
                                       "properties": {"code": _NON_EMPTY, "system": _NON_EMPTY,
                                                      "display": {"type": "string"}}},
                            "userComment": {"type": "string", "maxLength": 10000},
                        },
                    },
                    "outcomeTimestamp": {"type": "string", "pattern": RFC3339},
                },
                # cds-fb-2: acceptedSuggestions go with an accepted outcome only.
                "if": {"properties": {"outcome": {"const": "accepted"}}},
                "then": {"required": ["acceptedSuggestions"]},
                "else": {"not": {"required": ["acceptedSuggestions"]}},
            },
        }
    },
}

_VALIDATORS = {
    "order-select": Draft202012Validator(request_schema(_ORDER_SELECT_CONTEXT)),
    "order-sign": Draft202012Validator(request_schema(_ORDER_SIGN_CONTEXT)),
    "feedback": Draft202012Validator(FEEDBACK_SCHEMA),
}


def without_nulls(kind: str, document):
    """``document`` without the ``null`` members that are optional (clients built on pydantic or
    Jackson defaults send ``"fhirServer": null``): null is absent. Required members keep their null
    (400 naming them), and prefetch values keep theirs (null means "no data")."""
    return _drop_nulls(_VALIDATORS[kind].schema, document)


def _drop_nulls(schema: dict, document):
    if isinstance(document, list) and "items" in schema:
        return [_drop_nulls(schema["items"], item) for item in document]
    if not isinstance(document, dict) or "properties" not in schema:
        return document
    required, properties = set(schema.get("required", ())), schema["properties"]
    return {name: _drop_nulls(properties.get(name, {}), value) for name, value in document.items()
            if value is not None or name in required or name not in properties}


def _path(error) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if error.validator in ("required", "dependentRequired"):
        missing = _missing_property(error)
        text = f"{text}.{missing}" if text else missing
    return text or "(body)"


def _missing_property(error) -> str:
    message = error.message
    return message.split("'")[1] if "'" in message else ""


def _message(error) -> str:
    """What the field must be, from the schema only: never the value sent, which may be a token or
    patient data (jsonschema's own messages quote it)."""
    rule, value = error.validator, error.validator_value
    if rule == "anyOf":
        return "needs a reason or a userComment"
    if rule == "not":
        return "acceptedSuggestions is only allowed when outcome is 'accepted'"
    if rule == "type":
        return f"must be of type {' or '.join(value) if isinstance(value, list) else value}"
    if rule == "required":
        return "is required"
    if rule == "pattern":
        return "does not have the required format"
    if rule in ("enum", "const"):
        allowed = value if rule == "enum" else [value]
        return f"must be {' or '.join(map(repr, allowed))}"
    if rule in ("minItems", "minimum"):
        return f"must have at least {value} item(s)" if rule == "minItems" else f"must be at least {value}"
    return f"does not satisfy the schema's '{rule}' rule"


def validate(kind: str, document) -> None:
    """Raise a 400 ApiError naming every offending field (at most 10) of ``document``."""
    # The most specific problem first: deeper paths before their parents.
    errors = sorted(_VALIDATORS[kind].iter_errors(document),
                    key=lambda e: (-len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    issues = [(f"{_path(e)}: {_message(e)}", _path(e)) for e in errors[:10]]
    error = ApiError(issues[0][0], issues[0][1])
    error.issues = issues
    raise error


def check_selections(context: dict) -> None:
    """order-select: every selection must name a resource inside draftOrders."""
    present = {
        f"{entry['resource'].get('resourceType')}/{entry['resource'].get('id')}"
        for entry in context["draftOrders"].get("entry", [])
    }
    for index, selection in enumerate(context["selections"]):
        if selection not in present:
            raise ApiError(f"selection {selection!r} is not in context.draftOrders",
                           f"context.selections[{index}]")


def check_storable_text(document, path: str = "") -> None:
    """400 naming the first string (or member name) that is not Unicode text UTF-8 can store: a lone
    surrogate, which JSON's ``\\ud800`` escape can carry (the stores write UTF-8)."""
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for name, value in items:
        where = f"{path}[{name}]" if isinstance(name, int) else f"{path}.{name}" if path else name
        if isinstance(name, str) and not _storable(name) or isinstance(value, str) and not _storable(value):
            raise ApiError(f"{where}: is not valid Unicode text (a lone surrogate)", where)
        check_storable_text(value, where)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_feedback_timestamps(document: dict) -> None:
    """Each outcomeTimestamp must parse and convert to UTC, as the store converts it (db.parse_utc)."""
    for index, item in enumerate(document["feedback"]):
        try:
            parsed = datetime.fromisoformat(item["outcomeTimestamp"].replace("Z", "+00:00"))
            (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            raise ApiError("outcomeTimestamp is not a valid RFC 3339 date-time",
                           f"feedback[{index}].outcomeTimestamp") from None
