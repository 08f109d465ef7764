"""Observation → ScaleScore / Measurement (fhir_mappings/observations.py)."""
from datetime import date

import pytest

from fhir_mappings.observations import observation_records

LOINC = "http://loinc.org"


def loinc(code, display=""):
    return {"coding": [{"system": LOINC, "code": code, "display": display}]}


def observation(code, **fields):
    return {"resourceType": "Observation", "id": "o1", "status": "final", "code": code,
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-02-03T08:15:00+01:00", **fields}


def test_phq9_total_from_value_integer():
    scores, measurements, problems = observation_records(observation(loinc("44261-6"), valueInteger=19))
    assert [(s.instrument, s.value, s.when, s.source) for s in scores] == [
        ("PHQ-9", 19, date(2025, 2, 3), "Observation/o1")]
    assert measurements == [] and problems == []


def test_madrs_by_local_code_and_by_text_hamd_by_configured_code():
    local = observation({"coding": [{"system": "urn:trd-cds:scale", "code": "madrs-total"}]},
                        valueQuantity={"value": 31, "unit": "{score}"})
    assert observation_records(local)[0][0].instrument == "MADRS"
    text_only = observation({"text": "Montgomery-Asberg total"}, valueInteger=22)
    assert observation_records(text_only)[0][0].value == 22
    custom = observation({"coding": [{"system": "urn:epic:flowsheet", "code": "1234"}]}, valueInteger=18)
    assert observation_records(custom)[0] == []
    assert observation_records(custom, {"urn:epic:flowsheet|1234": "HAM-D"})[0][0].instrument == "HAM-D"


@pytest.mark.parametrize("status, counted", [("final", True), ("amended", True), ("corrected", True),
                                             ("preliminary", False), ("entered-in-error", False)])
def test_only_final_amended_corrected_count(status, counted):
    scores, _, problems = observation_records(observation(loinc("44261-6"), status=status, valueInteger=9))
    assert bool(scores) is counted and problems == []


def test_unknown_status_missing_date_and_value_are_problems():
    assert observation_records(observation(loinc("44261-6"), status="unknown", valueInteger=9))[2] == [
        "Observation/o1: status 'unknown' not interpretable"]
    undated = observation(loinc("44261-6"), valueInteger=9)
    del undated["effectiveDateTime"]
    assert observation_records(undated) == ([], [], ["Observation/o1: no date"])
    assert observation_records(observation(loinc("44261-6")))[2] == ["Observation/o1: PHQ-9 score without a value"]


def test_date_falls_back_to_period_start_then_issued():
    by_period = observation(loinc("44261-6"), valueInteger=5, effectivePeriod={"start": "2025-01-02"})
    del by_period["effectiveDateTime"]
    assert observation_records(by_period)[0][0].when == date(2025, 1, 2)
    by_issued = {**by_period, "effectivePeriod": None, "issued": "2025-01-05T10:00:00Z"}
    assert observation_records(by_issued)[0][0].when == date(2025, 1, 5)


def test_bp_panel_components_share_the_date():
    panel = observation(loinc("85354-9"), component=[
        {"code": loinc("8480-6"), "valueQuantity": {"value": 152, "unit": "mmHg", "code": "mm[Hg]"}},
        {"code": loinc("8462-4"), "valueQuantity": {"value": 94, "unit": "mmHg", "code": "mm[Hg]"}},
        {"code": loinc("8867-4"), "valueQuantity": {"value": 80, "code": "/min"}}])
    _, measurements, problems = observation_records(panel)
    assert {(m.kind, m.value, m.when) for m in measurements} == {
        ("systolic", 152, date(2025, 2, 3)), ("diastolic", 94, date(2025, 2, 3))}
    assert problems == []


def test_components_read_under_any_panel_code_and_absent_ones_skipped():
    panel = observation(loinc("55284-4"), component=[
        {"code": loinc("8480-6"), "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
        {"code": loinc("8462-4"), "dataAbsentReason": {"text": "not measured"}}])
    assert [m.kind for m in observation_records(panel)[1]] == ["systolic"]


def test_separate_systolic_observation():
    _, measurements, _ = observation_records(observation(loinc("8480-6"), valueQuantity={"value": 138, "unit": "mmHg"}))
    assert [(m.kind, m.value) for m in measurements] == [("systolic", 138)]


@pytest.mark.parametrize("code, quantity, kind, expected", [
    ("29463-7", {"value": 176, "unit": "lb", "code": "[lb_av]"}, "weight", 79.8322),
    ("29463-7", {"value": 70500, "code": "g"}, "weight", 70.5),
    ("29463-7", {"value": 82, "unit": "kg"}, "weight", 82),
    ("8302-2", {"value": 1.75, "code": "m"}, "height", 175),
    ("8302-2", {"value": 70, "unit": "in", "code": "[in_i]"}, "height", 177.8),
    ("39156-5", {"value": 31.2, "code": "kg/m2"}, "bmi", 31.2),
])
def test_body_measurement_units(code, quantity, kind, expected):
    measurement = observation_records(observation(loinc(code), valueQuantity=quantity))[1][0]
    assert measurement.kind == kind and measurement.value == pytest.approx(expected, rel=1e-4)


def test_unknown_unit_is_a_problem():
    assert observation_records(observation(loinc("29463-7"), valueQuantity={"value": 11, "unit": "stone"}))[2] == [
        "Observation/o1: weight unit 'stone' unknown"]


def test_unrelated_and_odd_observations_give_nothing():
    assert observation_records(observation(loinc("2345-7"), valueQuantity={"value": 5})) == ([], [], [])
    assert observation_records({"resourceType": "Observation", "code": "x", "component": "y"}) == ([], [], [])


@pytest.mark.parametrize("code, quantity, problem", [
    ("29463-7", {"value": 0, "unit": "kg"}, "Observation/o1: weight 0 kg is not a positive measurement"),
    ("29463-7", {"value": -70, "code": "kg"}, "Observation/o1: weight -70 kg is not a positive measurement"),
    ("8302-2", {"value": 0, "code": "cm"}, "Observation/o1: height 0 cm is not a positive measurement"),
    ("8480-6", {"value": 0, "code": "mm[Hg]"}, "Observation/o1: systolic 0 mm[Hg] is not a positive measurement"),
])
def test_measurements_of_zero_or_less_are_problems_not_measurements(code, quantity, problem):
    # a weight of 0 kg reached dosing and raised ZeroDivisionError (mg / kg)
    assert observation_records(observation(loinc(code), valueQuantity=quantity)) == ([], [], [problem])
