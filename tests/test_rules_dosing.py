"""decision-rules.md §6: ketamine mg/kg, BMI, infusion time, route; esketamine dose, frequency, age."""
from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.orders import ordered_medications
from hooks.dosing import WEIGHT_REQUEST, dose_finding
from hooks.policy import Policy
from test_rules_records import TODAY, days_ago, measurement, order, patient

POLICY = Policy()
WEIGHT_70 = (measurement("weight", 70.0),)


def check(the_order, the_patient=None, unavailable=frozenset()):
    return dose_finding(the_order, the_patient or patient(), POLICY, TODAY, unavailable)


@pytest.mark.parametrize("dose_mg, indicator", [(35.0, None), (35.7, "warning"), (70.0, "warning"),
                                                (70.7, "critical")])
def test_ketamine_mg_per_kg_limits(dose_mg, indicator):  # 0.5, 0.51, 1.0, 1.01 mg/kg at 70 kg
    finding = check(order("ketamine", dose_mg=dose_mg), patient(measurements=WEIGHT_70))
    assert (finding.indicator if finding else None) == indicator


@pytest.mark.parametrize("mg_per_kg, indicator", [(0.5, None), (0.51, "warning"), (1.0, "warning"),
                                                  (1.01, "critical")])
def test_ketamine_dose_ordered_in_mg_per_kg_needs_no_weight(mg_per_kg, indicator):
    finding = check(order("ketamine", dose_mg_per_kg=mg_per_kg))
    assert (finding.indicator if finding else None) == indicator


def test_no_recent_weight_is_a_warning_with_a_weight_measurement_suggestion():
    old_weight = (measurement("weight", 70.0, days_ago(91)),)
    finding = check(order("ketamine", dose_mg=35.0), patient(measurements=old_weight))
    assert finding.indicator == "warning"
    assert "No body weight in the last 90 days" in finding.summary
    assert finding.request == WEIGHT_REQUEST


def test_weight_from_90_days_ago_is_still_used():
    finding = check(order("ketamine", dose_mg=70.0), patient(measurements=(measurement("weight", 70.0, days_ago(90)),)))
    assert finding.summary.startswith("Ketamine 1 mg/kg")


def test_weight_that_could_not_be_read_is_not_reported_as_missing():
    assert check(order("ketamine", dose_mg=35.0), unavailable=frozenset({"weight"})) is None


@pytest.mark.parametrize("bmi, flagged", [(29.9, False), (30.0, True)])
def test_bmi_of_30_suggests_ideal_body_weight(bmi, flagged):
    the_patient = patient(measurements=WEIGHT_70 + (measurement("bmi", bmi),))
    finding = check(order("ketamine", dose_mg=35.0), the_patient)
    assert (finding is not None and finding.indicator == "info" and "BMI" in finding.summary) is flagged


def test_bmi_is_computed_from_weight_and_height():
    the_patient = patient(measurements=(measurement("weight", 100.0), measurement("height", 170.0, date(2020, 1, 1))))
    finding = check(order("ketamine", dose_mg=50.0), the_patient)
    assert finding.summary == "BMI 34.6: consider dosing on ideal body weight"


@pytest.mark.parametrize("minutes, flagged", [(39.0, True), (40.0, False)])
def test_infusion_under_40_minutes_is_info(minutes, flagged):
    finding = check(order("ketamine", dose_mg=35.0, infusion_minutes=minutes), patient(measurements=WEIGHT_70))
    assert (finding is not None and finding.indicator == "info") is flagged


def test_ketamine_by_another_route_points_to_the_iv_evidence():
    finding = check(order("ketamine", route="oral", dose_mg=200.0), patient(measurements=WEIGHT_70))
    assert finding.indicator == "info"
    assert "IV 0.5 mg/kg over 40 min" in finding.summary


def test_several_ketamine_findings_make_one_card_with_the_worst_indicator():
    finding = check(order("ketamine", dose_mg=80.0, infusion_minutes=20.0),
                    patient(measurements=WEIGHT_70 + (measurement("bmi", 31.0),)))
    assert finding.indicator == "critical"
    assert finding.summary.endswith("(+2 more)")
    assert finding.detail.count("- **") == 3


@pytest.mark.parametrize("dose_mg, flagged", [(28.0, False), (56.0, False), (84.0, False), (112.0, True),
                                              (42.0, True), (0.0, True)])
def test_esketamine_dose_must_be_a_28_mg_multiple_up_to_84_mg(dose_mg, flagged):
    old_patient = patient(birth_date=date(1950, 1, 1))
    finding = check(order("esketamine", dose_mg=dose_mg), old_patient)
    assert (finding is not None and finding.indicator == "critical") is flagged


@pytest.mark.parametrize("per_week, flagged", [(2.0, False), (3.0, True)])
def test_esketamine_more_than_twice_weekly_is_a_warning(per_week, flagged):
    finding = check(order("esketamine", dose_mg=56.0, per_week=per_week))
    assert (finding is not None and finding.indicator == "warning") is flagged


@pytest.mark.parametrize("birth_date, flagged", [(date(1961, 11, 21), True), (date(1961, 11, 20), False)])
def test_28_mg_under_65_is_a_warning(birth_date, flagged):  # 64 (turns 65 tomorrow) vs 65 today
    finding = check(order("esketamine", dose_mg=28.0), patient(birth_date=birth_date))
    assert (finding is not None and "aged 64" in finding.summary) is flagged


UNREADABLE = "Ordered dose could not be read (unit 'mL' not convertible to mg or mg/kg): check the dose manually"


