"""Doses in mg and administrations per day from FHIR Dosage, Timing and Quantity elements."""
from __future__ import annotations

import re
from typing import Any, Iterable

from .reading import as_dict, as_list, codings, memoised, memoised_by_element, number, text

# UCUM mass units (ucum.org); "ug"/"mcg" are both seen for micrograms, and the unit names in words.
MG_PER_UNIT = {"mg": 1.0, "g": 1000.0, "mcg": 0.001, "ug": 0.001, "µg": 0.001, "μg": 0.001,
               "milligram": 1.0, "milligrams": 1.0, "gram": 1000.0, "grams": 1000.0,
               "microgram": 0.001, "micrograms": 0.001}
# Weight-based doses ("ug/kg" = 0.001 mg/kg), UCUM codes and the same unit strings per kg.
MG_PER_KG_PER_UNIT = {f"{unit}/kg": factor for unit, factor in MG_PER_UNIT.items()}
# Dose units counted in dose-form units; strength then comes from the clinical-drug name.
COUNT_UNITS = {"tbl", "tab", "tablet", "cap", "capsule", "device", "kit"}
# Days per UCUM period unit (UCUM: mo = 30.4375 d, a = 365.25 d).
DAYS_PER_PERIOD_UNIT = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0,
                        "mo": 30.4375, "a": 365.25}
