"""Condition and AllergyIntolerance dicts → ConditionRecord and AllergyRecord (decision-rules §3, §7).

Conditions whose verificationStatus is entered-in-error or refuted are ignored. Every other
Condition is kept, with the categories of data/conditions.csv (empty when none applies).
"""
from __future__ import annotations

from .medications import ingredient_of
from .reading import as_dict, as_list, codings, display_of, first_code, parse_date, source
from .records import AllergyRecord, ConditionRecord
from .terminology import ICD10CM, SNOMED, condition_categories

NOT_TRUE = frozenset({"entered-in-error", "refuted"})  # FHIR R4 condition-ver-status / allergyintolerance-verification


def condition_record(resource: dict) -> ConditionRecord | None:
    """The record, or None when the condition was entered in error or refuted."""
    resource = as_dict(resource)
    if first_code(resource.get("verificationStatus")) in NOT_TRUE:
        return None
    concept = as_dict(resource.get("code"))
    coded = [(system, code, condition_categories(system, code)) for system, code in codings(concept)]
    system, code, _ = next((item for item in coded if item[2]), coded[0] if coded else (None, None, None))
    onset = resource.get("onsetDateTime") or as_dict(resource.get("onsetPeriod")).get("start")
    return ConditionRecord(
        source=source(resource), system=system, code=code, display=display_of(concept),
        categories=frozenset().union(*(categories for _, _, categories in coded)),
        clinical_status=first_code(resource.get("clinicalStatus")), onset=parse_date(onset))


def uncoded_problem(resource: dict) -> str | None:
    """A problem string when a Condition has no ICD-10-CM or SNOMED CT coding the tables can read."""
    if any(system in (ICD10CM, SNOMED) for system, _ in codings(resource.get("code"))):
        return None
    name = display_of(resource.get("code")) or "no text"
    return f"{source(resource)}: no ICD-10-CM or SNOMED CT code ({name})"


def allergy_record(resource: dict) -> AllergyRecord:
    """Substance from ``code`` or ``reaction[].substance``; active unless resolved/inactive or not true."""
    resource = as_dict(resource)
    concepts = [resource.get("code")] + [as_dict(r).get("substance") for r in as_list(resource.get("reaction"))]
    found = next((ingredient for ingredient in map(ingredient_of, concepts) if ingredient), None)
    clinical = first_code(resource.get("clinicalStatus"))
    return AllergyRecord(
        source=source(resource), substance=found.name if found else None,
        display=next((display_of(c) for c in concepts if display_of(c)), ""),
        active=clinical in (None, "active")
        and first_code(resource.get("verificationStatus")) not in NOT_TRUE)
