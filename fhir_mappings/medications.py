"""MedicationStatement and MedicationRequest dicts → MedicationExposure (decision-rules.md §2).

Statuses: active, completed, stopped and on-hold count (decision-rules §2). entered-in-error,
not-taken, cancelled and draft are ignored (§2), and so is a statement's "intended" (a plan, like a
draft order). Any other status, "unknown" included, keeps the record with a ``status:`` reason, so
that a possible trial is reported rather than dropped.

Dates: ``start`` from effectivePeriod.start / effectiveDateTime (statement) or
dispenseRequest.validityPeriod.start / authoredOn (request). ``end`` is None while the status is
active; otherwise it is the period end. A request without one lasts its supply (decision-rules
§2.9 v2, ``supply_end``): authored date + ``expectedSupplyDuration`` × (1 + ``numberOfRepeatsAllowed``).
When no end is documented (a statement with only an effectiveDateTime, for one) ``end`` is None
with an ``end:`` reason: the duration is unknown.

A medicine the tables do not know is dropped when it has a name (it is some other drug); without
any name (bare unknown codes, an unresolved reference) it is kept with a ``medication:`` reason.
"""
from __future__ import annotations

from typing import Any, Mapping

from datetime import date, timedelta

from .dosage import daily_dose_mg
from .reading import (as_dict, as_list, codings, concept_text, is_partial, memoised_by_element, number, parse_date,
                      reference, source, text)
from .records import MedicationExposure
from .terminology import Ingredient, ingredient_for_code, ingredient_in_text

COUNTED_STATUSES = frozenset({"active", "completed", "stopped", "on-hold"})
IGNORED_STATUSES = frozenset({"entered-in-error", "not-taken", "cancelled", "draft", "intended"})


def ingredient_of(concept: Any) -> Ingredient | None:
    """The ingredient of a medication concept: by a listed code first, then by name in the text."""
    for system, code in codings(concept):
        found = ingredient_for_code(system, code)
        if found:
            return found
    return ingredient_in_text(concept_text(concept))


def medication_code(medication: dict) -> dict:
    """Medication.code, or the first ingredient's item when the code is empty."""
    code = as_dict(medication.get("code"))
    if codings(code) or text(code.get("text")):
        return code
    items = [as_dict(item).get("itemCodeableConcept") for item in as_list(medication.get("ingredient"))]
    return as_dict(next((item for item in items if item), {}))


def medication_concept(resource: dict, known: Mapping[str, dict] | None = None
                       ) -> tuple[dict | None, str | None]:
    """The medication concept of a statement or request, and the reference when it is unresolved.

    ``medicationReference`` is looked up among contained resources ("#id") and in ``known``
    ("Medication/x" or a Bundle fullUrl → Medication; an absolute reference also by its
    "Medication/x" tail). An unresolved reference's ``display``, if
    any, is returned as the concept's text.
    """
    if "medicationCodeableConcept" in resource:
        return as_dict(resource["medicationCodeableConcept"]), None
    target = as_dict(resource.get("medicationReference"))
    ref = reference(target)
    medication = None
    if ref and ref.startswith("#"):
        medication = next((as_dict(item) for item in as_list(resource.get("contained"))
                           if text(as_dict(item).get("id")) == ref[1:]), None)
    elif ref:  # "Medication/x", or an absolute URL found by its "Medication/x" tail (a read by the service)
        medication = (known or {}).get(ref) or (known or {}).get("/".join(ref.rstrip("/").split("/")[-2:]))
    if medication is not None:
        return medication_code(medication), None
    display = text(target.get("display"))
    return ({"text": display} if display else None), ref


# Days per unit of a Duration (UCUM codes, and the unit words EHRs write); UCUM: mo = 30.4375 d.
DAYS_PER_DURATION_UNIT = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "weeks": 7.0,
                          "mo": 30.4375, "month": 30.4375, "months": 30.4375}


