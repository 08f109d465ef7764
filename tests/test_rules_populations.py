"""decision-rules.md §7 (v2) special populations: pediatric, lactation, hepatic impairment (hooks/populations.py)."""
from __future__ import annotations

import pytest

from hooks.policy import Policy
from hooks.populations import hepatic_finding, lactation_finding, pediatric_finding, young_adult_note
from test_rules_records import TODAY, condition, days_ago, order, patient

POLICY = Policy()


@pytest.mark.parametrize("drug", ["esketamine", "ketamine"])
def test_under_18_on_the_order_date_is_a_pediatric_warning(drug):
    finding = pediatric_finding(order(drug), patient(birth_date=TODAY.replace(year=TODAY.year - 18) + (TODAY - days_ago(1))),
                                POLICY, TODAY, frozenset())
    assert (finding.topic, finding.indicator) == ("pediatric", "warning")  # 18 tomorrow: still 17 today
    assert "aged 17" in finding.summary
    assert ("not approved in pediatric patients" in finding.detail) is (drug == "esketamine")
    assert pediatric_finding(order(drug), patient(birth_date=TODAY.replace(year=TODAY.year - 18)),
                             POLICY, TODAY, frozenset()) is None  # 18 today


def test_no_age_verdict_without_the_patient_or_a_birth_date():
    child = patient(birth_date=TODAY.replace(year=TODAY.year - 12))
    assert pediatric_finding(order(), child, POLICY, TODAY, frozenset({"patient"})) is None
    assert pediatric_finding(order(), patient(birth_date=None), POLICY, TODAY, frozenset()) is None


@pytest.mark.parametrize("years, noted", [(17, False), (18, True), (24, True), (25, False)])
def test_young_adults_get_the_class_warning_on_suicidal_thoughts(years, noted):
    note = young_adult_note(patient(birth_date=TODAY.replace(year=TODAY.year - years)), POLICY, TODAY)
    assert (note is not None) is noted
    if noted:
        assert "suicidal thoughts" in note and f"aged {years}" in note


@pytest.mark.parametrize("drug, indicator", [("esketamine", "warning"), ("ketamine", "info")])
def test_breastfeeding_is_a_warning_for_esketamine_and_info_for_ketamine(drug, indicator):
    nursing = patient(conditions=(condition("lactation"),))
    finding = lactation_finding(order(drug), nursing, frozenset())
    assert (finding.topic, finding.indicator) == ("lactation", indicator)
    assert lactation_finding(order(drug), patient(conditions=(condition("lactation", "resolved"),)), frozenset()) is None
    assert lactation_finding(order(drug), nursing, frozenset({"conditions", "breastfeeding"})) is None


@pytest.mark.parametrize("categories, esketamine, ketamine", [
    (("hepatic-failure",), "warning", "info"),
    (("cirrhosis", "hepatic-decompensation"), "warning", "info"),
    (("cirrhosis",), "info", "info"),
    (("hepatic-decompensation",), None, None),  # ascites without cirrhosis is not graded here
    ((), None, None),
])
def test_hepatic_impairment_grades(categories, esketamine, ketamine):
    the_patient = patient(conditions=tuple(condition(c) for c in categories))
    for drug, expected in (("esketamine", esketamine), ("ketamine", ketamine)):
        finding = hepatic_finding(order(drug), the_patient, frozenset())
        assert (finding.indicator if finding else None) == expected, drug
        if finding:
            assert finding.topic == "hepatic-impairment" and "8.6" in finding.detail


def test_resolved_or_unread_hepatic_conditions_give_nothing():
    assert hepatic_finding(order(), patient(conditions=(condition("hepatic-failure", "resolved"),)), frozenset()) is None
    assert hepatic_finding(order(), patient(conditions=(condition("hepatic-failure"),)), frozenset({"conditions"})) is None
