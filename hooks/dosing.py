"""Dose checks (decision-rules.md §6, topic ``dose-check``): one card gathering every dose finding.

A dose that was given but could not be read (``OrderedMedication.dose_unknown``: unit not
convertible to mg or mg/kg, value not a finite number, ...) gives a ``dose-check`` warning asking
for a manual check, for both drugs. No dose given at all gives no dose card: an order-select draft
may still be incomplete, and the rules are not told the hook, so the order-sign case (where a
draft carries a dose in practice) is treated the same way. Ketamine by a non-IV route gets only the
route info card: its dose is not checked against the IV evidence, readable or not.
"""
from __future__ import annotations

import math
from datetime import date

from fhir_mappings.records import OrderedMedication, PatientRecord
from hooks.cards import Finding, Item, ProposedRequest, md, merge_items
from hooks.facts import age_on, latest
from hooks.policy import Policy

WEIGHT_REQUEST = ProposedRequest(
    "Measure body weight", "Body weight before the ketamine dose is confirmed",
    {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}],
     "text": "Body weight"})
KETAMINE_EVIDENCE = ("Evidence: IV racemic ketamine 0.5 mg/kg over 40 minutes in nearly all placebo-"
                     "controlled trials; 0.5 and 1.0 mg/kg beat active placebo, higher doses gave more "
                     "dissociation and blood pressure rise (Fava et al. 2018, "
                     "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC6447473/).")
IV_ROUTES = frozenset({"intravenous", None})  # a ketamine order without a route is checked as IV


def _unreadable(reason: str) -> Item:
    return Item("warning", f"Ordered dose could not be read ({reason}): check the dose manually",
                f"The ordered dose could not be read ({md(reason)}), so it was not checked: check the "
                "dose manually.")


def dose_finding(order: OrderedMedication, patient: PatientRecord, policy: Policy, today: date,
                 unavailable: frozenset[str], first_session: bool = False) -> Finding | None:
    """The dose-check card of one order, or None when every dose check passes.

    ``first_session``: the esketamine order starts a course (§9), so the label's day-1 dose applies.
    """
    if order.drug == "esketamine":
        items = _esketamine_items(order, patient, policy, today, first_session)
        return merge_items("dose-check", items, "label")
    if order.route not in IV_ROUTES:
        return Finding("dose-check", "info",
                       f"Ketamine by {order.route} route: the evidence summarised is for IV 0.5 mg/kg over 40 min",
                       KETAMINE_EVIDENCE, "apa")
    items, weight_missing = _ketamine_items(order, patient, policy, today, unavailable)
    return merge_items("dose-check", items, "apa", KETAMINE_EVIDENCE, WEIGHT_REQUEST if weight_missing else None)


def _ketamine_items(order: OrderedMedication, patient: PatientRecord, policy: Policy, today: date,
                    unavailable: frozenset[str]) -> tuple[list[Item], bool]:
    items: list[Item] = [_unreadable(order.dose_unknown)] if order.dose_unknown else []
    weight_read = "weight" not in unavailable
    weight = latest(patient, "weight", today, policy.weight_recent_days) if weight_read else None
    weight = weight if weight is not None and weight.value > 0 else None  # never divide by 0 kg
    mg_per_kg, basis = order.dose_mg_per_kg, "as ordered"
    if mg_per_kg is None and order.dose_mg is not None and weight is not None:
        mg_per_kg = order.dose_mg / weight.value
        basis = f"{order.dose_mg:g} mg / {weight.value:.1f} kg on {weight.when.isoformat()}"
        if not math.isfinite(mg_per_kg):
            mg_per_kg = None
            items.append(_unreadable(f"{order.dose_mg:g} mg / {weight.value:g} kg is out of range"))
    weight_missing = mg_per_kg is None and order.dose_mg is not None and weight_read and weight is None
    if weight_missing:
        items.append(Item("warning", f"No body weight in the last {policy.weight_recent_days} days: "
                                     "ketamine mg/kg cannot be checked",
                          f"{order.dose_mg:g} mg ordered; no body weight within {policy.weight_recent_days} days."))
    if mg_per_kg is not None:
        dose = round(mg_per_kg, 3)  # read to 0.001 mg/kg so that float noise never crosses a limit
        if dose > policy.ketamine_mg_per_kg_critical:
            items.append(Item("critical", f"Ketamine {dose:g} mg/kg exceeds the studied maximum of "
                                          f"{policy.ketamine_mg_per_kg_critical:g} mg/kg",
                              f"{dose:g} mg/kg ({basis}) is outside the studied antidepressant range."))
        elif dose > policy.ketamine_mg_per_kg_warning:
            items.append(Item("warning", f"Ketamine {dose:g} mg/kg is above the standard "
                                         f"{policy.ketamine_mg_per_kg_warning:g} mg/kg",
                              f"{dose:g} mg/kg ({basis}): no added benefit shown above "
                              f"{policy.ketamine_mg_per_kg_warning:g} mg/kg up to "
                              f"{policy.ketamine_mg_per_kg_critical:g} mg/kg."))
    bmi = _bmi(patient, policy, today) if weight_read else None
    if bmi is not None and bmi >= policy.bmi_ibw_threshold:
        items.append(Item("info", f"BMI {bmi:.1f}: consider dosing on ideal body weight",
                          f"BMI {bmi:.1f} (at least {policy.bmi_ibw_threshold:g}): the APA consensus suggested "
                          "ideal body weight; the landmark trials dosed on actual body weight."))
    minutes = order.infusion_minutes
    if minutes is not None and minutes < policy.ketamine_infusion_min_minutes:
        items.append(Item("info", f"Infusion over {minutes:g} min, shorter than the studied "
                                  f"{policy.ketamine_infusion_min_minutes:g} min",
                          f"Infusion time {minutes:g} minutes; the trials infused over "
                          f"{policy.ketamine_infusion_min_minutes:g} minutes."))
    return items, weight_missing


