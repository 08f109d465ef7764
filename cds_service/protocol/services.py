"""The CDS services this server offers: one registry drives discovery and dispatch.

Prefetch templates keep to the CDS Hooks 2.0 recommended query subset (reference search
parameters, token equality, ``_count``, ``_sort``; no ``_include``: clients may drop such
templates) so HAPI FHIR accepts them. Medications that history references are taken from the
prefetch when the EHR includes them, else read (decision-rules §8 v2). Codes are plain
``system|code`` tokens, never a setting's annotations.
"""
from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
# LOINC codes verified in ../shared/clinical/reference.md §5.2 (FHIR vital-signs value set).
BLOOD_PRESSURE_CODES = ("85354-9", "8480-6", "8462-4")
BODY_MEASUREMENT_CODES = ("29463-7", "8302-2", "39156-5")
# PHQ-9 total 44261-6 is verified; MADRS and HAM-D have no verified LOINC code, so local codes.
DEFAULT_SCALE_CODES = (f"{LOINC}|44261-6", "urn:trd-cds:scale|madrs-total",
                       "urn:trd-cds:scale|hamd17-total")

REQUIRED_KEYS = ("medicationStatements", "medicationRequests", "depressionScores")
# Latest-value data: the newest page (``_sort=-date``) is enough, older pages are never read (§8 v2).
LATEST_VALUE_KEYS = frozenset({"bloodPressure", "weight", "surveys"})

CDS_HOOKS_VERSION = "2.0.1"


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


_DESCRIPTION = (
    "Advises when intravenous ketamine or intranasal esketamine (Spravato) is {when}: "
    "treatment-resistant depression criteria with the evidence per antidepressant trial, "
    "Spravato REMS prerequisites, labeled contraindications, blood pressure, dose per kg and "
    "label dosing, and interacting medicines. Orders of other drugs get no cards."
)

SERVICES = {
    service.id: service
    for service in (
        Service("ketamine-esketamine-order-select", "order-select",
                "Ketamine / esketamine order advice (order-select)",
                _DESCRIPTION.format(when="selected")),
        Service("ketamine-esketamine-order-sign", "order-sign",
                "Ketamine / esketamine order advice (order-sign)",
                _DESCRIPTION.format(when="signed")),
    )
}


def _observations(codes: tuple[str, ...], count: int) -> str:
    joined = ",".join(codes)
    return f"Observation?patient={{{{context.patientId}}}}&code={joined}&_sort=-date&_count={count}"


def scale_tokens(scale_codes: tuple[str, ...]) -> tuple[str, ...]:
    """``system|code`` of each ``TRD_CDS_SCALE_CODES`` entry ("http://site|MADRS-TOT=MADRS")."""
    return tuple(entry.rsplit("=", 1)[0] for entry in scale_codes)


def prefetch_templates(scale_codes: tuple[str, ...] = (), page_size: int = 100, surveys: bool = True) -> dict[str, str]:
    """The prefetch templates every service advertises (see docs/architecture.md).

    ``surveys`` (on by default): the newest page of survey Observations (US Core
    ``category=survey``), whose depression scores the TRD rule reads by their text (§2.9 v2).
    """
    patient = "patient={{context.patientId}}"
    scales = tuple(dict.fromkeys(DEFAULT_SCALE_CODES + scale_tokens(scale_codes)))
    templates = {
        "patient": "Patient/{{context.patientId}}",
        "encounter": "Encounter/{{context.encounterId}}",
        "medicationStatements": f"MedicationStatement?{patient}&_count={page_size}",
        "medicationRequests": f"MedicationRequest?{patient}&_count={page_size}",
        "depressionScores": _observations(scales, page_size),
        "bloodPressure": _observations(tuple(f"{LOINC}|{c}" for c in BLOOD_PRESSURE_CODES), 20),
        "weight": _observations(tuple(f"{LOINC}|{c}" for c in BODY_MEASUREMENT_CODES), 20),
        "conditions": f"Condition?{patient}&_count={page_size}",
        "allergies": f"AllergyIntolerance?{patient}&_count={page_size}",
    }
    if surveys:
        templates["surveys"] = f"Observation?{patient}&category=survey&_sort=-date&_count={page_size}"
    return templates


def configured_templates(settings) -> dict[str, str]:
    """``prefetch_templates`` for the service's ``Settings`` (scale codes, page size, surveys)."""
    return prefetch_templates(settings.scale_codes, settings.fhir_page_size, settings.surveys == "on")


def discovery_document(usage_requirements: str, templates: dict[str, str]) -> dict:
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": service.description,
                "id": service.id,
                "prefetch": templates,
                "usageRequirements": usage_requirements,
                "version": CDS_HOOKS_VERSION,
            }
            for service in SERVICES.values()
        ]
    }
