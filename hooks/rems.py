"""SPRAVATO REMS prerequisites (decision-rules.md §4, topic ``rems-prerequisites``, esketamine only)."""
from __future__ import annotations

from typing import NamedTuple

from fhir_mappings.records import OrderedMedication, PatientRecord
from hooks.cards import Finding, ProposedRequest, md
from hooks.policy import Policy

DOCUMENTED, MISSING, UNKNOWN = "documented", "missing", "unknown"
NOT_REQUIRED = "not required"  # patient enrolment in an inpatient or emergency encounter
SATISFIED = frozenset({DOCUMENTED, NOT_REQUIRED})
EXEMPT_SETTING = "inpatient/emergency encounter"
SESSION_REQUIREMENTS = (  # SPRAVATO label boxed warning, dosing section; SPRAVATO REMS
    "blood pressure before dosing and at about 40 minutes, then as needed",
    "pulse oximetry and respiratory status during the session",
    "observation by a healthcare provider for at least 2 hours, until the patient is clinically stable",
    "no driving or hazardous activity until the next day after a restful sleep",
    "never dispensed for home use: self-administered under direct observation in the certified setting",
)
MONITORING_FORM = "Patient Monitoring Form submitted to the REMS within 7 days after each session (outpatient)"
ENROLMENT_REQUEST = ProposedRequest(
    label="Follow up SPRAVATO REMS patient enrolment",
    description="Create a task to enrol the patient in the SPRAVATO REMS before the first session",
    code={"text": "SPRAVATO REMS patient enrolment (Patient Enrollment Form)"})


class Check(NamedTuple):
    state: str  # DOCUMENTED | NOT_REQUIRED | MISSING | UNKNOWN
    text: str


def rems_finding(order: OrderedMedication, patient: PatientRecord, policy: Policy,
                 unavailable: frozenset[str]) -> Finding | None:
    """Warning when enrolment or certification is missing or unknown; info when both are documented."""
    if order.drug != "esketamine":
        return None
    encounter_read = "encounter" not in unavailable
    inpatient = encounter_read and patient.encounter_class in policy.rems_exempt_encounter_classes
    enrolment = _enrolment(patient, policy, unavailable, inpatient)
    setting = _setting(order, patient, policy, encounter_read)
    states = {"patient enrolment": enrolment.state, "setting certification": setting.state}
    open_items = [f"{name} {state}" for name, state in states.items() if state not in SATISFIED]
    if open_items:
        summary = "SPRAVATO REMS: " + "; ".join(open_items) + ": confirm before the session"
    elif enrolment.state == NOT_REQUIRED:
        summary = (f"SPRAVATO REMS: patient enrolment not required ({EXEMPT_SETTING}); "
                   "certified setting documented")
    else:
        summary = "SPRAVATO REMS prerequisites documented: patient enrolment and certified setting"
    requirements = SESSION_REQUIREMENTS + (() if inpatient else (MONITORING_FORM,))
    detail = "\n".join([
        f"- **Patient enrolment**: {enrolment.state}: {enrolment.text}",
        f"- **Certified setting**: {setting.state}: {setting.text}",
        "", "Every session (REMS and label):",
        *(f"- {item}" for item in requirements)])
    return Finding("rems-prerequisites", "warning" if open_items else "info", summary, detail, "rems",
                   ENROLMENT_REQUEST if enrolment.state == MISSING else None)


def _enrolment(patient: PatientRecord, policy: Policy, unavailable: frozenset[str], inpatient: bool) -> Check:
    if inpatient:
        return Check(NOT_REQUIRED, f"{EXEMPT_SETTING} (encounter class {md(patient.encounter_class)}); "
                                   "REMS patient enrolment applies to outpatient settings")
    if "patient" in unavailable:
        return Check(UNKNOWN, "the Patient could not be read")
    system = md(policy.rems_patient_id_system)
    if policy.rems_patient_id_system in patient.identifier_systems:
        return Check(DOCUMENTED, f"REMS patient identifier ({system})")
    return Check(MISSING, f"no Patient.identifier with system {system}; enrol the patient before the "
                          "first treatment")


def _setting(order: OrderedMedication, patient: PatientRecord, policy: Policy, encounter_read: bool) -> Check:
    places = [p for p in ((patient.encounter_location if encounter_read else None), order.performer) if p]
    if not policy.rems_certified_settings:
        return Check(UNKNOWN, "no REMS-certified settings are configured: confirm that this setting is certified")
    certified = [p for p in places if p in policy.rems_certified_settings]
    if certified:
        return Check(DOCUMENTED, f"{md(certified[0])} is a configured REMS-certified setting")
    if not encounter_read or not places:
        return Check(UNKNOWN, "the setting (encounter location or order performer) is not known")
    return Check(MISSING, f"{md(', '.join(places))} not in the configured REMS-certified settings")
