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


def cv_bp(readings, drug="esketamine", category="hypertension", unavailable=frozenset()):
    conditions = (condition(category, display="Essential (primary) hypertension"),)
    return blood_pressure_finding(drug, patient(measurements=readings, conditions=conditions), POLICY, TODAY,
                                  unavailable)


def test_hypertension_with_an_elevated_reading_40_days_ago_is_a_warning_naming_it():
    finding = cv_bp((measurement("systolic", 178, days_ago(40)), measurement("diastolic", 104, days_ago(40))))
    assert (finding.indicator, finding.source) == ("warning", "label")
    assert "178/104" in finding.summary and "with hypertension" in finding.summary
    assert "Essential (primary) hypertension" in finding.detail and "higher risk" in finding.detail
    # without the condition, a reading 40 days old is neither elevated-recent nor missing
    plain = blood_pressure_finding("esketamine", patient(measurements=(measurement("systolic", 178, days_ago(40)),)),
                                   POLICY, TODAY, frozenset())
    assert plain is None


@pytest.mark.parametrize("age, expected", [(30, None), (31, "warning")])
def test_cardiovascular_condition_without_a_reading_in_30_days_is_a_warning(age, expected):
    finding = cv_bp((measurement("systolic", 120, days_ago(age)), measurement("diastolic", 70, days_ago(age))),
                    category="cardiovascular")
    assert (finding.indicator if finding else None) == expected
    if finding:
        assert "No blood pressure in the last 30 days with cardiovascular" in finding.summary


def test_cardiovascular_rule_needs_the_conditions_read():
    readings = (measurement("systolic", 178, days_ago(40)),)
    assert cv_bp(readings, unavailable=frozenset({"conditions"})) is None


def test_iv_ketamine_blood_pressure_cards_cite_the_apa_consensus():
    finding = cv_bp((measurement("systolic", 178, days_ago(40)),), drug="ketamine")
    assert finding.source == "apa" and "APA consensus" in finding.detail and "SPRAVATO label asks" not in finding.detail


def test_cns_depressant_card_names_respiratory_depression_and_pulse_oximetry():
    opioid = (exposure("oxycodone", "opioid", status="active", roles=("cns-depressant",)),)
    finding = interaction_finding("esketamine", patient(medications=opioid), TODAY, frozenset())
    assert "respiratory depression" in finding.detail and "pulse oximetry" in finding.detail


def test_respiratory_condition_with_a_cns_depressant_names_both():
    opioid = (exposure("oxycodone", "opioid", status="active", roles=("cns-depressant",)),)
    apnoea = (condition("respiratory", display="Obstructive sleep apnea"),)
    finding = interaction_finding("esketamine", patient(medications=opioid, conditions=apnoea), TODAY, frozenset())
    assert "Obstructive sleep apnea" in finding.detail and "CNS depressant(s) oxycodone" in finding.detail
    # "(+N more)" counts what the summary does not name: oxycodone's own interaction line adds nothing
    assert finding.summary == "Respiratory depression risk: Obstructive sleep apnea with oxycodone"
    stimulant = exposure("methylphenidate", "stimulant", status="active", roles=("psychostimulant",))
    both = interaction_finding("esketamine", patient(medications=opioid + (stimulant,), conditions=apnoea), TODAY,
                               frozenset())
    assert both.summary == "Respiratory depression risk: Obstructive sleep apnea with oxycodone (+1 more)"
    unread = interaction_finding("esketamine", patient(medications=opioid, conditions=apnoea), TODAY,
                                 frozenset({"conditions"}))
    assert "sleep apnea" not in unread.detail
    assert interaction_finding("esketamine", patient(conditions=apnoea), TODAY, frozenset()) is None


@pytest.mark.parametrize("source, status, end_days_ahead, active", [
    ("MedicationRequest/d", "completed", 10, True), ("MedicationRequest/d", "completed", -1, False),
    ("MedicationRequest/d", "stopped", 10, False), ("MedicationStatement/d", "completed", 10, False)])
def test_completed_prescription_whose_supply_covers_the_order_date_is_active(source, status, end_days_ahead, active):
    diazepam = exposure("diazepam", "benzodiazepine", start=days_ago(20), end=days_ago(-end_days_ahead), status=status,
                        roles=("cns-depressant",), source=source)
    finding = interaction_finding("esketamine", patient(medications=(diazepam,)), TODAY, frozenset())
    assert (finding is not None) is active


@pytest.mark.parametrize("drug, noted", [("ketamine", True), ("esketamine", False)])
def test_iv_ketamine_with_a_benzodiazepine_notes_the_blunted_effect(drug, noted):
    diazepam = (exposure("diazepam", "benzodiazepine", status="active", roles=("cns-depressant",)),)
    finding = interaction_finding(drug, patient(medications=diazepam), TODAY, frozenset())
    assert ("blunt" in finding.detail) is noted


def test_bipolar_card_says_which_mood_stabilizer_is_active():
    lithium = exposure("lithium", "mood stabilizer", status="active", roles=("augmentation", "mood-stabilizer"))
    bipolar = (condition("bipolar", "remission"),)
    [with_lithium] = condition_findings(patient(conditions=bipolar, medications=(lithium,)), TODAY, frozenset())
    assert with_lithium.summary.endswith("mood stabilizer active: lithium")
    [without] = condition_findings(patient(conditions=bipolar), TODAY, frozenset())
    assert without.summary.endswith("no mood stabilizer active") and "valproate" in without.detail
