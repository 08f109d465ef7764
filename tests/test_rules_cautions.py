"""decision-rules.md §5 blood pressure and §7 diagnosis, pregnancy, substance use and interactions."""
from __future__ import annotations

import pytest

from hooks.cautions import blood_pressure_finding, condition_findings, interaction_finding
from hooks.policy import Policy
from test_rules_records import TODAY, condition, days_ago, exposure, measurement, patient

POLICY = Policy()


def bp(systolic, diastolic, when=None, unavailable=frozenset()):
    readings = (measurement("systolic", systolic, when), measurement("diastolic", diastolic, when))
    return blood_pressure_finding("esketamine", patient(measurements=readings), POLICY, TODAY, unavailable)


@pytest.mark.parametrize("systolic, diastolic, elevated", [(140, 90, False), (141, 80, True), (130, 91, True)])
def test_blood_pressure_above_140_or_90_is_a_warning(systolic, diastolic, elevated):
    finding = bp(systolic, diastolic)
    assert (finding is not None and finding.indicator == "warning") is elevated


def test_elevated_reading_names_values_and_date_and_suggests_a_recheck():
    finding = bp(150, 95, days_ago(3))
    assert finding.summary.startswith(f"Elevated blood pressure 150/95 mmHg ({days_ago(3).isoformat()})")
    assert finding.request.code["coding"][0]["code"] == "85354-9"


@pytest.mark.parametrize("age, expected", [(30, "warning"), (31, None)])
def test_only_readings_within_30_days_count_as_elevated(age, expected):
    finding = bp(160, 100, days_ago(age))
    assert (finding.indicator if finding else None) == expected


@pytest.mark.parametrize("age, expected", [(90, None), (91, "info")])
def test_no_blood_pressure_within_90_days_asks_for_a_baseline(age, expected):
    finding = bp(120, 80, days_ago(age))
    assert (finding.indicator if finding else None) == expected


def test_unread_blood_pressure_gives_no_blood_pressure_card():
    assert blood_pressure_finding("esketamine", patient(), POLICY, TODAY, frozenset({"bloodPressure"})) is None
    assert blood_pressure_finding("esketamine", patient(), POLICY, TODAY, frozenset()).indicator == "info"


@pytest.mark.parametrize("category, topic", [("bipolar", "diagnosis-caution"), ("psychosis", "diagnosis-caution"),
                                             ("mdd-psychotic", "diagnosis-caution"), ("pregnancy", "pregnancy"),
                                             ("substance-use", "substance-use")])
def test_each_condition_category_gives_its_warning(category, topic):
    [finding] = condition_findings(patient(conditions=(condition(category),)), TODAY, frozenset())
    assert (finding.topic, finding.indicator) == (topic, "warning")


def test_resolved_pregnancy_is_not_flagged_but_past_bipolar_disorder_and_substance_use_are():
    conditions = (condition("bipolar", "resolved"), condition("pregnancy", "inactive"),
                  condition("substance-use", "remission"), condition("psychosis", "resolved"))
    found = condition_findings(patient(conditions=conditions), TODAY, frozenset())
    assert [f.topic for f in found] == ["diagnosis-caution", "substance-use"]  # §7 v2: bipolar, any status
    assert "Bipolar disorder" in found[0].summary and "psychotic disorder" not in found[0].detail


def test_several_diagnoses_make_one_diagnosis_caution_card():
    conditions = (condition("bipolar"), condition("psychosis"))
    [finding] = condition_findings(patient(conditions=conditions), TODAY, frozenset())
    assert finding.summary.endswith("(+1 more)")


def test_unread_conditions_give_no_condition_verdicts():
    assert condition_findings(patient(conditions=(condition("pregnancy"),)), TODAY, frozenset({"conditions"})) == []


def test_active_cns_depressant_and_maoi_are_interactions():
    medications = (exposure("lorazepam", "benzodiazepine", status="active", roles=("cns-depressant",)),
                   exposure("phenelzine", "MAOI", status="active", roles=("antidepressant", "maoi")))
    finding = interaction_finding("esketamine", patient(medications=medications), TODAY, frozenset())
    assert finding.indicator == "warning"
    assert "lorazepam" in finding.detail and "phenelzine" in finding.detail


def test_stopped_medicines_are_not_interactions():
    medications = (exposure("lorazepam", "benzodiazepine", status="stopped", roles=("cns-depressant",)),)
    assert interaction_finding("esketamine", patient(medications=medications), TODAY, frozenset()) is None
