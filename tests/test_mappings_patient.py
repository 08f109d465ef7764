"""Bundles and resources of one patient → PatientRecord (fhir_mappings/patient.py)."""
from datetime import date

from fhir_mappings import build_patient_record, bundle_resources

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
REMS = "urn:trd-cds:spravato-rems-patient-id"

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-07-14",
           "identifier": [{"system": REMS, "value": "R-1"}, {"system": "urn:mrn", "value": "9"}, {"value": "x"}]}
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "in-progress", "subject": {"reference": "Patient/p1"},
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "location": [{"location": {"reference": "Location/clinic-7"}}, {"location": {"reference": "Location/x"}}]}


def statement(sid, code, display, start, status="completed"):
    return {"resourceType": "MedicationStatement", "id": sid, "status": status,
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
            "effectivePeriod": {"start": start, "end": "2025-06-01"}}


def score(oid, value, when):
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": "44261-6"}]}, "valueInteger": value,
            "effectiveDateTime": when}


def searchset(*resources, outcome=None):
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    if outcome:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def test_bundle_resources_flattens_and_skips_outcome_entries():
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "incomplete"}]}
    assert bundle_resources(searchset(PATIENT, ENCOUNTER, outcome=outcome)) == [PATIENT, ENCOUNTER]
    assert bundle_resources(PATIENT) == [PATIENT]
    assert bundle_resources(None) == [] and bundle_resources({"entry": [1]}) == []
    assert bundle_resources({"resourceType": "Bundle", "entry": [{"resource": None}, "x"]}) == []


def test_patient_and_encounter_fields():
    record = build_patient_record("p1", [PATIENT, ENCOUNTER])
    assert record.birth_date == date(1980, 7, 14)
    assert record.identifier_systems == {REMS, "urn:mrn"}
    assert (record.encounter_class, record.encounter_location) == ("AMB", "Location/clinic-7")


def test_r5_style_encounter_class_list_is_read():
    encounter = {**ENCOUNTER, "class": [{"coding": [{"code": "IMP"}]}]}
    assert build_patient_record("p1", [encounter]).encounter_class == "IMP"


def test_dispatch_sorting_and_duplicates():
    resources = bundle_resources(searchset(
        statement("b", "36437", "sertraline", "2025-01-01"), statement("a", "4493", "fluoxetine", "2024-02-01"),
        score("o2", 12, "2025-03-01"), score("o1", 20, "2024-12-20"), score("o1", 20, "2024-12-20"),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2"}]}},
        {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
         "code": {"text": "ketamine"}}))
    record = build_patient_record("p1", resources)
    assert [m.ingredient for m in record.medications] == ["fluoxetine", "sertraline"]
    assert [(s.source, s.value) for s in record.scores] == [("Observation/o1", 20), ("Observation/o2", 12)]
    assert record.conditions[0].categories == {"mdd"}
    assert record.allergies[0].substance == "ketamine" and record.allergies[0].active
    assert record.uninterpretable == ()


def test_medication_reference_resolved_from_medication_resources():
    request = {"resourceType": "MedicationRequest", "id": "r1", "status": "active",
               "subject": {"reference": "Patient/p1"},
               "medicationReference": {"reference": "Medication/m1"}, "authoredOn": "2025-01-01"}
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "bupropion XL 300 mg"}}
    assert build_patient_record("p1", [request, medication]).medications[0].ingredient == "bupropion"
    assert build_patient_record("p1", [medication, request]).medications[0].ingredient == "bupropion"
    assert build_patient_record("p1", [request]).medications[0].ingredient is None
    # a Medication naming a subject (not an element of Medication) still resolves, and is listed
    odd = {**medication, "subject": {"reference": " Patient/other"}}
    record = build_patient_record("p1", [request, odd])
    assert record.medications[0].ingredient == "bupropion" and "belongs to" in record.uninterpretable[0]


def test_problems_and_other_patients_are_listed_not_used():
    undated = {**score("o3", 15, None)}
    del undated["effectiveDateTime"]
    foreign = {**score("o4", 25, "2025-01-01"), "subject": {"reference": "https://ehr.example/fhir/Patient/p2"}}
    uncoded = {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/p1"}, "code": {"text": "AVM"}}
    record = build_patient_record("p1", [undated, foreign, uncoded, {**PATIENT, "id": "p2"}])
    assert record.scores == () and record.birth_date is None
    assert record.uninterpretable == (
        "Condition/c2: no ICD-10-CM or SNOMED CT code (AVM)",
        "Observation/o3: no date",
        "Observation/o4: belongs to https://ehr.example/fhir/Patient/p2, not Patient/p1",
        "Patient/p2: belongs to Patient/p2, not Patient/p1")


def test_scale_codes_extend_the_table_and_odd_input_is_tolerated():
    custom = {**score("o5", 28, "2025-01-01"), "code": {"coding": [{"system": "urn:site", "code": "madrs"}]}}
    record = build_patient_record("p1", [custom, None, 7, {"resourceType": "Basic"}], {"urn:site|madrs": "MADRS"})
    assert [(s.instrument, s.value) for s in record.scores] == [("MADRS", 28)]


def test_a_partial_birth_date_is_read_as_the_youngest_the_patient_may_be():
    """Born "2008" may be 17 on 2026-11-20: the pediatric check must not assume 18 (§7 v2)."""
    for written, expected in (("2008", date(2008, 12, 31)), ("2008-11", date(2008, 11, 30))):
        record = build_patient_record("p1", [{**PATIENT, "birthDate": written}])
        assert record.birth_date == expected
