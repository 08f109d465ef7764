"""Esketamine / ketamine treatment courses: the §9 schedule (topic ``treatment-course``) and §7
``duplicate-therapy`` (decision-rules.md v2).

Sessions of a drug are its completed MedicationAdministrations; when the record holds none of that
drug, its MedicationRequest / MedicationStatement history dated at or before the order (one record,
one session on its start date). Sessions on the same day count once (an 84 mg session may be
recorded as three devices). A course is the run of sessions with no gap over ``course_gap_days``
that reaches the order date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

from fhir_mappings.medications import IGNORED_STATUSES
from fhir_mappings.records import OrderedMedication, PatientRecord, ScaleScore
from hooks.cards import Finding, Item, md, merge_items
from hooks.policy import Policy

ADMINISTRATIONS = "medicationAdministrations"  # the optional prefetch key of the sessions
OTHER_DRUG = {"esketamine": "ketamine", "ketamine": "esketamine"}
DRUG_NAMES = {"esketamine": "esketamine (SPRAVATO)", "ketamine": "IV ketamine"}


@dataclass(frozen=True)
class Course:
    sessions: tuple[date, ...]  # oldest first, all at or before the order date

    @property
    def start(self) -> date:
        return self.sessions[0]

    @property
    def last(self) -> date:
        return self.sessions[-1]


def sessions(patient: PatientRecord, drug: str, order_date: date) -> tuple[date, ...]:
    """Session dates of ``drug`` up to the order date: administrations, else order/statement history."""
    given = {a.when for a in patient.administrations if a.drug == drug and a.when <= order_date}
    if not any(a.drug == drug for a in patient.administrations):
        given = {e.start for e in patient.medications if e.ingredient == drug and e.start
                 and e.start <= order_date and e.status not in IGNORED_STATUSES}
    return tuple(sorted(given))


def current_course(dates: Sequence[date], order_date: date, policy: Policy) -> Course | None:
    """The course the order continues; None when no session lies within ``course_gap_days`` (a new course)."""
    if not dates or (order_date - dates[-1]).days > policy.course_gap_days:
        return None
    first = len(dates) - 1
    while first > 0 and (dates[first] - dates[first - 1]).days <= policy.course_gap_days:
        first -= 1
    return Course(tuple(dates[first:]))


def starts_course(patient: PatientRecord, order_date: date, policy: Policy,
                  unavailable: frozenset[str]) -> bool:
    """True when the esketamine order starts a course; never concluded from administrations not read
    (or read only in part: ``unavailable`` holds both kinds of key here)."""
    dates = sessions(patient, "esketamine", order_date)
    return current_course(dates, order_date, policy) is None and ADMINISTRATIONS not in unavailable


def phase(days_in: int, policy: Policy) -> tuple[str, int]:
    """The label's phase at ``days_in`` days after the first session, and its sessions per 7 days."""
    if days_in < policy.induction_days:
        return "induction (weeks 1-4)", policy.induction_max_per_7_days
    if days_in < 2 * policy.induction_days:
        return "maintenance (weeks 5-8)", policy.maintenance_max_per_7_days
    return "maintenance (week 9 onward)", policy.maintenance_max_per_7_days


def course_finding(order: OrderedMedication, patient: PatientRecord, policy: Policy,
                   order_date: date) -> Finding | None:
    """Warning when the ordered session breaks the phase's frequency or continues without benefit."""
    if order.drug != "esketamine":
        return None
    course = current_course(sessions(patient, "esketamine", order_date), order_date, policy)
    if course is None:
        return None
    days_in = (order_date - course.start).days
    name, limit = phase(days_in, policy)
    week = days_in // 7 + 1
    items = []
    recent = [d for d in course.sessions if (order_date - d).days < 7]
    if len(recent) + 1 > limit:
        items.append(Item("warning", f"Esketamine session {len(recent) + 1} within 7 days in week {week}, "
                                     f"{name}: the label gives at most {limit}",
                          f"Sessions in the 7 days up to this order: {', '.join(d.isoformat() for d in recent)}, "
                          f"plus the ordered one; {name} allows {limit} per 7 days (label)."))
    if days_in >= policy.induction_days:
        items.append(_benefit(patient.scores, course, order_date, policy))
    intro = (f"Esketamine course of {len(course.sessions)} "
             f"session(s) from {course.start.isoformat()} to {course.last.isoformat()}; the order is in week "
             f"{week} ({name}).")
    return merge_items("treatment-course", items, "label", intro)


