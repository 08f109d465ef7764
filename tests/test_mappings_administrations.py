"""MedicationAdministration sessions and breastfeeding-status Observations (decision-rules §7 v2, §9)."""
from datetime import date

import pytest

from fhir_mappings import build_patient_record
from fhir_mappings.administrations import administration_record

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"


def administration(aid="a1", code="2119365", status="completed", when="2026-11-10T09:00:00Z", dose=56, **extra):
    resource = {"resourceType": "MedicationAdministration", "id": aid, "status": status,
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
                "dosage": {"dose": {"value": dose, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
                **extra}
    if when:
        resource["effectiveDateTime"] = when
    return resource


def test_completed_esketamine_administration_is_a_session():
    session, problem = administration_record(administration())
    assert problem is None
    assert (session.drug, session.when, session.dose_mg, session.source) == (
        "esketamine", date(2026, 11, 10), 56.0, "MedicationAdministration/a1")


@pytest.mark.parametrize("status", ["in-progress", "not-done", "entered-in-error", "stopped", "on-hold", "unknown"])
def test_only_completed_administrations_are_sessions(status):
    assert administration_record(administration(status=status)) == (None, None)


def test_other_medicines_are_ignored_and_ketamine_is_kept():
    assert administration_record(administration(code="3322")) == (None, None)
    assert administration_record(administration(code="6130"))[0].drug == "ketamine"


def test_period_start_dates_a_session_and_no_date_is_a_problem():
    session, _ = administration_record(administration(when=None, effectivePeriod={"start": "2026-11-01T10:00:00Z"}))
    assert session.when == date(2026, 11, 1)
    assert administration_record(administration(when=None)) == (
        None, "MedicationAdministration/a1: esketamine administration without a readable date")


def test_contained_medication_reference_is_resolved():
    resource = administration(contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "Spravato 28 mg"}}],
                              medicationReference={"reference": "#m"})
    del resource["medicationCodeableConcept"]
    assert administration_record(resource)[0].drug == "esketamine"


def breastfeeding(oid, when, answer_code, display):
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": "63895-7", "display": "Breastfeeding status"}]},
            "effectiveDateTime": when,
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer_code, "display": display}]}}


def test_latest_breastfeeding_status_decides_lactation():
    now = breastfeeding("o2", "2026-11-01", "LA29252-6", "Currently breastfeeding")
    before = breastfeeding("o1", "2026-06-01", "LA29253-4", "Not currently breastfeeding")
    [record] = build_patient_record("p1", [before, now]).conditions
    assert record.categories == {"lactation"} and record.source == "Observation/o2"
    stopped = breastfeeding("o3", "2026-11-15", "LA29253-4", "Not currently breastfeeding")
    assert build_patient_record("p1", [before, now, stopped]).conditions == ()


def test_patient_record_holds_sessions_by_date():
    record = build_patient_record("p1", [administration("a2", when="2026-11-12"), administration("a1", when="2026-11-05"),
                                         administration("a3", when=None)])
    assert [a.source for a in record.administrations] == ["MedicationAdministration/a1", "MedicationAdministration/a2"]
    assert record.uninterpretable == ("MedicationAdministration/a3: esketamine administration without a readable date",)