# HL7 v3 GTSAbbreviation (FHIR R4 timing-abbreviation value set); Q12H, Q24H, QAM, QHS are
# common EHR additions outside that value set.
PER_DAY_BY_TIMING_CODE = {"QD": 1, "AM": 1, "PM": 1, "BED": 1, "QAM": 1, "QHS": 1, "Q24H": 1,
                          "QOD": 0.5, "BID": 2, "TID": 3, "QID": 4, "Q1H": 24, "Q2H": 12,
                          "Q3H": 8, "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2, "WK": 1 / 7}
# Free-text frequencies in dosage.text; checked in this order ("twice daily" before "daily").
PER_DAY_BY_TEXT = ((r"twice (?:a |per )?da(?:y|ily)|two times|\bbid\b", 2),
                   (r"three times|\btid\b", 3), (r"four times|\bqid\b", 4),
                   (r"daily|once a day|every day|a day|nightly|at bedtime|\bqd\b|\bqhs\b", 1))
# "140 MG/ML" is a concentration; " / " (with spaces) separates the ingredients of a combination.
# Bounded digit runs that start after no digit or dot, so that a long run of digits costs linear
# time (the unbounded "\d+" retried from every digit: 15 000 digits took ~15 s).
_STRENGTH = re.compile(r"(?<![\d.])(\d{1,7}(?:\.\d{1,6})?)\s*(mcg|mg|g)\b(?!/)", re.IGNORECASE)


def unit_words(quantity: Any) -> list[str]:
    """``code`` and ``unit`` of a Quantity, lower case, without UCUM braces or a plural "s"."""
    words = []
    for raw in (as_dict(quantity).get("code"), as_dict(quantity).get("unit")):
        word = _unit_word(text(raw))
        if word and word not in words:
            words.append(word)
    return words


@memoised
def _unit_word(raw: str) -> str:
    word = re.sub(r"[{}]|\(s\)$", "", raw.lower()).strip()
    return word[:-1] if word.endswith("s") and word[:-1] in COUNT_UNITS else word


def mass_mg(quantity: Any) -> float | None:
    """The quantity in mg when its unit is a mass unit."""
    value = number(as_dict(quantity).get("value"))
    factor = next((MG_PER_UNIT[w] for w in unit_words(quantity) if w in MG_PER_UNIT), None)
    return None if value is None or factor is None else value * factor


def form_count(quantity: Any) -> float | None:
    """The number of tablets, capsules or devices when the unit is a dose-form unit."""
    value = number(as_dict(quantity).get("value"))
    return value if any(w in COUNT_UNITS for w in unit_words(quantity)) else None


def strength_mg(name: str, ingredient: str | None = None, only: float | None = None) -> float | None:
    """Strength per unit from an RxNorm clinical-drug name ("sertraline 100 MG Oral Tablet" → 100).

    With several strengths ("bupropion 105 MG / dextromethorphan 45 MG") the first after the
    ingredient's name is taken; concentrations ("140 MG/ML") are not strengths per unit.
    ``only``: the one strength a product is marketed in (data/strengths.csv); it is the strength
    when the name gives none ("AUVELITY") or names it among others ("Auvelity 45 mg-105 mg"). A
    name giving other strengths only counts when it places one after the ingredient's name.
    """
    found = [(m.start(), float(m.group(1)) * MG_PER_UNIT[m.group(2).lower()])
             for m in _STRENGTH.finditer(name)]
    if only is not None and (not found or only in (mg for _, mg in found)):
        return only
    at = name.lower().find(ingredient.lower()) if ingredient else -1
    after = [mg for start, mg in found if start > at >= 0]
    if after:
        return after[0]
    return found[0][1] if len(found) == 1 and only is None else None


def dose_mg(quantity: Any, name: str, ingredient: str | None,
            only: float | None = None) -> tuple[float | None, str | None]:
    """One administration in mg, or None with the reason."""
    if number(as_dict(quantity).get("value")) is None:
        return None, "dose: no dose value"
    mg = mass_mg(quantity)
    if mg is not None:
        return mg, None
    count = form_count(quantity)
    if count is None:
        return None, f"dose: unit {'/'.join(unit_words(quantity)) or '(none)'!r} not convertible"
    strength = strength_mg(name, ingredient, only)
    if strength is None:
        return None, f"dose: {count:g} dose units but no strength in {name!r}"
    return count * strength, None


def per_day(timing: Any) -> float | None:
    """Administrations per day from ``timing.repeat`` or ``timing.code``; None when not given."""
    repeat = as_dict(as_dict(timing).get("repeat"))
    period = number(repeat.get("period"))
    days = DAYS_PER_PERIOD_UNIT.get(text(repeat.get("periodUnit")))
    if period and period > 0 and days:
        return (number(repeat.get("frequency")) or 1) / (period * days)
    times = as_list(repeat.get("when")) + as_list(repeat.get("timeOfDay"))
    if times:
        return float(len(times))
    code = as_dict(as_dict(timing).get("code"))
    for word in [c for _, c in codings(code)] + [text(code.get("text"))]:
        if word.upper() in PER_DAY_BY_TIMING_CODE:
            return float(PER_DAY_BY_TIMING_CODE[word.upper()])
    return None


def per_day_in_text(free_text: str) -> float | None:
    for pattern, times in PER_DAY_BY_TEXT:
        if re.search(pattern, free_text, re.IGNORECASE):
            return float(times)
    return None


def dose_quantity(dosage: dict, range_end: str = "low") -> dict | None:
    """The first ``doseAndRate`` doseQuantity, or one end of a doseRange.

    Medication history (``daily_dose_mg``) reads the ``low`` end: the record does not show that
    more than the low end was taken, so a trial's adequate dose is never assumed. An order
    (fhir_mappings/orders.py) is checked at the ``high`` end: the most that may be given.
    """
    for dose_and_rate in as_list(dosage.get("doseAndRate")):
        dose_and_rate = as_dict(dose_and_rate)
        quantity = dose_and_rate.get("doseQuantity") or as_dict(dose_and_rate.get("doseRange")).get(range_end)
        if quantity:
            return as_dict(quantity)
    return None


def dose_range_open(dosage: dict) -> bool:
    """True when the dose is a doseRange with a low end and no high end (no upper limit)."""
    for dose_and_rate in as_list(dosage.get("doseAndRate")):
        dose_and_rate = as_dict(dose_and_rate)
        if dose_and_rate.get("doseQuantity"):
            return False
        dose_range = as_dict(dose_and_rate.get("doseRange"))
        if dose_range.get("high"):
            return False
        if dose_range.get("low"):
            return True
    return False


def _dosage_daily_mg(dosage: dict, name: str, ingredient: str | None,
                     only: float | None) -> tuple[float | None, str | None]:
    instructions = text(dosage.get("text"))
    quantity = dose_quantity(dosage)
    if quantity is not None:
        mg, reason = dose_mg(quantity, name, ingredient, only)
    else:
        amounts = _STRENGTH.findall(instructions)
        mg, reason = ((float(amounts[0][0]) * MG_PER_UNIT[amounts[0][1].lower()], None)
                      if len(amounts) == 1 else (None, "dose: no dose quantity"))
    times = per_day(dosage.get("timing")) or per_day_in_text(instructions)
    if mg is None:
        return None, reason
    if times is None:
        return None, "dose: no frequency"
    return mg * times, None


@memoised_by_element
def daily_dose_mg(dosages: Iterable[Any], name: str, ingredient: str | None, only: float | None = None
                  ) -> tuple[float | None, tuple[str, ...]]:
    """Highest total daily dose in mg over a list of Dosage elements, with reasons for unknowns
    (``only``: the product's single marketed strength, see ``strength_mg``).

    Dosages sharing a ``sequence`` number are taken together (summed); different or missing
    sequence numbers are alternatives (the highest counts), as FHIR R4 Dosage.sequence defines.
    """
    totals: dict[object, float | None] = {}
    reasons: list[str] = []
    for index, dosage in enumerate(as_list(dosages)):
        dosage = as_dict(dosage)
        sequence = number(dosage.get("sequence"))
        key = sequence if sequence is not None else ("no sequence", index)
        mg, reason = _dosage_daily_mg(dosage, name, ingredient, only)
        if reason:
            reasons.append(reason)
        previous = totals.get(key, 0.0)
        totals[key] = None if mg is None or previous is None else previous + mg
    known = [total for total in totals.values() if total is not None]
    if not totals:
        reasons.append("dose: no dosage")
    return (max(known) if known else None), tuple(dict.fromkeys(reasons))
