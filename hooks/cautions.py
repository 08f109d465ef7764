"""Blood pressure (decision-rules.md §5, with the v2 cardiovascular conditions) and the cautions of §7.

Topics: ``blood-pressure``, ``diagnosis-caution``, ``pregnancy``, ``substance-use``,
``drug-interaction``. Nothing is concluded from an optional prefetch key that was not read.
The special populations of §7 v2 are in hooks/populations.py.
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

# topic → {conditions.csv category: (active only?, summary, detail)}; SPRAVATO US label §5, §8.
# Bipolar disorder counts with any status but refuted / entered-in-error (§7 v2): the extractor
# already drops those; past substance use counts too (abuse risk).
CONDITION_CAUTIONS = {
    "diagnosis-caution": {
        "bipolar": (False, "Bipolar disorder documented: not approved for bipolar depression",
                    "bipolar disorder: esketamine is not approved for bipolar depression"),
        "psychosis": (True, "Psychotic disorder documented: assess carefully before starting",
                      "psychotic disorder: dissociation risk; start only if benefit outweighs risk"),
        "mdd-psychotic": (True, "MDD with psychotic features documented: assess carefully before starting",
                          "MDD with psychotic features: dissociation risk; start only if benefit outweighs risk"),
    },
    "pregnancy": {
        "pregnancy": (True, "Active pregnancy documented: not recommended (embryo-fetal toxicity)",
                      "pregnancy: may cause fetal harm; not recommended during pregnancy"),
    },
    "substance-use": {
        "substance-use": (False, "Substance use disorder documented: abuse and misuse risk; monitor closely",
                          "substance use disorder (current or past): assess abuse risk and monitor for abuse "
                          "and misuse"),
    },
}
# reference.md §5.4: lithium, valproate, lamotrigine, carbamazepine, antipsychotics approved for bipolar depression
MOOD_STABILIZERS = "lithium, valproate, lamotrigine, carbamazepine or an antipsychotic approved for bipolar depression"
# exposure role → effect (SPRAVATO US label: Drug Interactions; boxed warning for respiratory depression (v2))
INTERACTING_ROLES = {
    "cns-depressant": "CNS depressant: sedation and respiratory depression (boxed warning); monitor closely, "
                      "with pulse oximetry at every session",
    "psychostimulant": "psychostimulant: blood pressure rise, monitor blood pressure closely",
    "maoi": "MAOI: blood pressure rise, monitor blood pressure closely",
}
# APA consensus 2017 (Sanacora): benzodiazepines may blunt ketamine's antidepressant effect (§7 v2)
BENZODIAZEPINE_BLUNTING = ("benzodiazepines may blunt ketamine's antidepressant effect (APA consensus 2017); "
                           "consider the timing or dose of the benzodiazepine")
CV_CATEGORIES = {"hypertension": "hypertension", "cardiovascular": "cardiovascular or cerebrovascular disease"}
# drug → (SOURCES key, advice): §5 (v2) IV ketamine cites the ketamine evidence, not the SPRAVATO label
BP_SOURCES = {
    "esketamine": ("label", "The SPRAVATO label asks for blood pressure before dosing and at about 40 minutes: "
                            "the rise peaks about 40 minutes after dosing and lasts about 4 hours. Do not dose if "
                            "a rise in blood pressure or intracranial pressure poses a serious risk."),
    "ketamine": ("apa", "The APA consensus (2017) asks for a baseline blood pressure and blood pressure "
                        "monitoring during the infusion: ketamine raises blood pressure transiently."),
}


def blood_pressure_finding(drug: str, patient: PatientRecord, policy: Policy, today: date,
                           unavailable: frozenset[str]) -> Finding | None:
    """§5: elevated latest reading (warning) or no recent baseline (info); with an active
    cardiovascular condition (§5 v2) a warning when elevated within bp_stale_days or none within
    bp_recent_days. IV ketamine cites the APA consensus, esketamine the SPRAVATO label."""
    if "bloodPressure" in unavailable:
        return None
    conditions = [] if "conditions" in unavailable else conditions_in(patient, CV_CATEGORIES, active_only=True)
    source, advice = BP_SOURCES[drug]
    readings = [m for m in (latest(patient, kind, today, policy.bp_stale_days)
                            for kind in ("systolic", "diastolic")) if m]
    limits = {"systolic": policy.bp_systolic, "diastolic": policy.bp_diastolic}
    window = policy.bp_stale_days if conditions else policy.bp_recent_days
    elevated = [m for m in readings if (today - m.when).days <= window and m.value > limits[m.kind]]
    recent = [m for m in readings if (today - m.when).days <= policy.bp_recent_days]
    named = "\n".join(f"- {md(condition_text(CV_CATEGORIES[category], condition))}" for category, condition in conditions)
    risk = (f"\n\n{named}\n\nWith {_conditions_named(conditions)} the patient may be at higher risk from the "
            "blood pressure rise: do not dose if a rise poses a serious risk." if conditions else "")
    if not elevated and conditions and not recent:
        return Finding("blood-pressure", "warning",
                       f"No blood pressure in the last {policy.bp_recent_days} days with "
                       f"{_conditions_named(conditions)}: measure before dosing",
                       advice + risk, source,
                       ProposedRequest("Measure baseline blood pressure", "Blood pressure before dosing", BP_CODE))
    if not readings:
        return Finding("blood-pressure", "info",
                       f"No blood pressure in the last {policy.bp_stale_days} days: measure a baseline before dosing",
                       f"{advice} A raised baseline (e.g. above {policy.bp_systolic:g}/{policy.bp_diastolic:g} "
                       "mmHg) must be weighed against the benefit.", source,
                       ProposedRequest("Measure baseline blood pressure", "Blood pressure before dosing", BP_CODE))
    if not elevated:
        return None
    summary = f"Elevated blood pressure {_reading(readings)}"
    summary += (f" with {_conditions_named(conditions)}" if conditions else "") + ": weigh the rise against benefit"
    detail = ("\n".join(f"- {m.kind} {m.value:g} mmHg on {m.when.isoformat()} ({md(m.source)})" for m in readings)
              + f"\n\n{advice} A baseline above {policy.bp_systolic:g} mmHg systolic or "
                f"{policy.bp_diastolic:g} mmHg diastolic is flagged (SPRAVATO label example)." + risk)
    return Finding("blood-pressure", "warning", summary, detail, source,
                   ProposedRequest("Recheck blood pressure before dosing", "Blood pressure recheck", BP_CODE))


def _conditions_named(conditions: list) -> str:
    return " and ".join(dict.fromkeys(CV_CATEGORIES[category] for category, _ in conditions))


def _reading(readings: list[Measurement]) -> str:
    values = {m.kind: m for m in readings}
    shown = "/".join(f"{values[k].value:g}" if k in values else "?" for k in ("systolic", "diastolic"))
    return f"{shown} mmHg ({max(m.when for m in readings).isoformat()})"


def condition_findings(patient: PatientRecord, today: date, unavailable: frozenset[str]) -> list[Finding]:
    """diagnosis-caution, pregnancy and substance-use warnings from documented conditions."""
    if "conditions" in unavailable:
        return []
    findings = []
    stabilizers = _mood_stabilizers(patient, today)
    for topic, categories in CONDITION_CAUTIONS.items():
        items = []
        for category, (active_only, summary, detail) in categories.items():
            for _, condition in conditions_in(patient, (category,), active_only):
                text = md(condition_text(detail, condition))
                if category == "bipolar":
                    summary, text = (f"{summary}; {stabilizers[0]}", f"{text}; {md(stabilizers[1])}")
                items.append(Item("warning", summary, text))
        finding = merge_items(topic, items, "label")
        if finding:
            findings.append(finding)
    return findings


def _mood_stabilizers(patient: PatientRecord, today: date) -> tuple[str, str]:
    """(summary part, detail part) naming the active mood stabilizers, if any (§7 v2)."""
    active = [e for e in sorted(patient.medications, key=lambda e: e.source)
              if "mood-stabilizer" in e.roles and active_on(e, today)]
    if not active:
        return "no mood stabilizer active", f"no active mood stabilizer documented ({MOOD_STABILIZERS})"
    names = ", ".join(dict.fromkeys(e.ingredient for e in active))
    return (f"mood stabilizer active: {names}",
            "mood stabilizer active: " + "; ".join(f"{e.ingredient} ({e.source})" for e in active))


def interaction_finding(drug: str, patient: PatientRecord, today: date,
                        unavailable: frozenset[str]) -> Finding | None:
    """Warning for active CNS depressants, psychostimulants and MAOIs (medications are required data).

    With a respiratory condition and an active CNS depressant the card names both (§7 v2); for IV
    ketamine an active benzodiazepine adds the note that it may blunt the antidepressant effect.
    """
    active = [e for e in sorted(patient.medications, key=lambda e: e.source) if active_on(e, today)]
    depressants = [e for e in active if "cns-depressant" in e.roles]
    respiratory = [] if "conditions" in unavailable else conditions_in(patient, ("respiratory",), active_only=True)
    names = ", ".join(dict.fromkeys(e.ingredient for e in depressants))
    items = [Item("warning", f"Respiratory depression risk: {condition.display or condition.code} with {names}",
                  md(f"{condition_text('respiratory condition', condition)} with the CNS depressant(s) {names}: "
                     "higher risk of respiratory depression; monitor respiratory status and pulse oximetry"),
                  frozenset({condition.source, *(e.ingredient for e in depressants)}))
             for _, condition in (respiratory if depressants else ())]  # first: the summary names both
    items += [Item("warning", f"Drug interaction: {exposure.ingredient} ({role.replace('-', ' ')})",
                   md(f"{exposure.ingredient}, {effect} ({exposure.source})"), frozenset({exposure.ingredient}))
              for exposure in active for role, effect in INTERACTING_ROLES.items() if role in exposure.roles]
    blunting = drug == "ketamine" and any(e.mechanism_class == "benzodiazepine" for e in depressants)
    source = "apa" if drug == "ketamine" else "label"  # IV ketamine: the ketamine evidence, not the Spravato label
    return merge_items("drug-interaction", items, source, BENZODIAZEPINE_BLUNTING.capitalize() if blunting else "")


def active_on(exposure: MedicationExposure, today: date) -> bool:
    """Active, or a completed prescription whose supply (§2.9) still covers ``today`` (§7 v2)."""
    if exposure.status == "active":
        return exposure.end is None or exposure.end >= today
    return (exposure.status == "completed" and exposure.source.startswith("MedicationRequest/")
            and exposure.end is not None and exposure.end >= today)
