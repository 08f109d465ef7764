"""decision-rules.md §2: trials, adequacy, non-response and the C/P decision."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from hooks.policy import Policy
from hooks.trd import FAILED, INSUFFICIENT, MET, NOT_COUNTED, NOT_FAILED, NOT_MET, UNKNOWN, evaluate_trd
from test_rules_records import TODAY, days_ago, exposure, score, trial, trials

POLICY = Policy()
START = days_ago(300)


def evaluate(exposures, scores, policy=POLICY, **kwargs):
    return evaluate_trd(exposures, scores, TODAY, policy, **kwargs)


def single(record, scores, policy=POLICY):
    [row] = evaluate([record], scores, policy).trials
    return row


def test_two_failed_trials_of_distinct_classes_meet_the_criteria():
    result = evaluate(*trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", "NDRI", days_ago(200))))
    assert result.verdict == MET
    assert (result.confirmed, result.possible) == (2, 0)
    assert result.failed_ingredients == ("sertraline", "bupropion")


@pytest.mark.parametrize("followup, verdict", [(15.0, NOT_FAILED), (15.02, FAILED), (10.0, NOT_FAILED)])
def test_exactly_25_percent_improvement_is_not_a_failure_but_24_9_percent_is(followup, verdict):
    assert single(*trial("sertraline", "SSRI", START, baseline=20.0, followup=followup)).verdict == verdict


@pytest.mark.parametrize("days, verdict", [(27, NOT_FAILED), (28, FAILED)])
def test_a_trial_needs_28_days(days, verdict):
    record, _ = trial("sertraline", "SSRI", START, days=days)
    scores = [score(20, START), score(18, START + timedelta(days=28))]
    row = single(record, scores)
    assert row.verdict == verdict
    assert row.days == days


@pytest.mark.parametrize("dose, verdict", [(49.0, NOT_FAILED), (50.0, FAILED)])
def test_sertraline_needs_50_mg_a_day(dose, verdict):
    row = single(*trial("sertraline", "SSRI", START, dose=dose))
    assert row.verdict == verdict
    assert (row.max_daily_dose_mg, row.min_daily_dose_mg) == (dose, 50.0)


@pytest.mark.parametrize("gap, count", [(14, 1), (15, 2)])
def test_same_ingredient_records_merge_when_the_gap_is_at_most_14_days(gap, count):
    first = exposure(start=START, end=START + timedelta(days=20))
    second = exposure(start=START + timedelta(days=20 + gap), end=START + timedelta(days=60))
    result = evaluate([second, first], [])
    assert len(result.trials) == count
    assert result.trials[0].start == START


@pytest.mark.parametrize("ended_days_ago, kept", [(730, True), (731, False)])
def test_trials_that_ended_more_than_730_days_before_the_order_are_ignored(ended_days_ago, kept):
    end = days_ago(ended_days_ago)
    result = evaluate([exposure(start=end - timedelta(days=60), end=end)], [])
    assert bool(result.trials) is kept


def test_an_active_record_runs_until_the_order_date():
    row = single(exposure(start=days_ago(40), end=None, status="active"), [])
    assert (row.end, row.ongoing, row.days) == (TODAY, True, 40)


def test_a_finished_record_without_an_end_date_leaves_the_duration_unknown():
    record = replace(exposure(start=START), end=None, unknown=("end: not documented",))
    row = single(record, [score(20, START)])
    assert row.verdict == UNKNOWN
    assert any("end dates (end: not documented)" in item for item in row.unknown)


def test_baseline_and_follow_up_windows_are_inclusive():
    record, _ = trial("sertraline", "SSRI", START, days=56)
    end = START + timedelta(days=56)
    inside = [score(20, START - timedelta(days=30)), score(18, end + timedelta(days=14))]
    outside = [score(20, START - timedelta(days=31)), score(18, end + timedelta(days=15))]
    assert single(record, inside).verdict == FAILED
    assert single(record, outside).verdict == UNKNOWN


def test_baseline_and_follow_up_must_use_the_same_instrument():
    record, _ = trial("sertraline", "SSRI", START)
    scores = [score(30, START, "MADRS"), score(25, START + timedelta(days=56), "PHQ-9")]
    row = single(record, scores)
    assert row.verdict == UNKNOWN
    assert row.scores is None


def test_two_failed_trials_of_the_same_class_do_not_meet_the_criteria():
    result = evaluate(*trials(("sertraline", "SSRI", days_ago(400)), ("escitalopram", "SSRI", days_ago(200))))
    assert result.verdict == NOT_MET
    assert (result.confirmed, result.possible) == (1, 0)


def test_same_class_failures_count_twice_when_distinct_classes_are_not_required():
    policy = replace(POLICY, require_distinct_classes=False)
    result = evaluate(*trials(("sertraline", "SSRI", days_ago(400)), ("escitalopram", "SSRI", days_ago(200))),
                      policy=policy)
    assert result.verdict == MET


def test_a_repeated_trial_of_one_drug_counts_once_without_the_class_rule():
    policy = replace(POLICY, require_distinct_classes=False)
    result = evaluate(*trials(("sertraline", "SSRI", days_ago(500)), ("sertraline", "SSRI", days_ago(200))),
                      policy=policy)
    assert (result.verdict, result.confirmed) == (NOT_MET, 1)


def test_one_failure_plus_one_trial_of_another_class_with_unknown_dose_is_insufficient_data():
    exposures, scores = trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", "NDRI", days_ago(200)))
    exposures = (exposures[0], replace(exposures[1], daily_dose_mg=None, unknown=("dose: unit 'puff'",)))
    result = evaluate(exposures, scores)
    assert (result.verdict, result.confirmed, result.possible) == (INSUFFICIENT, 1, 1)
    assert result.trials[1].unknown == ("the daily dose (dose: unit 'puff')",)


def test_an_unknown_trial_of_an_already_failed_class_cannot_make_it_possible():
    exposures, scores = trials(("sertraline", "SSRI", days_ago(400)), ("escitalopram", "SSRI", days_ago(200)))
    exposures = (exposures[0], replace(exposures[1], daily_dose_mg=None))
    result = evaluate(exposures, scores)
    assert (result.verdict, result.confirmed, result.possible) == (NOT_MET, 1, 0)


def test_an_unknown_mechanism_class_is_an_unknown_when_classes_must_differ():
    exposures, scores = trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", None, days_ago(200)))
    result = evaluate(exposures, scores)
    assert (result.verdict, result.confirmed, result.possible) == (INSUFFICIENT, 1, 1)
    assert "the mechanism class of bupropion (terminology table)" in result.trials[1].unknown


def test_augmentation_agents_are_not_counted_by_default():
    exposures, scores = trials(("aripiprazole", "atypical antipsychotic", days_ago(400)),
                               ("lithium", "mood stabilizer", days_ago(200)))
    exposures = tuple(replace(e, roles=frozenset({"augmentation"})) for e in exposures)
    result = evaluate(exposures, scores)
    assert result.verdict == NOT_MET
    assert [t.verdict for t in result.trials] == [NOT_COUNTED, NOT_COUNTED]
    counted = evaluate(exposures, scores, replace(POLICY, count_augmentation=True))
    assert counted.verdict == INSUFFICIENT  # no minimum dose is configured for augmentation agents


def test_the_minimum_dose_lookup_can_be_replaced():
    record, scores = trial("sertraline", "SSRI", START, dose=100.0)
    result = evaluate([record], scores, min_dose_lookup=lambda ingredient: 150.0)
    assert result.trials[0].verdict == NOT_FAILED


def test_unidentified_medicines_are_unknown_trials_that_can_make_p():
    record = replace(exposure(start=START), ingredient=None, mechanism_class=None, roles=frozenset(),
                     unknown=("medication: reference 'Medication/x' not resolved",))
    row = single(record, [])
    assert (row.ingredient, row.verdict) == ("unidentified medication", UNKNOWN)
    assert row.unknown == ("which medicine this is: medication: reference 'Medication/x' not resolved",)
    sertraline, scores = trial("sertraline", "SSRI", days_ago(400))
    result = evaluate([sertraline, record], scores)
    assert (result.verdict, result.confirmed, result.possible) == (INSUFFICIENT, 1, 1)
    assert evaluate([record], []).verdict == NOT_MET  # one unknown cannot reach 2


def test_no_antidepressant_history_is_not_met():
    result = evaluate([exposure("lorazepam", "benzodiazepine", roles=("cns-depressant",))], [])
    assert (result.verdict, result.trials) == (NOT_MET, ())


@pytest.mark.parametrize("status", ["intended", "draft", "entered-in-error", "not-taken", "cancelled"])
def test_ignored_statuses_are_the_extractors_own(status):
    # trd had its own list without "intended" (fhir_mappings.medications ignores it: a plan, like a draft)
    record, pair = trial("sertraline", "SSRI", days_ago(200), baseline=20.0, followup=19.0)
    result = evaluate_trd([replace(record, status=status)], pair, TODAY, Policy())
    assert result.trials == ()


def test_monthly_refills_without_end_dates_are_one_trial_by_their_supply():
    from fhir_mappings.medications import medication_exposure
    refills = [{"resourceType": "MedicationRequest", "id": f"mr{n}", "status": "completed", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": "36437"}], "text": "sertraline 100 MG Oral Tablet"},
                "authoredOn": (START + timedelta(days=30 * n)).isoformat(),
                "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days",
                                                               "system": "http://unitsofmeasure.org", "code": "d"}},
                "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                       "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg"}}]}]}
               for n in range(3)]
    [row] = evaluate([medication_exposure(r) for r in refills], [score(20, START), score(19, START + timedelta(days=80))]).trials
    assert (row.start, row.end, row.days, row.verdict) == (START, START + timedelta(days=90), 90, FAILED)


def test_a_window_to_document_never_ends_before_it_starts():
    record = replace(exposure(start=START), end=None, unknown=("end: not documented",))
    [row] = evaluate([record], []).trials
    assert row.verdict == UNKNOWN
    windows = [part for note in row.unknown for part in note.split("(")[1:]]
    for window in windows:
        if " to " in window:
            first, last = window.split(")")[0].split(" to ")[:2]
            assert first[:10] <= last[:10]
    assert any("and the trial's end date" in note for note in row.unknown)


def test_prior_esketamine_courses_are_rows_never_trials():
    sessions = [exposure("esketamine", "NMDA receptor antagonist", start=days_ago(d), end=days_ago(d),
                         roles=("nmda-antagonist",), dose=56.0) for d in (200, 196, 193, 189, 100)]
    sertraline, scores = trial("sertraline", "SSRI", days_ago(400))
    result = evaluate([sertraline, *sessions], scores)
    courses = [t for t in result.trials if t.ingredient == "prior esketamine course"]
    assert [(c.start, c.end, c.sessions, c.verdict) for c in courses] == [
        (days_ago(200), days_ago(189), 4, NOT_COUNTED), (days_ago(100), days_ago(100), 1, NOT_COUNTED)]
    assert (result.verdict, result.confirmed, result.possible) == (NOT_MET, 1, 0)


def test_a_note_shared_by_the_records_of_one_trial_is_named_once():
    note = "dose: 1 dose units but no strength in 'Brand X'"
    records = [exposure(start=START, end=START + timedelta(days=56), dose=None, unknown=(note,), source=f"M/{n}")
               for n in (1, 2)]
    [row] = evaluate(records, []).trials
    assert row.unknown[0] == f"the daily dose ({note})"


def test_records_of_one_unresolved_reference_are_one_unknown_trial():
    def unresolved(ref, start, end=None):
        record = exposure(ingredient=None, mechanism_class=None, start=start, end=end, roles=(),
                          unknown=(f"medication: reference {ref!r} not resolved",), source=f"M/{ref}-{start}")
        return replace(record, unidentified_as=ref)
    statement, request = unresolved("Medication/nope", START), unresolved("Medication/nope", START + timedelta(days=3))
    failed_low_dose = trial("sertraline", "SSRI", days_ago(500), dose=25.0)
    result = evaluate([statement, request, failed_low_dose[0]], failed_low_dose[1])
    assert [t.ingredient for t in result.trials] == ["sertraline", "unidentified medication"]
    assert (result.verdict, result.possible) == (NOT_MET, 1)
    other = unresolved("Medication/other", START)
    assert evaluate([statement, other], []).possible == 2  # two references: possibly two medicines
    anonymous = [replace(r, unidentified_as=None) for r in (statement, request)]
    assert evaluate(anonymous, []).possible == 2  # nothing says they are one medicine


def test_to_document_names_only_the_missing_score_and_no_follow_up_after_the_order():
    record = exposure(start=START, status="active")  # ongoing: ends on the order date
    baseline = score(19, START - timedelta(days=3))
    [note] = single(record, [baseline]).unknown
    assert note == (f"a follow-up score on PHQ-9, the baseline's scale "
                    f"({(START + timedelta(days=28)).isoformat()} to {TODAY.isoformat()})")
    [note] = single(record, [score(17, TODAY - timedelta(days=10))]).unknown
    assert note.startswith("a baseline score on PHQ-9, the follow-up's scale (")
    [note] = single(record, [baseline, score(17, TODAY, "MADRS")]).unknown
    assert "a follow-up score on PHQ-9" in note and "a baseline score on MADRS" in note
    [note] = single(record, []).unknown
    assert note.startswith("a baseline score (") and note.endswith(f" to {TODAY.isoformat()})")


def test_the_insufficient_data_summary_names_what_is_actually_missing():
    from hooks.trd_card import trd_finding
    exposures, scores = trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", "NDRI", days_ago(200)))
    unidentified = replace(exposures[1], ingredient=None, mechanism_class=None, roles=frozenset(),
                           unknown=("medication: reference 'Medication/x' not resolved",))
    summary = trd_finding(evaluate((exposures[0], unidentified), scores), "esketamine", POLICY).summary
    assert summary.endswith("failed trials; document missing medication name")
    no_dose = replace(exposures[1], daily_dose_mg=None)
    summary = trd_finding(evaluate((exposures[0], no_dose), scores[:2]), "esketamine", POLICY).summary
    assert summary.endswith("; document missing dose or scores")
    every = (exposures[0], replace(no_dose, mechanism_class=None, end=None, status="unknown"),
             replace(unidentified, source="M/u2"), replace(unidentified, ingredient="made-up", source="M/u3",
                                                          roles=frozenset({"antidepressant"})))
    summary = trd_finding(evaluate(every, scores[:2]), "esketamine", POLICY).summary
    assert len(summary) < 140 and summary.endswith("; document the missing data listed in the detail")
