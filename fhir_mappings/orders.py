"""Draft MedicationRequests of a CDS Hooks context → OrderedMedication (decision-rules.md §1, §6).

``order-select``: only the requests named in ``context.selections``; any other hook (order-sign):
every MedicationRequest in ``context.draftOrders``. The medication comes from the codeable concept,
a contained Medication ("#id") or a Medication in draftOrders (by fullUrl or "Medication/id").
A reference found nowhere is returned with ``medication_reference`` set for the service to read
(then ``resolve_order``); its ``display``, if any, already classifies the drug as text would.

The dose is the first dosageInstruction's doseQuantity, or the high end of a doseRange (the most
that may be given), in mg (mass units: UCUM mg, g, ug and "mcg", "µg", unit names) or mg/kg
(the same units per kg); a dose-form count ("2 devices") becomes mg by the strength in the
medication name. A dose that is given but cannot be read leaves ``dose_mg``/``dose_mg_per_kg``
None and says why in ``dose_unknown``; no dose at all leaves all three None.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .dosage import (COUNT_UNITS, DAYS_PER_PERIOD_UNIT, MG_PER_KG_PER_UNIT, MG_PER_UNIT, dose_quantity,
                     dose_range_open, per_day, strength_mg, unit_words)
from .medications import ingredient_of, medication_code, medication_concept
from .reading import (as_dict, as_list, codings, concept_text, display_of, number, parse_date, reference,
                      source, text)
from .records import OrderedMedication
from .terminology import route_for, route_in_text

IN_SCOPE_DRUGS = frozenset({"esketamine", "ketamine"})  # decision-rules §1
MINUTES_PER_DAY = 1440
_SHOWN = 24  # characters of a request's own value or unit quoted in a reason


def _route(concept: Any) -> str | None:
    found = [route for route in (route_for(system, code) for system, code in codings(concept)) if route]
    return found[0] if found else route_in_text(concept_text(concept))


def _infusion_minutes(repeat: dict) -> float | None:
    duration = number(repeat.get("duration"))
    days = DAYS_PER_PERIOD_UNIT.get(text(repeat.get("durationUnit")))
    return duration * days * MINUTES_PER_DAY if duration is not None and days else None


def _shown(value: Any) -> str:
    """A request's own value quoted in a reason, shortened to ``_SHOWN`` characters."""
    shown = repr(value.strip() if isinstance(value, str) else value)
    return shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "..."


def _ordered_dose(dosage: dict) -> dict[str, Any]:
    """``dose_mg``, ``dose_mg_per_kg``, ``dose_count`` and ``dose_unknown`` of one Dosage."""
    quantity = dose_quantity(dosage, "high")
    if quantity is None:
        return {"dose_unknown": "dose range without an upper limit"} if dose_range_open(dosage) else {}
    raw = quantity.get("value")
    value = number(raw)
    if value is None:
        return {"dose_unknown": "no dose value" if raw is None else f"dose value {_shown(raw)} is not a finite number"}
    if value <= 0:
        return {"dose_unknown": f"dose value {_shown(raw)} is not above 0"}
    for word in unit_words(quantity):
        if word in MG_PER_UNIT:
            return _finite("dose_mg", value * MG_PER_UNIT[word])
        if word in MG_PER_KG_PER_UNIT:
            return _finite("dose_mg_per_kg", value * MG_PER_KG_PER_UNIT[word])
        if word in COUNT_UNITS:
            return {"dose_count": value}  # mg from the strength once the medication is known
    unit = text(quantity.get("code")) or text(quantity.get("unit"))
    return {"dose_unknown": f"unit {_shown(unit)} not convertible to mg or mg/kg" if unit else "no dose unit"}


def _finite(name: str, value: float) -> dict[str, Any]:
    return {name: value} if math.isfinite(value) else {"dose_unknown": "dose value too large"}


def _classified(order: OrderedMedication, concept: Any) -> OrderedMedication:
    """The order with drug and display from a medication concept; a dose count becomes mg."""
    found = ingredient_of(concept)
    drug = found.name if found and found.name in IN_SCOPE_DRUGS else None
    dose, unknown = order.dose_mg, order.dose_unknown
    if dose is None and order.dose_count is not None:
        strength = strength_mg(concept_text(concept), drug)
        if strength is None:
            unknown = f"{order.dose_count:g} dose units but no strength in the medication name"
        elif not math.isfinite(order.dose_count * strength):
            unknown = "dose value too large"
        else:
            dose, unknown = order.dose_count * strength, None
    return replace(order, drug=drug, display=display_of(concept) or order.display, dose_mg=dose,
                   dose_unknown=unknown)


def _order_ref(request: dict, full_url: str, index: int) -> str:
    """"MedicationRequest/id"; without an id the entry's fullUrl, else "MedicationRequest/#<entry index>".

    Card uuids are derived from it, so two draft orders must never share one.
    """
    if text(request.get("id")):
        return source(request)
    return full_url or f"MedicationRequest/#{index}"


def _order(request: dict, known: dict[str, dict], order_ref: str) -> OrderedMedication:
    dosage = as_dict(next(iter(as_list(request.get("dosageInstruction"))), {}))
    times = per_day(dosage.get("timing"))
    concept, unresolved = medication_concept(request, known)
    order = OrderedMedication(
        order_ref=order_ref, drug=None, display=unresolved or "",
        medication_reference=unresolved if unresolved and not unresolved.startswith("#") else None,
        route=_route(dosage.get("route")),
        **_ordered_dose(dosage),
        per_week=times * 7 if times is not None else None,
        infusion_minutes=_infusion_minutes(as_dict(as_dict(dosage.get("timing")).get("repeat"))),
        performer=reference(next(iter(as_list(request.get("performer"))), None)),
        authored=parse_date(request.get("authoredOn")))
    return _classified(order, concept) if concept is not None else order


def ordered_medications(context: dict, hook: str) -> list[OrderedMedication]:
    """Every draft MedicationRequest the hook is about, classified (drug None when out of scope)."""
    entries = [(text(entry.get("fullUrl")), as_dict(entry.get("resource")))
               for entry in map(as_dict, as_list(as_dict(as_dict(context).get("draftOrders")).get("entry")))]
    known: dict[str, dict] = {}
    for full_url, resource in entries:
        if resource.get("resourceType") == "Medication":
            known.update({key: resource for key in (full_url, source(resource)) if key})
    selected = {text(item) for item in as_list(as_dict(context).get("selections"))}
    orders: list[OrderedMedication] = []
    refs: set[str] = set()
    for index, (full_url, resource) in enumerate(entries):
        if resource.get("resourceType") != "MedicationRequest" or not (
                hook != "order-select" or source(resource) in selected or (full_url and full_url in selected)):
            continue
        ref = _order_ref(resource, full_url, index)
        ref = ref if ref not in refs else f"{ref}#{index}"  # a repeated id or fullUrl (malformed bundle)
        refs.add(ref)
        orders.append(_order(resource, known, ref))
    return orders


def resolve_order(order: OrderedMedication, medication: dict) -> OrderedMedication:
    """The order classified from the Medication the service read for ``medication_reference``."""
    return replace(_classified(order, medication_code(as_dict(medication))), medication_reference=None)
