"""FHIR R4 JSON dicts in, plain domain records (``records.py``) out; tables in ``data/``."""
from .conditions import allergy_record, condition_record
from .medications import medication_exposure
from .observations import observation_records
from .orders import ordered_medications, resolve_order
from .patient import build_patient_record, bundle_resources
from .terminology import Ingredient, ingredient

__all__ = [
    "Ingredient", "allergy_record", "build_patient_record", "bundle_resources", "condition_record",
    "ingredient", "medication_exposure", "observation_records", "ordered_medications", "resolve_order",
]
