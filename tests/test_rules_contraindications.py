"""decision-rules.md §3: contraindications, with severity by drug."""
from __future__ import annotations

import pytest

from hooks.contraindications import contraindication_finding
from test_rules_records import allergy, condition, order, patient


@pytest.mark.parametrize("category", ["aneurysm", "avm", "intracerebral-hemorrhage"])
@pytest.mark.parametrize("drug, indicator", [("esketamine", "critical"), ("ketamine", "warning")])
def test_vascular_items_are_critical_for_esketamine_and_warnings_for_ketamine(category, drug, indicator):
    finding = contraindication_finding(order(drug), patient(conditions=(condition(category),)), frozenset())
    assert (finding.topic, finding.indicator) == ("contraindication", indicator)


def test_ketamine_hypersensitivity_is_critical_for_ketamine():
    finding = contraindication_finding(order("ketamine"), patient(allergies=(allergy("ketamine"),)), frozenset())
    assert finding.indicator == "critical"
    assert finding.summary == "Contraindication: hypersensitivity to ketamine"


def test_inactive_allergy_and_unrelated_conditions_are_not_contraindications():
    the_patient = patient(allergies=(allergy("ketamine", active=False),), conditions=(condition("mdd"),))
    assert contraindication_finding(order("esketamine"), the_patient, frozenset()) is None


def test_a_resolved_history_of_hemorrhage_still_shows_with_its_status():
    the_patient = patient(conditions=(condition("intracerebral-hemorrhage", "resolved"),))
    finding = contraindication_finding(order("esketamine"), the_patient, frozenset())
    assert "(resolved;" in finding.detail


def test_unread_conditions_give_no_vascular_verdict_but_allergies_are_still_checked():
    the_patient = patient(conditions=(condition("aneurysm"),), allergies=(allergy("esketamine"),))
    finding = contraindication_finding(order("esketamine"), the_patient, frozenset({"conditions"}))
    assert finding.summary == "Contraindication: hypersensitivity to esketamine"
    assert "aneurysmal vascular disease documented" not in finding.detail
    assert contraindication_finding(order("esketamine"), the_patient, frozenset({"conditions", "allergies"})) is None
