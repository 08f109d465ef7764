"""hooks/policy.py: defaults with sources, JSON overrides, describe()."""
from __future__ import annotations

import json
from dataclasses import fields

import pytest

from hooks.policy import Policy


def test_defaults_follow_the_decision_rules():
    policy = Policy()
    assert (policy.min_trials, policy.trial_gap_days, policy.lookback_days, policy.min_trial_days) == (2, 14, 730, 28)
    assert (policy.bp_systolic, policy.bp_diastolic, policy.ketamine_mg_per_kg_warning,
            policy.ketamine_mg_per_kg_critical) == (140, 90, 0.5, 1.0)
    assert policy.rems_exempt_encounter_classes == ("IMP", "EMER", "ACUTE", "NONAC")  # NONAC: inpatient non-acute
    assert policy.esketamine_first_dose_mg == 56


def test_every_threshold_names_its_source():
    missing = [f.name for f in fields(Policy) if not f.metadata.get("source")]
    assert missing == []


def test_from_mapping_overrides_and_coerces_lists():
    policy = Policy.from_mapping({"lookback_days": 365, "bp_systolic": 150,
                                  "rems_certified_settings": ["Location/a"]})
    assert (policy.lookback_days, policy.bp_systolic, policy.rems_certified_settings) == (365, 150.0, ("Location/a",))


def test_unknown_keys_are_rejected_by_name():
    with pytest.raises(ValueError, match="unknown policy key\\(s\\): lookback_dayz"):
        Policy.from_mapping({"lookback_dayz": 10})


@pytest.mark.parametrize("values", [{"min_trials": 2.5}, {"require_distinct_classes": "yes"},
                                    {"bp_systolic": -1}, {"rems_certified_settings": "Location/a"},
                                    {"version": ""}])
def test_wrong_types_are_rejected(values):
    with pytest.raises(ValueError):
        Policy.from_mapping(values)


def test_load_reads_a_json_file(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": "site-1", "count_augmentation": True}))
    policy = Policy.load(path)
    assert (policy.version, policy.count_augmentation) == ("site-1", True)


def test_load_rejects_a_non_object(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        Policy.load(path)


def test_describe_names_the_version_and_the_thresholds_in_use():
    text = Policy.from_mapping({"version": "v9", "bp_systolic": 150}).describe()
    assert "v9" in text and "150/90 mmHg" in text and "0.5 mg/kg" in text


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_float_thresholds_must_be_finite_and_positive(value):
    with pytest.raises(ValueError, match="esketamine_device_mg must be a number greater than 0"):
        Policy.from_mapping({"esketamine_device_mg": value})
