"""Blood pressure (decision-rules.md §5) and the other cautions of §7.

Topics: ``blood-pressure``, ``diagnosis-caution``, ``pregnancy``, ``substance-use``,
``drug-interaction``. Nothing is concluded from an optional prefetch key that was not read.
"""
from __future__ import annotations

from datetime import date

from fhir_mappings.records import Measurement, MedicationExposure, PatientRecord
from hooks.cards import Finding, Item, ProposedRequest, md, merge_items
from hooks.facts import condition_text, conditions_in, latest
from hooks.policy import Policy

BP_CODE = {"coding": [{"system": "http://loinc.org", "code": "85354-9",
                       "display": "Blood pressure panel with all children optional"}],
           "text": "Blood pressure"}

# topic → (active only?, {conditions.csv category: (summary, detail)}); SPRAVATO US label §5, §8
CONDITION_CAUTIONS = {
    "diagnosis-caution": (True, {
        "bipolar": ("Bipolar disorder documented: not an approved indication; needs a mood stabilizer",
                    "bipolar disorder: esketamine is not approved for bipolar depression; a mood "
                    "stabilizer must be in place"),
        "psychosis": ("Psychotic disorder documented: assess carefully before starting",
                      "psychotic disorder: dissociation risk; start only if benefit outweighs risk"),
        "mdd-psychotic": ("MDD with psychotic features documented: assess carefully before starting",
                          "MDD with psychotic features: dissociation risk; start only if benefit "
                          "outweighs risk"),
    }),
    "pregnancy": (True, {
        "pregnancy": ("Active pregnancy documented: not recommended (embryo-fetal toxicity)",
                      "pregnancy: may cause fetal harm; not recommended during pregnancy"),
    }),
    "substance-use": (False, {
        "substance-use": ("Substance use disorder documented: abuse and misuse risk; monitor closely",
                          "substance use disorder (current or past): assess abuse risk and monitor "
                          "for abuse and misuse"),
    }),
}
# exposure role → effect (SPRAVATO US label, Drug Interactions)
INTERACTING_ROLES = {
    "cns-depressant": "CNS depressant: more sedation, monitor closely",
    "psychostimulant": "psychostimulant: blood pressure rise, monitor blood pressure closely",
    "maoi": "MAOI: blood pressure rise, monitor blood pressure closely",
}


def blood_pressure_finding(patient: PatientRecord, policy: Policy, today: date,
                           unavailable: frozenset[str]) -> Finding | None:
    """Warning when the latest reading within bp_recent_days is elevated; info when none within bp_stale_days."""
    if "bloodPressure" in unavailable:
        return None
    readings = [m for m in (latest(patient, kind, today, policy.bp_stale_days)
                            for kind in ("systolic", "diastolic")) if m]
    if not readings:
        return Finding("blood-pressure", "info",
                       f"No blood pressure in the last {policy.bp_stale_days} days: measure a baseline before dosing",
                       "The label asks for blood pressure before dosing; a raised baseline (e.g. above "
                       f"{policy.bp_systolic:g}/{policy.bp_diastolic:g} mmHg) must be weighed against "
                       "the benefit.", "label",
                       ProposedRequest("Measure baseline blood pressure", "Blood pressure before dosing", BP_CODE))
    limits = {"systolic": policy.bp_systolic, "diastolic": policy.bp_diastolic}
    elevated = [m for m in readings
                if (today - m.when).days <= policy.bp_recent_days and m.value > limits[m.kind]]
    if not elevated:
        return None
    summary = (f"Elevated blood pressure {_reading(readings)}: weigh the blood pressure rise against benefit")
    detail = ("\n".join(f"- {m.kind} {m.value:g} mmHg on {m.when.isoformat()} ({md(m.source)})" for m in readings)
              + f"\n\nThe label flags a baseline above {policy.bp_systolic:g} mmHg systolic or "
                f"{policy.bp_diastolic:g} mmHg diastolic: the rise peaks about 40 minutes after dosing "
                "and lasts about 4 hours. Do not dose if a rise in blood pressure or intracranial "
                "pressure poses a serious risk.")
    return Finding("blood-pressure", "warning", summary, detail, "label",
                   ProposedRequest("Recheck blood pressure before dosing", "Blood pressure recheck", BP_CODE))


def _reading(readings: list[Measurement]) -> str:
    values = {m.kind: m for m in readings}
    shown = "/".join(f"{values[k].value:g}" if k in values else "?" for k in ("systolic", "diastolic"))
    return f"{shown} mmHg ({max(m.when for m in readings).isoformat()})"


def condition_findings(patient: PatientRecord, unavailable: frozenset[str]) -> list[Finding]:
    """diagnosis-caution, pregnancy and substance-use warnings from documented conditions."""
    if "conditions" in unavailable:
        return []
    findings = []
    for topic, (active_only, categories) in CONDITION_CAUTIONS.items():
        items = [Item("warning", categories[category][0],
                      md(condition_text(categories[category][1], condition)))
                 for category, condition in conditions_in(patient, categories, active_only)]
        finding = merge_items(topic, items, "label")
        if finding:
            findings.append(finding)
    return findings


def interaction_finding(patient: PatientRecord, today: date) -> Finding | None:
    """Warning for active CNS depressants, psychostimulants and MAOIs (medications are required data)."""
    items = [Item("warning", f"Drug interaction: {exposure.ingredient} ({role.replace('-', ' ')})",
                  md(f"{exposure.ingredient}, {effect} ({exposure.source})"))
             for exposure in sorted(patient.medications, key=lambda e: e.source) if _active(exposure, today)
             for role, effect in INTERACTING_ROLES.items() if role in exposure.roles]
    return merge_items("drug-interaction", items, "label")


def _active(exposure: MedicationExposure, today: date) -> bool:
    return exposure.status == "active" and (exposure.end is None or exposure.end >= today)