@pytest.mark.parametrize("drug", ["ketamine", "esketamine"])
def test_dose_given_but_unreadable_is_a_warning_for_both_drugs(drug):
    finding = check(order(drug, dose_mg=None, dose_unknown="unit 'mL' not convertible to mg or mg/kg"),
                    patient(measurements=WEIGHT_70))
    assert (finding.topic, finding.indicator, finding.summary) == ("dose-check", "warning", UNREADABLE)
    assert "check the dose manually" in finding.detail and finding.request is None


@pytest.mark.parametrize("drug", ["ketamine", "esketamine"])
def test_no_dose_given_gives_no_dose_card(drug):
    assert check(order(drug, dose_mg=None), patient(measurements=WEIGHT_70)) is None


def _draft(dose, code="6130", display="ketamine"):
    request = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                         "code": code, "display": display}]},
               "dosageInstruction": [{"doseAndRate": [{"doseQuantity": dose}]}]}
    return ordered_medications({"draftOrders": {"resourceType": "Bundle", "entry": [{"resource": request}]}},
                               "order-sign")[0]


def test_ketamine_ordered_in_ug_per_kg_is_checked():  # reviewer repro: 1500 ug/kg gave no card
    dose = {"value": 1500, "unit": "ug/kg", "system": "http://unitsofmeasure.org", "code": "ug/kg"}
    finding = check(_draft(dose))
    assert finding.indicator == "critical" and finding.summary.startswith("Ketamine 1.5 mg/kg")


@pytest.mark.parametrize("value", ["inf", "NaN", 1e999])
def test_non_finite_ordered_dose_is_a_warning_not_a_crash(value):
    finding = check(_draft({"value": value, "unit": "mg/kg", "code": "mg/kg"}), patient(measurements=WEIGHT_70))
    assert finding.indicator == "warning" and finding.summary.startswith("Ordered dose could not be read")


def test_esketamine_dose_range_is_checked_at_its_high_end():
    request = {"resourceType": "MedicationRequest", "id": "e1", "status": "draft", "intent": "order",
               "medicationCodeableConcept": {"text": "esketamine"},
               "dosageInstruction": [{"doseAndRate": [{"doseRange": {"low": {"value": 56, "unit": "mg"},
                                                                     "high": {"value": 112, "unit": "mg"}}}]}]}
    the_order = ordered_medications({"draftOrders": {"entry": [{"resource": request}]}}, "order-sign")[0]
    assert check(the_order).indicator == "critical"  # 112 mg > 84 mg; the low end (56 mg) passed


@pytest.mark.parametrize("weight", [0.0, -70.0])
def test_weight_of_zero_or_less_is_never_divided_by(weight):  # was ZeroDivisionError
    finding = check(order("ketamine", dose_mg=35.0), patient(measurements=(measurement("weight", weight),)))
    assert finding.indicator == "warning" and "No body weight" in finding.summary


def test_bmi_is_not_computed_from_a_weight_of_zero_or_less():
    the_patient = patient(measurements=(measurement("weight", -100.0), measurement("height", 170.0)))
    assert check(order("ketamine", dose_mg_per_kg=0.5), the_patient) is None


def test_esketamine_dose_texts_follow_the_policy_first_dose():
    policy = Policy.from_mapping({"esketamine_first_dose_mg": 28})
    young = patient(birth_date=date(1990, 1, 1))
    low = dose_finding(order("esketamine", dose_mg=28.0), young, policy, TODAY, frozenset())
    assert "28-84 mg showed superior efficacy" in low.summary and "the first dose is 28 mg" in low.detail
    odd = dose_finding(order("esketamine", dose_mg=42.0), young, policy, TODAY, frozenset())
    assert "a session is 28 or 84 mg (label)" in odd.detail
    default = check(order("esketamine", dose_mg=28.0), young)
    assert "56-84 mg showed superior efficacy" in default.summary and "the first dose is 56 mg" in default.detail


@pytest.mark.parametrize("dose_mg, summary", [
    (112.0, "Esketamine 112 mg exceeds the 84 mg per-session maximum"),  # 112 is a multiple of 28 (§6 v2)
    (30.0, "Esketamine 30 mg is not a multiple of the 28 mg device"),
    (90.0, "Esketamine 90 mg exceeds the 84 mg per-session maximum and is not a multiple of the 28 mg device")])
def test_esketamine_dose_summary_names_which_limit(dose_mg, summary):
    finding = check(order(dose_mg=dose_mg))
    assert finding.indicator == "critical" and finding.summary.startswith(summary)


@pytest.mark.parametrize("route, flagged", [("oral", True), ("intravenous", True), ("nasal", False), (None, False)])
def test_esketamine_by_a_route_other_than_nasal_is_critical(route, flagged):
    finding = check(order(route=route))
    assert (finding is not None and finding.indicator == "critical" and "nasal spray only" in finding.summary) \
        is flagged


@pytest.mark.parametrize("dose_mg, first, expected", [(84.0, True, "warning"), (56.0, True, None),
                                                      (84.0, False, None)])
def test_first_session_of_a_course_is_56_mg(dose_mg, first, expected):
    finding = dose_finding(order(dose_mg=dose_mg), patient(), POLICY, TODAY, frozenset(), first_session=first)
    assert (finding.indicator if finding else None) == expected
    if expected:
        assert "First esketamine session of a course at 84 mg" in finding.summary


def test_first_session_at_28_mg_is_left_to_the_age_rule():
    older = patient(birth_date=date(1950, 1, 1))
    assert dose_finding(order(dose_mg=28.0), older, POLICY, TODAY, frozenset(), first_session=True) is None
    younger = dose_finding(order(dose_mg=28.0), patient(), POLICY, TODAY, frozenset(), first_session=True)
    assert "(+" not in younger.summary  # one warning (28 mg under 65), not two
