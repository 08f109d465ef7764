"""FHIR resource dicts of one patient → PatientRecord (docs/architecture.md, "One hook call")."""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable, Mapping

from .administrations import administration_record
from .conditions import allergy_record, condition_record, uncoded_problem
from .medications import medication_exposure
from .observations import breastfeeding_record, observation_records
from .reading import as_dict, as_list, first_code, last_possible_date, reference, source, text
from .records import PatientRecord


def bundle_resources(bundle_or_resource: Any) -> list[dict]:
    """The resources of a searchset Bundle (``entry[].resource``), or ``[resource]``.

    Entries with ``search.mode`` "outcome" (an OperationOutcome about the search) are skipped;
    anything that is not a resource gives an empty list.
    """
    data = as_dict(bundle_or_resource)
    if data.get("resourceType") != "Bundle":
        return [data] if data.get("resourceType") else []
    return [as_dict(entry.get("resource")) for entry in map(as_dict, as_list(data.get("entry")))
            if as_dict(entry.get("resource")).get("resourceType")
            and as_dict(entry.get("search")).get("mode") != "outcome"]


def _other_patient(resource: dict, patient_id: str) -> str | None:
    """The reference when a resource's subject/patient is a different Patient, else None."""
    if resource.get("resourceType") == "Patient":
        other = text(resource.get("id"))
        return f"Patient/{other}" if other and other != patient_id else None
    ref = reference(resource.get("subject")) or reference(resource.get("patient")) or ""
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1] != patient_id:
        return ref
    return None


def _by_date(when: date | None, ref: str) -> tuple:
    return (when is None, when or date.min, ref)


def build_patient_record(patient_id: str, resources: Iterable[dict],
                         scale_codes: Mapping[str, str] | None = None) -> PatientRecord:
    """Dispatch each resource on ``resourceType``; duplicates (same Type/id) count once.

    ``scale_codes`` maps "system|code" to an instrument name, extending data/observations.csv.
    Resources about another patient, and observations or conditions that cannot be used, are
    listed in ``uninterpretable``; medication records carry their own ``unknown`` reasons.
    """
    unique: dict[str, dict] = {}
    for index, resource in enumerate(map(as_dict, resources)):
        key = source(resource) if text(resource.get("id")) else f"#{index}"
        unique.setdefault(key, resource)
    known_medications = {key: resource for key, resource in unique.items()
                         if resource.get("resourceType") == "Medication"}
    fields: dict[str, Any] = {"birth_date": None, "identifier_systems": frozenset(),
                              "encounter_class": None, "encounter_location": None}
    medications, scores, measurements, conditions, allergies, problems = [], [], [], [], [], []
    administrations, breastfeeding = [], []
    for resource in unique.values():
        kind = resource.get("resourceType")
        other = _other_patient(resource, patient_id)
        if other:
            problems.append(f"{source(resource)}: belongs to {other}, not Patient/{patient_id}")
        elif kind == "Patient":
            fields["birth_date"] = last_possible_date(resource.get("birthDate"))
            fields["identifier_systems"] = frozenset(
                text(as_dict(item).get("system")) for item in as_list(resource.get("identifier"))
            ) - {""}
        elif kind == "Encounter" and fields["encounter_class"] is None:
            klass = resource.get("class")  # a Coding in R4, a list of CodeableConcepts in R5
            fields["encounter_class"] = first_code(klass[0] if isinstance(klass, list) and klass else klass)
            locations = as_list(resource.get("location"))
            fields["encounter_location"] = reference(as_dict(locations[0]).get("location")) if locations else None
        elif kind in ("MedicationStatement", "MedicationRequest"):
            exposure = medication_exposure(resource, known_medications)
            medications += [exposure] if exposure else []
        elif kind == "MedicationAdministration":
            session, problem = administration_record(resource, known_medications)
            administrations += [session] if session else []
            problems += [problem] if problem else []
        elif kind == "Observation":
            breastfeeding += [status for status in [breastfeeding_record(resource)] if status]
            found_scores, found_measurements, found_problems = observation_records(resource, scale_codes)
            scores += found_scores
            measurements += found_measurements
            problems += found_problems
        elif kind == "Condition":
            record = condition_record(resource)
            if record:
                conditions.append(record)
                problems += [p for p in [uncoded_problem(resource)] if p]
        elif kind == "AllergyIntolerance":
            allergies.append(allergy_record(resource))
    latest_status = max(breastfeeding, key=lambda found: (found[0], found[1].source), default=None)
    if latest_status is not None and latest_status[1].categories:  # the latest status says breastfeeding
        conditions.append(latest_status[1])
    return PatientRecord(
        patient_id=patient_id, **fields,
        medications=tuple(sorted(medications, key=lambda m: _by_date(m.start, m.source))),
        scores=tuple(sorted(scores, key=lambda s: _by_date(s.when, s.source + s.instrument))),
        measurements=tuple(sorted(measurements, key=lambda m: _by_date(m.when, m.source + m.kind))),
        conditions=tuple(sorted(conditions, key=lambda c: _by_date(c.onset, c.source))),
        allergies=tuple(sorted(allergies, key=lambda a: a.source)),
        administrations=tuple(sorted(administrations, key=lambda a: (a.when, a.source))),
        uninterpretable=tuple(sorted(problems)))
