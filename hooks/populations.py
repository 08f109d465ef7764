"""Special populations (decision-rules.md §7 v2): topics ``pediatric``, ``lactation``, ``hepatic-impairment``.

Nothing is concluded from an optional prefetch key that was not read: no age without the Patient,
no lactation without conditions and the breastfeeding-status Observation, no hepatic finding
without conditions.
"""
from __future__ import annotations

from datetime import date

from fhir_mappings.records import OrderedMedication, PatientRecord
from hooks.cards import Finding, md
from hooks.facts import age_on, condition_text, conditions_in
from hooks.policy import Policy

# conditions.csv categories (hepatic, reference.md §5.4): decompensation codes stand in for
# Child-Pugh class C, cirrhosis alone for class B (SPRAVATO US label 8.6).
HEPATIC_FAILURE, CIRRHOSIS, DECOMPENSATION = "hepatic-failure", "cirrhosis", "hepatic-decompensation"


def pediatric_finding(order: OrderedMedication, patient: PatientRecord, policy: Policy, today: date,
                      unavailable: frozenset[str]) -> Finding | None:
    """Warning for a patient under ``adult_age`` on the order date."""
    age = None if "patient" in unavailable else age_on(patient.birth_date, today)
    if age is None or age >= policy.adult_age:
        return None
    if order.drug == "esketamine":
        short, why = ("esketamine is not approved in pediatric patients",
                      "esketamine (SPRAVATO) is not approved in pediatric patients (US label, boxed warning)")
    else:
        short, why = ("IV ketamine evidence for depression is in adults",
                      "the IV ketamine evidence for depression comes from adults; it is not labeled for depression")
    return Finding("pediatric", "warning", f"Patient aged {age} (under {policy.adult_age}): {short}",
                   f"The patient is {age} on {today.isoformat()}: {why}. Antidepressants carry a class warning "
                   "on suicidal thoughts and behaviors in children, adolescents and young adults.",
                   "label" if order.drug == "esketamine" else "apa")


def young_adult_note(patient: PatientRecord, policy: Policy, today: date) -> str | None:
    """The class warning the TRD card adds for ages ``adult_age`` to ``young_adult_max_age``."""
    age = age_on(patient.birth_date, today)
    if age is None or not policy.adult_age <= age <= policy.young_adult_max_age:
        return None
    return (f"*Young adult (aged {age}):* antidepressants increased suicidal thoughts and behaviors in patients "
            f"aged {policy.young_adult_max_age} and younger (class warning, SPRAVATO US label 5.6): monitor "
            "for worsening and emergence of suicidal thoughts and behaviors.")


def lactation_finding(order: OrderedMedication, patient: PatientRecord,
                      unavailable: frozenset[str]) -> Finding | None:
    """Warning (esketamine) or info (IV ketamine) when breastfeeding is documented."""
    if "conditions" in unavailable and "breastfeeding" in unavailable:
        return None
    found = conditions_in(patient, ("lactation",), active_only=True)
    if not found:
        return None
    esketamine = order.drug == "esketamine"
    summary = ("Breastfeeding documented: not recommended during esketamine treatment" if esketamine else
               "Breastfeeding documented: the esketamine label advises against it; weigh it for IV ketamine")
    advice = ("The SPRAVATO label advises against breastfeeding during treatment." if esketamine else
              "No ketamine product is labeled for depression; the SPRAVATO label (its S-enantiomer) advises "
              "against breastfeeding during treatment.")
    detail = "\n".join(f"- {md(condition_text('breastfeeding', condition))}" for _, condition in found)
    return Finding("lactation", "warning" if esketamine else "info", summary, f"{detail}\n\n{advice}", "label")


def hepatic_finding(order: OrderedMedication, patient: PatientRecord,
                    unavailable: frozenset[str]) -> Finding | None:
    """Hepatic failure or decompensated cirrhosis: warning; cirrhosis alone: info; IV ketamine: info."""
    if "conditions" in unavailable:
        return None
    found = conditions_in(patient, (HEPATIC_FAILURE, DECOMPENSATION, CIRRHOSIS), active_only=True)
    categories = {category for category, _ in found}
    severe = HEPATIC_FAILURE in categories or {CIRRHOSIS, DECOMPENSATION} <= categories
    if not severe and CIRRHOSIS not in categories:
        return None
    esketamine = order.drug == "esketamine"
    if severe:
        indicator = "warning" if esketamine else "info"
        summary = ("Severe hepatic impairment documented: esketamine use not recommended" if esketamine else
                   "Severe hepatic impairment documented: ketamine exposure may be higher; monitor longer")
        advice = ("Hepatic failure or decompensated cirrhosis (stands in for Child-Pugh C): SPRAVATO was not "
                  "studied in severe hepatic impairment and its use is not recommended (US label 8.6).")
    else:
        indicator, summary = "info", "Cirrhosis documented: monitor for adverse reactions for longer"
        advice = ("Cirrhosis without a documented decompensation (stands in for Child-Pugh B): higher exposure "
                  "and a longer half-life; monitor for adverse reactions for a longer period (US label 8.6).")
    if not esketamine:
        advice += " Applied to IV ketamine as information (hepatic metabolism; no ketamine depression label)."
    listed = "\n".join(f"- {md(condition_text(category.replace('-', ' '), condition))}"
                       for category, condition in found)
    return Finding("hepatic-impairment", indicator, summary, f"{listed}\n\n{advice}", "label")
