"""Clinical rules and card builders of trd-cds: pure functions over fhir_mappings records."""
from hooks.engine import advise
from hooks.policy import Policy
from hooks.scope import in_scope

__all__ = ["Policy", "advise", "in_scope"]
