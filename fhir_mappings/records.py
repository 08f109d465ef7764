"""Plain domain records that the clinical rules read.

FHIR JSON goes in through the extractors of this package; these frozen dataclasses come out.
Nothing here knows about HTTP or Flask. A record that could not be fully interpreted is kept,
with the reason in ``unknown`` (decision-rules.md §2.7: unknowns are reported, never dropped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class MedicationExposure:
    """One MedicationStatement or MedicationRequest about a drug the rules care about."""

    source: str  # "MedicationStatement/123"
    ingredient: str | None  # lower-case ingredient name, e.g. "sertraline"
    rxcui: str | None  # RxNorm ingredient code
    mechanism_class: str | None  # e.g. "SSRI"; see fhir_mappings/data/medications.csv
    roles: frozenset[str]  # "antidepressant", "augmentation", "cns-depressant", "psychostimulant", "maoi", ...
    status: str
    start: date | None
    end: date | None  # None while still active
    daily_dose_mg: float | None
    unknown: tuple[str, ...] = ()  # e.g. ("dose: unit 'puff' not convertible",)
    # An unidentified medicine's identity across records: its unresolved reference or its unknown
    # codes ("Medication/x"); None when the record has neither (decision-rules §2.9 v2).
    unidentified_as: str | None = None


@dataclass(frozen=True, slots=True)
class ScaleScore:
    instrument: str  # "PHQ-9", "MADRS", "HAM-D"
    value: float
    when: date
    source: str


@dataclass(frozen=True, slots=True)
class Measurement:
    """A vital sign or body measurement; ``kind`` is systolic|diastolic|weight|height|bmi."""

    kind: str
    value: float  # normalised unit: mmHg, kg, cm, kg/m2
    when: date
    source: str


@dataclass(frozen=True, slots=True)
class ConditionRecord:
    source: str
    system: str | None
    code: str | None
    display: str
    categories: frozenset[str]  # e.g. "aneurysm", "bipolar", "pregnancy"; data/conditions.csv
    clinical_status: str | None  # active | recurrence | relapse | inactive | remission | resolved
    onset: date | None


@dataclass(frozen=True, slots=True)
class AllergyRecord:
    source: str
    substance: str | None  # ingredient name when recognised ("ketamine", "esketamine")
    display: str
    active: bool


@dataclass(frozen=True, slots=True)
class OrderedMedication:
    """A draft MedicationRequest from ``context.draftOrders`` after scope detection."""

    order_ref: str  # "MedicationRequest/abc"
    drug: str | None  # "esketamine" | "ketamine" | None (out of scope or unresolved)
    display: str
    medication_reference: str | None = None  # "Medication/x" still to be read from the FHIR server
    route: str | None = None  # "intravenous", "nasal", "oral", ... (None when not given)
    dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    dose_count: float | None = None  # tablets/devices/kits when the dose is not a mass (see dose_mg)
    per_week: float | None = None  # administrations per week when the timing says so
    infusion_minutes: float | None = None
    performer: str | None = None  # "Organization/x" or "Location/x" reference
    authored: date | None = None
    # Why a dose that was given could not be read (unit not convertible, value not a finite
    # number, ...); None when the dose was read or when no dose was given at all.
    dose_unknown: str | None = None


@dataclass(frozen=True, slots=True)
class Administration:
    """A completed MedicationAdministration of esketamine or ketamine: one session (decision-rules §9)."""

    source: str  # "MedicationAdministration/123"
    drug: str  # "esketamine" | "ketamine"
    when: date
    dose_mg: float | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    patient_id: str
    birth_date: date | None = None
    identifier_systems: frozenset[str] = frozenset()
    encounter_class: str | None = None  # v3 ActCode: AMB, IMP, EMER, ...
    encounter_location: str | None = None
    medications: tuple[MedicationExposure, ...] = ()
    scores: tuple[ScaleScore, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()
    allergies: tuple[AllergyRecord, ...] = ()
    administrations: tuple[Administration, ...] = ()  # sorted by date
    uninterpretable: tuple[str, ...] = field(default=())  # "Observation/9: no date" etc.
