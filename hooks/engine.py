"""``advise``: every applicable rule for every in-scope order, as CDS Hooks cards."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Sequence

from fhir_mappings.records import OrderedMedication, PatientRecord
from hooks.cards import INDICATOR_RANK, Finding, build_card, md
from hooks.cautions import blood_pressure_finding, condition_findings, interaction_finding
from hooks.contraindications import contraindication_finding
from hooks.course import course_finding, duplicate_finding, starts_course
from hooks.dosing import dose_finding
from hooks.policy import Policy
from hooks.populations import hepatic_finding, lactation_finding, pediatric_finding, young_adult_note
from hooks.rems import rems_finding
from hooks.scope import in_scope
from hooks.trd import MinDoseLookup, evaluate_trd, terminology_min_dose
from hooks.trd_card import trd_finding
from hooks.unavailable import unavailable_finding


# Cards about one order rather than the patient (§0 v2: they name the order they are about).
ORDER_SPECIFIC = frozenset({"dose-check", "rems-prerequisites", "contraindication", "treatment-course",
                            "duplicate-therapy"})


def advise(orders: Sequence[OrderedMedication], patient: PatientRecord, policy: Policy, today: date,
           unavailable: frozenset[str] = frozenset(), seed: str = "",
           min_dose_lookup: MinDoseLookup = terminology_min_dose, partial: frozenset[str] = frozenset(),
           user: str | None = None) -> list[dict]:
    """Cards for the in-scope orders: critical, then warning, then info; then topic; then order.

    ``unavailable`` names the optional prefetch keys that could not be read at all: their checks
    are skipped. ``partial`` names keys read only in part (paging cut short): their checks still
    report what the pages read show, and the data-unavailable card says they are incomplete.
    ``seed`` is the hookInstance, so the same request always yields the same card uuids; ``user``
    (context.userId) authors the evidence document the TRD card offers (§10).
    One TRD card per response (TRD is about the patient, §0 v2), for the first in-scope order; a
    patient-level card identical for two orders is given once.
    """
    ranked, seen = [], set()
    scoped = in_scope(orders)
    for index, order in enumerate(scoped):
        for finding in findings(order, patient, policy, today, unavailable, min_dose_lookup, partial,
                                trd=index == 0, orders=scoped):
            if finding.topic in ORDER_SPECIFIC:
                named = f"{md(order.display)} ({md(order.order_ref)})" if order.display else md(order.order_ref)
                finding = replace(finding, detail=f"**Order:** {named}\n\n{finding.detail}")
            key = (finding.topic, finding.indicator, finding.summary, finding.detail)
            if key in seen:
                continue
            seen.add(key)
            card = build_card(finding, seed, order.order_ref, patient.patient_id, user, order.authored or today)
            ranked.append(((INDICATOR_RANK[finding.indicator], finding.topic, index), card))
    ranked.sort(key=lambda entry: entry[0])
    return [card for _, card in ranked]


def findings(order: OrderedMedication, patient: PatientRecord, policy: Policy, today: date,
             unavailable: frozenset[str], min_dose_lookup: MinDoseLookup,
             partial: frozenset[str] = frozenset(), trd: bool = True,
             orders: Sequence[OrderedMedication] = ()) -> list[Finding]:
    """Every finding for one in-scope order, at most one per topic (the TRD card only when ``trd``);
    ``orders``: every in-scope order of the call (duplicate therapy)."""
    order_date = order.authored or today
    bipolar = tuple(sorted(c.source for c in patient.conditions if "bipolar" in c.categories))  # §2.10 v2
    first_session = order.drug == "esketamine" and starts_course(patient, order_date, policy, unavailable | partial)
    candidates = [
        _with_evidence(trd_finding(evaluate_trd(patient.medications, patient.scores, order_date, policy,
                                                min_dose_lookup), order.drug, policy, bipolar),
                       patient, policy, order_date, unavailable) if trd else None,
        contraindication_finding(order, patient, unavailable),
        rems_finding(order, patient, policy, unavailable),
        blood_pressure_finding(order.drug, patient, policy, today, unavailable),
        dose_finding(order, patient, policy, today, unavailable, first_session),
        *condition_findings(patient, today, unavailable),
        interaction_finding(order.drug, patient, order_date, unavailable),
        pediatric_finding(order, patient, policy, order_date, unavailable),
        lactation_finding(order, patient, unavailable),
        hepatic_finding(order, patient, unavailable),
        duplicate_finding(order, orders, patient, policy, order_date),
        course_finding(order, patient, policy, order_date),
        unavailable_finding(order.drug, unavailable, partial),
    ]
    return [finding for finding in candidates if finding is not None]


def _with_evidence(trd: Finding, patient: PatientRecord, policy: Policy, order_date: date,
                   unavailable: frozenset[str]) -> Finding:
    """The TRD card with the young-adult class warning (§7 v2) and its table offered for the chart (§10)."""
    note = None if "patient" in unavailable else young_adult_note(patient, policy, order_date)
    detail = trd.detail
    if note:  # before the closing limitation of use, which stays last (decision-rules §0)
        evidence, limitation = detail.rsplit("\n\n", 1)
        detail = f"{evidence}\n\n{note}\n\n{limitation}"
    return replace(trd, detail=detail, document=detail)
