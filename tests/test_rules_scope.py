"""hooks/scope.py: which ordered medications are advised on (decision-rules.md §1)."""
from __future__ import annotations

import fhir_mappings.orders
import hooks.scope
from test_rules_records import order


def test_one_definition_of_the_in_scope_drugs():
    assert hooks.scope.IN_SCOPE_DRUGS is fhir_mappings.orders.IN_SCOPE_DRUGS


def test_in_scope_keeps_esketamine_and_ketamine_in_order():
    orders = [order("ketamine"), order(None), order("esketamine")]
    assert [o.drug for o in hooks.scope.in_scope(orders)] == ["ketamine", "esketamine"]
