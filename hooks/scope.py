"""Which ordered medications the service advises on (decision-rules.md §1)."""
from __future__ import annotations

from typing import Sequence

from fhir_mappings.orders import IN_SCOPE_DRUGS  # one definition: the mapping classifies with it
from fhir_mappings.records import OrderedMedication

__all__ = ["IN_SCOPE_DRUGS", "in_scope"]


def in_scope(orders: Sequence[OrderedMedication]) -> list[OrderedMedication]:
    """The orders whose drug was classified as esketamine or ketamine, in their original order."""
    return [order for order in orders if order.drug in IN_SCOPE_DRUGS]
