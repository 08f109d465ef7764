"""Draft MedicationRequests of a CDS Hooks context → OrderedMedication (decision-rules.md §1, §6).

``order-select``: only the requests named in ``context.selections``; any other hook (order-sign):
every MedicationRequest in ``context.draftOrders``. The medication comes from the codeable concept,
a contained Medication ("#id") or a Medication in draftOrders (by fullUrl or "Medication/id").
A reference found nowhere is returned with ``medication_reference`` set for the service to read
(then ``resolve_order``); its ``display``, if any, already classifies the drug as text would.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from .dosage import DAYS_PER_PERIOD_UNIT, dose_quantity, form_count, mass_mg, per_day, strength_mg, unit_words
from .medications import ingredient_of, medication_code, medication_concept
from .reading import (as_dict, as_list, codings, concept_text, display_of, number, parse_date, reference,
                      source, text)
from .records import OrderedMedication
from .terminology import route_for, route_in_text

IN_SCOPE_DRUGS = frozenset({"esketamine", "ketamine"})  # decision-rules §1
MINUTES_PER_DAY = 1440


def _route(concept: Any) -> str | None:
    found = [route for route in (route_for(system, code) for system, code in codings(concept)) if route]
    return found[0] if found else route_in_text(concept_text(concept))


def _infusion_minutes(repeat: dict) -> float | None:
    duration = number(repeat.get("duration"))
    days = DAYS_PER_PERIOD_UNIT.get(text(repeat.get("durationUnit")))
    return duration * days * MINUTES_PER_DAY if duration is not None and days else None


def _classified(order: OrderedMedication, concept: Any) -> OrderedMedication:
    """The order with drug and display from a medication concept; a dose count becomes mg."""
    found = ingredient_of(concept)
    drug = found.name if found and found.name in IN_SCOPE_DRUGS else None
    dose = order.dose_mg
    if dose is None and order.dose_count is not None:
        strength = strength_mg(concept_text(concept), drug)
        dose = order.dose_count * strength if strength is not None else None
    return replace(order, drug=drug, display=display_of(concept) or order.display, dose_mg=dose)


def _order_ref(request: dict, full_url: str, index: int) -> str:
    """"MedicationRequest/id"; without an id the entry's fullUrl, else "MedicationRequest/#<entry index>".

    Card uuids are derived from it, so two draft orders must never share one.
    """
    if text(request.get("id")):
        return source(request)
    return full_url or f"MedicationRequest/#{index}"


def _order(request: dict, known: dict[str, dict], order_ref: str) -> OrderedMedication:
    dosage = as_dict(next(iter(as_list(request.get("dosageInstruction"))), {}))
    quantity = dose_quantity(dosage) or {}
    times = per_day(dosage.get("timing"))
    per_kg = "mg/kg" in unit_words(quantity)
    concept, unresolved = medication_concept(request, known)
    order = OrderedMedication(
        order_ref=order_ref, drug=None, display=unresolved or "",
        medication_reference=unresolved if unresolved and not unresolved.startswith("#") else None,
        route=_route(dosage.get("route")),
        dose_mg=None if per_kg else mass_mg(quantity),
        dose_mg_per_kg=number(quantity.get("value")) if per_kg else None,
        dose_count=form_count(quantity),
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