def _benefit(scores: Sequence[ScaleScore], course: Course, order_date: date, policy: Policy) -> Item:
    """Info stating the response when a score shows the benefit; otherwise the end-of-induction warning."""
    baselines, pairs = _baselines(scores, course, policy), []
    for baseline in baselines:
        for later in scores:
            if later.instrument == baseline.instrument and course.start < later.when <= order_date:
                pairs.append((baseline, later, (baseline.value - later.value) / baseline.value))
    responses = [pair for pair in pairs if pair[2] >= policy.course_benefit_improvement]
    if responses:
        baseline, later, change = max(responses, key=lambda pair: (pair[1].when, pair[1].source))
        shown = (f"{md(baseline.instrument)} {baseline.value:g} on {baseline.when.isoformat()} → "
                 f"{later.value:g} on {later.when.isoformat()} ({-change:+.0%})")
        return Item("info", f"Esketamine course response documented: {shown}",
                    f"Benefit documented after induction: {shown}, at least "
                    f"{policy.course_benefit_improvement:.0%} improvement from the course baseline.")
    found = (f"no baseline score in the {policy.course_baseline_days} days before the course" if not baselines
             else f"no score shows {policy.course_benefit_improvement:.0%} improvement from the course baseline")
    return Item("warning", "Esketamine continued past induction without documented benefit: evaluate "
                           "therapeutic benefit before continuing",
                f"{found.capitalize()} ({course.start.isoformat()} onward). The label: evaluate therapeutic "
                "benefit at the end of induction before continuing; document a depression score.")


def _baselines(scores: Sequence[ScaleScore], course: Course, policy: Policy) -> list[ScaleScore]:
    """The latest score per instrument in [start − course_baseline_days, start], above 0."""
    latest: dict[str, ScaleScore] = {}
    for found in scores:
        if 0 <= (course.start - found.when).days <= policy.course_baseline_days and found.value > 0:
            if found.instrument not in latest or (found.when, found.source) > (latest[found.instrument].when,
                                                                                latest[found.instrument].source):
                latest[found.instrument] = found
    return list(latest.values())


def duplicate_finding(order: OrderedMedication, orders: Sequence[OrderedMedication], patient: PatientRecord,
                      policy: Policy, order_date: date) -> Finding | None:
    """Warning for an active course of the other drug, or another order of the same drug in the call (§7 v2)."""
    items = []
    other = OTHER_DRUG[order.drug]
    dates = sessions(patient, other, order_date)
    if dates and (order_date - dates[-1]).days <= policy.course_active_days:
        named = DRUG_NAMES[order.drug]
        items.append(Item("warning", f"{named[0].upper()}{named[1:]} ordered during an active "
                                     f"{DRUG_NAMES[other]} course (last session {dates[-1].isoformat()})",
                          f"Last {DRUG_NAMES[other]} session {dates[-1].isoformat()}, within "
                          f"{policy.course_active_days} days of this order: both are NMDA receptor antagonists."))
    for another in orders:
        if another.order_ref != order.order_ref and another.drug == order.drug:
            items.append(Item("warning", f"Two {order.drug} orders in one call: {md(another.display)}",
                              f"{md(another.display or another.order_ref)} is ordered together with "
                              f"{md(order.display or order.order_ref)}: one session needs one order."))
    return merge_items("duplicate-therapy", items, "contract")
