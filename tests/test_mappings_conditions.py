"""Condition → ConditionRecord, AllergyIntolerance → AllergyRecord (fhir_mappings/conditions.py)."""
from datetime import date

import pytest

from fhir_mappings.conditions import allergy_record, condition_record, uncoded_problem

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def condition(codings, clinical="active", **fields):
    return {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
            "code": {"coding": codings, "text": fields.pop("text", "")}, **fields}


@pytest.mark.parametrize("code, category", [("I71.4", "aneurysm"), ("I714", "aneurysm"), ("Q28.2", "avm"),
                                            ("I61.9", "intracerebral-hemorrhage"), ("F31.81", "bipolar"),
                                            ("F20.0", "psychosis"), ("O09.90", "pregnancy")])
def test_icd10_categories(code, category):
    record = condition_record(condition([{"system": ICD, "code": code}]))
    assert record.categories == {category} and record.code == code and record.system == ICD


def test_categorised_coding_chosen_and_categories_merged():
    record = condition_record(condition([{"system": "urn:local", "code": "X1", "display": "Dep psych"},
                                         {"system": SCT, "code": "28475009",
                                          "display": "Severe recurrent MDD with psychotic features"}],
                                        onsetDateTime="2019-06-01T00:00:00Z"))
    assert (record.system, record.code) == (SCT, "28475009")
    assert record.categories == {"mdd", "mdd-psychotic"}
    assert record.display == "Dep psych" and record.clinical_status == "active" and record.onset == date(2019, 6, 1)


@pytest.mark.parametrize("status", ["entered-in-error", "refuted"])
def test_not_true_conditions_ignored(status):
    resource = condition([{"system": ICD, "code": "I67.1"}],
                         verificationStatus={"coding": [{"system": VERIFICATION, "code": status}]})
    assert condition_record(resource) is None


def test_resolved_condition_kept_with_its_status():
    record = condition_record(condition([{"system": ICD, "code": "I61.0"}], clinical="resolved"))
    assert record.clinical_status == "resolved" and record.categories == {"intracerebral-hemorrhage"}


def test_uncoded_condition_is_a_problem_and_odd_input_kept():
    resource = condition([], text="brain aneurysm clipped 2010")
    assert condition_record(resource).categories == frozenset()
    assert uncoded_problem(resource) == "Condition/c1: no ICD-10-CM or SNOMED CT code (brain aneurysm clipped 2010)"
    assert uncoded_problem(condition([{"system": ICD, "code": "F33.1"}])) is None
    odd = condition_record({"resourceType": "Condition", "code": ["x"], "clinicalStatus": "active"})
    assert odd.categories == frozenset() and odd.clinical_status is None


def allergy(code=None, **fields):
    return {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
            "code": code, **fields}


def test_allergy_by_code_text_and_reaction_substance():
    by_code = allergy({"coding": [{"system": RXNORM, "code": "6130", "display": "Ketamine"}]})
    assert allergy_record(by_code).substance == "ketamine"
    assert allergy_record(allergy({"text": "Spravato"})).substance == "esketamine"
    by_reaction = allergy({"text": "anaesthetic"}, reaction=[{"substance": {"text": "esketamine nasal spray"}}])
    assert allergy_record(by_reaction).substance == "esketamine"
    assert allergy_record(allergy({"text": "penicillin"})).substance is None


@pytest.mark.parametrize("clinical, verification, active", [
    (None, None, True), ("active", "confirmed", True), ("inactive", None, False),
    ("resolved", None, False), ("active", "refuted", False), (None, "entered-in-error", False)])
def test_allergy_activity(clinical, verification, active):
    fields = {}
    if clinical:
        fields["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        fields["verificationStatus"] = {"coding": [{"code": verification}]}
    assert allergy_record(allergy({"text": "ketamine"}, **fields)).active is active
