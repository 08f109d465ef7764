"""MedicationAdministration dicts → Administration records: esketamine / ketamine sessions (decision-rules §9).

Only ``completed`` administrations are sessions (FHIR R4 medication-admin-status); in-progress,
not-done, on-hold, stopped, entered-in-error and unknown ones are not. Administrations of other
medicines are of no interest here. A completed session without a readable date is a problem string.
"""
from __future__ import annotations

from typing import Mapping

from .dosage import mass_mg
from .medications import ingredient_of, medication_concept
from .orders import IN_SCOPE_DRUGS
from .reading import as_dict, parse_date, source, text
from .records import Administration


def administration_record(resource: dict, known: Mapping[str, dict] | None = None
                          ) -> tuple[Administration | None, str | None]:
    """The session of a completed esketamine/ketamine administration, or the problem (or neither)."""
    resource = as_dict(resource)
    if text(resource.get("status")) != "completed":
        return None, None
    concept, _ = medication_concept(resource, known)
    found = ingredient_of(concept)
    if found is None or found.name not in IN_SCOPE_DRUGS:
        return None, None
    raw = resource.get("effectiveDateTime") or as_dict(resource.get("effectivePeriod")).get("start")
    when = parse_date(raw)
    if when is None:
        return None, f"{source(resource)}: {found.name} administration without a readable date"
    dose = mass_mg(as_dict(resource.get("dosage")).get("dose"))
    return Administration(source=source(resource), drug=found.name, when=when, dose_mg=dose), None
