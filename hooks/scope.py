"""Which ordered medications the service advises on (decision-rules.md §1)."""
from __future__ import annotations

from typing import Sequence

from fhir_mappings.records import OrderedMedication

IN_SCOPE_DRUGS = frozenset({"esketamine", "ketamine"})


def in_scope(orders: Sequence[OrderedMedication]) -> list[OrderedMedication]:
    """The orders whose drug was classified as esketamine or ketamine, in their original order."""
    return [order for order in orders if order.drug in IN_SCOPE_DRUGS]