def _bmi(patient: PatientRecord, policy: Policy, today: date) -> float | None:
    """Latest recorded BMI, else weight / height² (both recent enough), in kg/m²."""
    recorded = latest(patient, "bmi", today, policy.weight_recent_days)
    if recorded is not None:
        return recorded.value
    weight = latest(patient, "weight", today, policy.weight_recent_days)
    height = latest(patient, "height", today)
    if weight is None or height is None or weight.value <= 0 or height.value <= 0:
        return None
    return weight.value / (height.value / 100) ** 2


def _esketamine_items(order: OrderedMedication, patient: PatientRecord, policy: Policy,
                      today: date, first_session: bool) -> list[Item]:
    items = [_unreadable(order.dose_unknown)] if order.dose_unknown else []
    dose, device = order.dose_mg, policy.esketamine_device_mg
    first, most = policy.esketamine_first_dose_mg, policy.esketamine_max_session_mg
    if order.route is not None and order.route != "nasal":
        items.append(Item("critical", f"Esketamine by {order.route} route: SPRAVATO is a nasal spray only",
                          f"Route {md(order.route)} ordered; esketamine (SPRAVATO) is given only as a nasal spray "
                          "(label)."))
    if dose is not None:
        devices = dose / device
        problems = ([f"exceeds the {most:g} mg per-session maximum"] if dose > most else []) + (
            [f"is not a multiple of the {device:g} mg device"]
            if dose <= 0 or abs(devices - round(devices)) > 1e-6 else [])
        if problems:
            items.append(Item("critical", f"Esketamine {dose:g} mg {' and '.join(problems)}",
                              f"{dose:g} mg ordered; one device delivers {device:g} mg and a session is "
                              f"{first:g} or {most:g} mg (label)."))
    if order.per_week is not None and order.per_week > policy.esketamine_max_per_week:
        items.append(Item("warning", f"Esketamine {order.per_week:g} times a week: the label doses at most "
                                     f"{policy.esketamine_max_per_week:g} times a week",
                          f"{order.per_week:g} sessions a week ordered; induction is twice weekly, "
                          "maintenance weekly or every 2 weeks."))
    age = age_on(patient.birth_date, today)
    if dose is not None and abs(dose - device) < 1e-6 and age is not None \
            and age < policy.esketamine_min_age_for_28mg:
        items.append(Item("warning", f"Esketamine {device:g} mg in an adult aged {age}: {first:g}-{most:g} mg "
                                     "showed superior efficacy",
                          f"{device:g} mg ordered for a patient aged {age} (under "
                          f"{policy.esketamine_min_age_for_28mg}); the first dose is {first:g} mg and "
                          f"{first:g}-{most:g} mg showed superior efficacy."))
    # §6 (v2): the first session of a course is 56 mg; 28 mg (>= 65, reference §1.4) is left to the rule above
    if first_session and dose is not None and abs(dose - first) > 1e-6 and abs(dose - device) > 1e-6:
        items.append(Item("warning", f"First esketamine session of a course at {dose:g} mg: the label's day-1 "
                                     f"dose is {first:g} mg",
                          f"No esketamine session in the {policy.course_gap_days} days before this order, so it "
                          f"starts a course: the label's day-1 dose is {first:g} mg ({device:g} mg from age "
                          f"{policy.esketamine_min_age_for_28mg} in the EU label, US UNVERIFIED)."))
    return items