def supply_days(dispense: Any) -> float | None:
    """Days a request's dispense covers: expectedSupplyDuration × (1 + numberOfRepeatsAllowed)."""
    dispense = as_dict(dispense)
    duration = as_dict(dispense.get("expectedSupplyDuration"))
    value = number(duration.get("value"))
    factor = next((DAYS_PER_DURATION_UNIT[word] for word in (text(duration.get("code")).lower(),
                   text(duration.get("unit")).lower()) if word in DAYS_PER_DURATION_UNIT), None)
    repeats = number(dispense.get("numberOfRepeatsAllowed")) or 0
    if value is None or value <= 0 or factor is None or repeats < 0:
        return None
    return value * factor * (1 + repeats)


def supply_end(request: dict) -> date | None:
    """When a MedicationRequest's supply runs out (§2.9 v2): validityPeriod.end, else the authored
    (or validity start) date + ``supply_days``; None when neither is documented."""
    dispense = as_dict(as_dict(request).get("dispenseRequest"))
    end = parse_date(as_dict(dispense.get("validityPeriod")).get("end"))
    if end is not None:
        return end
    start = parse_date(as_dict(dispense.get("validityPeriod")).get("start") or request.get("authoredOn"))
    days = supply_days(dispense)
    if start is None or days is None or days > 36525:  # a century of supply is a data error
        return None
    return start + timedelta(days=round(days))


def _dates(resource: dict) -> tuple[Any, Any]:
    """Raw start and end values as written in the resource (a request's end from its supply)."""
    if resource.get("resourceType") == "MedicationRequest":
        period = as_dict(as_dict(resource.get("dispenseRequest")).get("validityPeriod"))
        end = period.get("end") or supply_end(resource)
        return period.get("start") or resource.get("authoredOn"), end.isoformat() if isinstance(end, date) else end
    period = as_dict(resource.get("effectivePeriod"))
    return period.get("start") or resource.get("effectiveDateTime"), period.get("end")


@memoised_by_element
def _concept_facts(concept: Any) -> tuple[Ingredient | None, str, tuple[tuple[str, str], ...]]:
    """The ingredient, the names (``concept_text``) and the codings of a medication concept."""
    return ingredient_of(concept), concept_text(concept), tuple(codings(concept))


def medication_exposure(resource: dict, known: Mapping[str, dict] | None = None
                        ) -> MedicationExposure | None:
    """One exposure, or None when the status is ignored or the medicine is of no interest."""
    resource = as_dict(resource)
    status = text(resource.get("status"))
    if status in IGNORED_STATUSES:
        return None
    unknown = [] if status in COUNTED_STATUSES else [f"status: {status or '(none)'!r} not interpretable"]
    concept, unresolved = medication_concept(resource, known)
    found, names, pairs = _concept_facts(concept)
    identity = None
    if found is None:
        if names:
            return None
        codes = ", ".join(code for _, code in pairs)
        # a contained "#id" is local to its resource: it does not identify a medicine across records
        identity = (unresolved if unresolved and not unresolved.startswith("#") else
                    ", ".join(f"{system}|{code}" for system, code in pairs) or None)
        unknown.append(f"medication: reference {unresolved!r} not resolved" if unresolved
                       else f"medication: code {codes} not in the table and no name" if codes
                       else "medication: no code, name or reference")
    raw_start, raw_end = _dates(resource)
    start, end = parse_date(raw_start), parse_date(raw_end)
    for label, raw, value in (("start", raw_start, start), ("end", raw_end, end)):
        if label == "end" and status == "active":
            continue
        if is_partial(raw):
            unknown.append(f"{label}: partial date {raw!r}")
        elif value is None:
            unknown.append(f"{label}: not documented" if raw is None else f"{label}: {raw!r} unreadable")
    dosages = resource.get("dosageInstruction" if resource.get("resourceType") == "MedicationRequest"
                           else "dosage")
    name = found.name if found else None
    daily, dose_reasons = daily_dose_mg(dosages, names, found.dose_name if found else None,
                                        found.unit_strength_mg if found else None)
    return MedicationExposure(
        source=source(resource), ingredient=name, rxcui=found.rxcui if found else None,
        mechanism_class=found.mechanism_class if found else None,
        roles=found.roles if found else frozenset(), status=status,
        start=start, end=None if status == "active" else end, daily_dose_mg=daily,
        unknown=tuple(unknown) + (dose_reasons if found else ()), unidentified_as=identity)
