"""Record factories shared by the tests/test_rules_*.py files (no tests here)."""
from __future__ import annotations

from datetime import date, timedelta

from fhir_mappings.records import (AllergyRecord, ConditionRecord, Measurement, MedicationExposure,
                                   OrderedMedication, PatientRecord, ScaleScore)

TODAY = date(2026, 11, 20)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def exposure(ingredient="sertraline", mechanism_class="SSRI", start=None, end=None, dose=100.0,
             status="completed", roles=("antidepressant",), unknown=(), source=None):
    start = start or days_ago(200)
    end = end if end is not None or status == "active" else start + timedelta(days=56)
    return MedicationExposure(source=source or f"MedicationStatement/{ingredient}-{start}", ingredient=ingredient,
                              rxcui=None, mechanism_class=mechanism_class, roles=frozenset(roles),
                              status=status, start=start, end=end, daily_dose_mg=dose, unknown=tuple(unknown))


def score(value, when, instrument="PHQ-9"):
    return ScaleScore(instrument=instrument, value=value, when=when, source=f"Observation/{instrument}-{when}")


def trial(ingredient, mechanism_class, start, days=56, dose=300.0, baseline=20.0, followup=18.0,
          instrument="PHQ-9"):
    """An exposure with a baseline score on its start date and a follow-up on its end date."""
    end = start + timedelta(days=days)
    return (exposure(ingredient, mechanism_class, start=start, end=end, dose=dose),
            [score(baseline, start, instrument), score(followup, end, instrument)])


def trials(*specs):
    """(exposures, scores) for several ``trial`` argument tuples."""
    exposures, scores = [], []
    for spec in specs:
        record, pair = trial(*spec)
        exposures.append(record)
        scores += pair
    return tuple(exposures), tuple(scores)


def measurement(kind, value, when=None):
    when = when or days_ago(1)
    return Measurement(kind=kind, value=value, when=when, source=f"Observation/{kind}-{when}")


def condition(category, clinical_status="active", display=None):
    return ConditionRecord(source=f"Condition/{(display or category).replace(' ', '-')}", system=None, code=None,
                           display=display or category, categories=frozenset({category}),
                           clinical_status=clinical_status, onset=None)


def allergy(substance="ketamine", active=True):
    return AllergyRecord(source=f"AllergyIntolerance/{substance}", substance=substance,
                         display=f"{substance} allergy", active=active)


def patient(**fields):
    fields.setdefault("birth_date", date(1980, 5, 1))
    return PatientRecord(patient_id="p1", **fields)


def order(drug="esketamine", **fields):
    fields.setdefault("dose_mg", 56.0 if drug == "esketamine" else None)
    fields.setdefault("route", "nasal" if drug == "esketamine" else "intravenous")
    return OrderedMedication(order_ref=fields.pop("order_ref", "MedicationRequest/o1"), drug=drug,
                             display=drug, **fields)
