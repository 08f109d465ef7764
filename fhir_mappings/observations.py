"""Observation dicts → ScaleScore and Measurement records (decision-rules.md §2.4, §5, §6).

Only final, amended and corrected observations count (decision-rules §2); registered,
preliminary, cancelled and entered-in-error ones are ignored. A relevant observation that cannot
be used (other status, no date, no value, unknown unit, a measurement of 0 or less) is reported as a
problem string.
"""
from __future__ import annotations

from typing import Any, Mapping

from .reading import (as_dict, as_list, codings, concept_text, display_of, memoised_by_element, number, parse_date,
                      source, text)
from .records import ConditionRecord, Measurement, ScaleScore
from .terminology import observation_names, scale_in_text

COUNTED_STATUSES = frozenset({"final", "amended", "corrected"})
IGNORED_STATUSES = frozenset({"registered", "preliminary", "cancelled", "entered-in-error"})
_MMHG = {"mm[hg]": 1.0, "mmhg": 1.0}
# Factors to the record units (mmHg, kg, cm, kg/m2); UCUM codes and common unit texts.
# 1 [lb_av] = 0.45359237 kg and 1 [in_i] = 2.54 cm exactly (international yard and pound, 1959).
TO_RECORD_UNIT = {
    "systolic": _MMHG,
    "diastolic": _MMHG,
    "weight": {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237},
    "height": {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54},
    "bmi": {"kg/m2": 1.0, "kg/m^2": 1.0},
}


@memoised_by_element
def _coded(concept: Any) -> tuple[tuple[tuple, str], ...]:
    """Per coding of a concept: its ``(kind, name)`` pairs in data/observations.csv and its "system|code"."""
    return tuple((tuple(observation_names(system, code)), f"{system}|{code}") for system, code in codings(concept))


def _names(concept: Any, scale_codes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(kind, name)`` for the codes of a concept; a scale named in the text when none is coded."""
    names = []
    for table_names, token in _coded(concept):
        names += table_names
        if token in scale_codes:
            names.append(("scale", scale_codes[token]))
    instrument = None if names else scale_in_text(concept_text(concept))
    return list(dict.fromkeys(names + ([("scale", instrument)] if instrument else [])))


def _value(element: dict) -> float | None:
    return number(as_dict(element.get("valueQuantity")).get("value")) if "valueQuantity" in element \
        else number(element.get("valueInteger"))


def _measurement(kind: str, element: dict, when, ref: str) -> Measurement | str:
    """A Measurement in the record unit, or the problem."""
    value = _value(element)
    if value is None:
        return f"{ref}: {kind} without a value"
    quantity = as_dict(element.get("valueQuantity"))
    factors = TO_RECORD_UNIT[kind]
    unit = next((u for u in (text(quantity.get("code")), text(quantity.get("unit")))
                 if u.lower() in factors), None)
    if unit is None:
        return f"{ref}: {kind} unit {text(quantity.get('code') or quantity.get('unit')) or '(none)'!r} unknown"
    if value <= 0:  # no weight, height, BMI or blood pressure is 0 or less (and mg/kg would divide by it)
        return f"{ref}: {kind} {value:g} {unit} is not a positive measurement"
    return Measurement(kind=kind, value=value * factors[unit.lower()], when=when, source=ref)


def observation_records(resource: dict, scale_codes: Mapping[str, str] | None = None
                        ) -> tuple[list[ScaleScore], list[Measurement], list[str]]:
    """Scores, measurements and problems of one Observation (each list may be empty)."""
    resource = as_dict(resource)
    names = _names(resource.get("code"), scale_codes or {})
    components = [(name, component) for component in map(as_dict, as_list(resource.get("component")))
                  for kind, name in _names(component.get("code"), {})
                  if name in TO_RECORD_UNIT and "dataAbsentReason" not in component]
    if not names and not components:
        return [], [], []
    ref, status = source(resource), text(resource.get("status"))
    if status in IGNORED_STATUSES:
        return [], [], []
    if status not in COUNTED_STATUSES:
        return [], [], [f"{ref}: status {status or '(none)'!r} not interpretable"]
    period = as_dict(resource.get("effectivePeriod"))
    raw_when = (resource.get("effectiveDateTime") or period.get("start") or resource.get("effectiveInstant")
                or resource.get("issued"))
    when = parse_date(raw_when)
    if when is None:
        return [], [], [f"{ref}: no date"]
    scores, measurements, problems = [], [], []
    for kind, name in names:
        if kind == "scale":
            value = _value(resource)
            if value is None:
                problems.append(f"{ref}: {name} score without a value")
            else:
                scores.append(ScaleScore(instrument=name, value=value, when=when, source=ref))
    vitals = [(name, resource) for kind, name in names if kind == "vital" and name in TO_RECORD_UNIT]
    for name, element in vitals + components:
        result = _measurement(name, element, when, ref)
        (measurements if isinstance(result, Measurement) else problems).append(result)
    return scores, measurements, problems


def breastfeeding_record(resource: dict) -> tuple | None:
    """``(date, ConditionRecord)`` of a breastfeeding-status Observation (decision-rules §7 v2).

    The record carries the category "lactation" when the answer is a breastfeeding answer of
    data/observations.csv, none otherwise (e.g. "Not breastfeeding"); the caller keeps the latest.
    """
    resource = as_dict(resource)
    if ("status", "breastfeeding") not in (name for table_names, _ in _coded(resource.get("code"))
                                           for name in table_names):
        return None
    when = parse_date(resource.get("effectiveDateTime") or as_dict(resource.get("effectivePeriod")).get("start")
                      or resource.get("issued"))
    if text(resource.get("status")) not in COUNTED_STATUSES or when is None:
        return None
    answer = as_dict(resource.get("valueCodeableConcept"))
    breastfeeding = any(("answer", "breastfeeding") in observation_names(system, code)
                        for system, code in codings(answer))
    system, code = (codings(answer) or [(None, None)])[0]
    return when, ConditionRecord(
        source=source(resource), system=system, code=code,
        display=f"Breastfeeding status: {display_of(answer) or code or 'no answer'}",
        categories=frozenset({"lactation"}) if breastfeeding else frozenset(),
        clinical_status="active", onset=when)
