"""decision-rules.md §9 esketamine treatment course and §7 (v2) duplicate therapy (hooks/course.py)."""
from __future__ import annotations

import pytest

from fhir_mappings.records import Administration
from hooks.course import course_finding, current_course, duplicate_finding, sessions, starts_course
from hooks.policy import Policy
from test_rules_records import TODAY, days_ago, exposure, order, patient, score

POLICY = Policy()


def given(*days, drug="esketamine"):
    return tuple(Administration(f"MedicationAdministration/{drug}-{d}", drug, days_ago(d), 56.0) for d in days)


def course_card(days, scores=()):
    return course_finding(order(), patient(administrations=given(*days), scores=tuple(scores)), POLICY, TODAY)


def test_sessions_come_from_administrations_and_fall_back_to_order_history():
    history = (exposure("esketamine", "NMDA receptor antagonist", start=days_ago(8), end=days_ago(8),
                        roles=("nmda-antagonist",)),
               exposure("esketamine", "NMDA receptor antagonist", start=days_ago(3), status="cancelled",
                        roles=("nmda-antagonist",)))
    assert sessions(patient(medications=history), "esketamine", TODAY) == (days_ago(8),)
    both = patient(medications=history, administrations=given(10, 10, 4))  # same day counts once
    assert sessions(both, "esketamine", TODAY) == (days_ago(10), days_ago(4))
    assert sessions(both, "esketamine", days_ago(5)) == (days_ago(10),)  # none after the order date


@pytest.mark.parametrize("days, start", [((60, 40, 20, 3), 60), ((90, 50, 20, 3), 20), ((90, 29), None),
                                         ((90, 28), 28), ((), None)])
def test_a_course_is_the_run_without_a_gap_over_28_days_that_reaches_the_order(days, start):
    course = current_course(tuple(sorted(days_ago(d) for d in days)), TODAY, POLICY)
    assert (course.start if course else None) == (days_ago(start) if start is not None else None)


def test_first_session_is_never_concluded_from_administrations_not_read():
    assert starts_course(patient(), TODAY, POLICY, frozenset()) is True
    assert starts_course(patient(administrations=given(20)), TODAY, POLICY, frozenset()) is False
    assert starts_course(patient(), TODAY, POLICY, frozenset({"medicationAdministrations"})) is False


def test_in_step_induction_session_gives_no_card():
    assert course_card((10, 7, 3)) is None


def test_third_session_within_7_days_in_induction_is_a_warning_naming_the_phase():
    finding = course_card((6, 3))
    assert (finding.topic, finding.indicator) == ("treatment-course", "warning")
    assert "session 3 within 7 days in week 1, induction" in finding.summary


def test_second_session_within_7_days_from_week_5_is_a_warning():
    finding = course_card((38, 35, 31, 28, 24, 21, 17, 14, 10, 3),
                          [score(30, days_ago(40)), score(15, days_ago(5))])
    assert finding.indicator == "warning" and "maintenance (weeks 5-8)" in finding.summary
    assert "+1 more" in finding.summary and "benefit documented after induction" in finding.detail.lower()


@pytest.mark.parametrize("later, indicator", [(24, "warning"), (23, "info")])  # 30 → 23 is 23 %, → 22.5 is 25 %
def test_after_induction_benefit_is_checked_against_the_course_baseline(later, indicator):
    value = 22.5 if later == 23 else later
    finding = course_card((45, 42, 38, 35, 31, 28, 24, 21, 14), [score(30, days_ago(47)), score(value, days_ago(10))])
    assert (finding.topic, finding.indicator) == ("treatment-course", indicator)
    if indicator == "warning":
        assert "evaluate therapeutic benefit before continuing" in finding.summary
    else:
        assert "30 on" in finding.summary and "22.5" in finding.summary and "-25%" in finding.summary


def test_without_a_course_baseline_continuation_is_a_warning():
    finding = course_card((45, 38, 31, 24, 14), [score(12, days_ago(10))])
    assert finding.indicator == "warning" and "no baseline score" in finding.detail.lower()


def test_ketamine_orders_get_no_course_card():
    assert course_finding(order("ketamine"), patient(administrations=given(6, 3)), POLICY, TODAY) is None


@pytest.mark.parametrize("last, expected", [(14, "warning"), (15, None)])
def test_ketamine_order_during_an_active_esketamine_course_is_duplicate_therapy(last, expected):
    the_order = order("ketamine")
    finding = duplicate_finding(the_order, [the_order], patient(administrations=given(20, last)), POLICY, TODAY)
    assert (finding.indicator if finding else None) == expected


def test_esketamine_order_during_a_ketamine_course_and_two_orders_of_one_drug():
    first, second = order(order_ref="MedicationRequest/a"), order(order_ref="MedicationRequest/b", dose_mg=84.0)
    ketamine = patient(administrations=given(4, drug="ketamine"))
    finding = duplicate_finding(first, [first, second], ketamine, POLICY, TODAY)
    assert "during an active IV ketamine course" in finding.summary and "(+1 more)" in finding.summary
    assert duplicate_finding(first, [first, order("ketamine", order_ref="MedicationRequest/k")], patient(),
                             POLICY, TODAY) is None  # §7: same drug only
