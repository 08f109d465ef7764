"""Audit records and feedback items as the routes hand them to a store."""
from __future__ import annotations

import uuid

SERVICE = "ketamine-esketamine-order-sign"
FEEDBACK_PATH = f"/cds-services/{SERVICE}/feedback"
REASON_SYSTEM = "urn:trd-cds:override-reason"
SUGGESTION = "6c6f3b1e-8a0d-4b56-9b1f-7d2f8e9a0b1c"


def card_uuid(number: int) -> str:
    return str(uuid.UUID(int=number))


def audit(*uuids: str, topic: str = "contraindication", time: str = "2026-03-02T09:00:00+00:00",
          service: str = SERVICE) -> dict:
    return {"hookInstance": str(uuid.uuid4()), "service": service, "hook": "order-sign", "time": time,
            "patientId": "trd-cds-patient-1", "userId": "Practitioner/dr-1", "policyVersion": "2026.1",
            "cards": [{"uuid": uuid_, "topic": topic, "indicator": "warning"} for uuid_ in uuids]}


def accepted(card: str, at: str = "2026-03-02T09:05:00Z", suggestions: tuple[str, ...] = (SUGGESTION,)) -> dict:
    return {"card": card, "outcome": "accepted", "outcomeTimestamp": at,
            "acceptedSuggestions": [{"id": suggestion} for suggestion in suggestions]}


def overridden(card: str, at: str = "2026-03-02T09:06:00Z", code: str | None = None,
               comment: str | None = None) -> dict:
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": at}
    if code or comment:
        reason = {"reason": {"system": REASON_SYSTEM, "code": code, "display": code.replace("-", " ")}} if code else {}
        item["overrideReason"] = {**reason, **({"userComment": comment} if comment else {})}
    return item
