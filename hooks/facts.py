"""Small queries over a PatientRecord shared by the rules (no thresholds here)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable

from fhir_mappings.records import ConditionRecord, Measurement, PatientRecord

# FHIR condition-clinical; a missing clinicalStatus is read as active (never as "absent").
ACTIVE_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse", None})


def conditions_in(patient: PatientRecord, categories: Iterable[str],
                  active_only: bool) -> list[tuple[str, ConditionRecord]]:
    """``(category, condition)`` pairs for the categories, in category order then by source."""
    ordered = sorted(patient.conditions, key=lambda condition: condition.source)
    return [(category, condition) for category in categories for condition in ordered
            if category in condition.categories
            and (not active_only or condition.clinical_status in ACTIVE_CLINICAL_STATUSES)]


def latest(patient: PatientRecord, kind: str, today: date, within_days: int | None = None) -> Measurement | None:
    """The latest measurement of ``kind``, optionally no older than ``within_days`` before ``today``.

    ``today`` is the order's as-of date (its authoredOn); a reading taken after it is the newest
    evidence, so it counts rather than being dropped.
    """
    oldest = today - timedelta(days=within_days) if within_days is not None else date.min
    found = [m for m in patient.measurements if m.kind == kind and oldest <= m.when]
    return max(found, key=lambda m: (m.when, m.source), default=None)


def age_on(birth_date: date | None, today: date) -> int | None:
    """Age in whole years on ``today``; None without a birth date."""
    if birth_date is None:
        return None
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def condition_text(category_label: str, condition: ConditionRecord) -> str:
    """Plain text naming a condition record for a card detail (escape before use in markdown)."""
    status = condition.clinical_status or "status not recorded"
    onset = f", onset {condition.onset.isoformat()}" if condition.onset else ""
    return f"{category_label}: {condition.display or condition.code or 'unnamed'} ({status}{onset}; {condition.source})"
