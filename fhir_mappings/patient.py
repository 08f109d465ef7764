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
    """The record of ``resources`` (see ``PatientRecordBuilder``)."""
    builder = PatientRecordBuilder(patient_id, scale_codes)
    builder.add_all(resources)
    return builder.build()


_REFERENCING = frozenset({"MedicationStatement", "MedicationRequest", "MedicationAdministration"})


class PatientRecordBuilder:
    """Resources in, one at a time, each mapped when it comes and not kept; ``build`` → PatientRecord.

    Dispatch on ``resourceType``; duplicates (same Type/id) count once, the first one. ``scale_codes``
    maps "system|code" to an instrument name, extending data/observations.csv. Resources about another
    patient, and observations or conditions that cannot be used, are listed in ``uninterpretable``;
    medication records carry their own ``unknown`` reasons. Medication records that name their
    medicine by reference wait for ``build``, when every Medication sent or read is known.
    """

    def __init__(self, patient_id: str, scale_codes: Mapping[str, str] | None = None):
        self.patient_id, self.scale_codes = patient_id, scale_codes
        self.seen: set[str] = set()
        self.count = 0
        self.medications_known: dict[str, dict] = {}
        self.fields: dict[str, Any] = {"birth_date": None, "identifier_systems": frozenset(),
                                       "encounter_class": None, "encounter_location": None}
        # medication records and sessions in arrival order; a dict waits for build (by reference)
        self.medications: list = []
        self.administrations: list = []
        self.scores, self.measurements, self.conditions, self.allergies = [], [], [], []
        self.problems, self.breastfeeding = [], []

    def add_all(self, resources: Iterable[dict]) -> None:
        for resource in resources:
            self.add(resource)

    def add(self, resource: dict) -> None:
        resource = as_dict(resource)
        key = source(resource) if text(resource.get("id")) else f"#{self.count}"
        self.count += 1
        if key in self.seen:
            return
        self.seen.add(key)
        kind = resource.get("resourceType")
        kind = kind if isinstance(kind, str) else None
        if kind == "Medication":  # known whoever it names: a Medication is no patient's record
            self.medications_known[key] = resource
        other = _other_patient(resource, self.patient_id)
        if other:
            self.problems.append(f"{source(resource)}: belongs to {other}, not Patient/{self.patient_id}")
        elif kind in _REFERENCING and "medicationCodeableConcept" not in resource:
            (self.administrations if kind == "MedicationAdministration" else self.medications).append(resource)
        elif kind in _REFERENCING:
            self._medication_record(kind, resource)
        else:
            self._other_record(kind, resource)

    def medication_references(self) -> list[str]:
        """``medicationReference`` of each waiting MedicationStatement/MedicationRequest."""
        return [ref for item in self.medications if isinstance(item, dict)
                for ref in [reference(item.get("medicationReference"))] if ref]

    def _medication_record(self, kind: str, resource: dict) -> None:
        if kind == "MedicationAdministration":
            session, problem = administration_record(resource, self.medications_known)
            self.administrations += [session] if session else []
            self.problems += [problem] if problem else []
        else:
            self.medications.append(medication_exposure(resource, self.medications_known))

    def _other_record(self, kind, resource: dict) -> None:
        fields = self.fields
        if kind == "Patient":
            fields["birth_date"] = last_possible_date(resource.get("birthDate"))
            fields["identifier_systems"] = frozenset(
                text(as_dict(item).get("system")) for item in as_list(resource.get("identifier"))
            ) - {""}
        elif kind == "Encounter" and fields["encounter_class"] is None:
            klass = resource.get("class")  # a Coding in R4, a list of CodeableConcepts in R5
            fields["encounter_class"] = first_code(klass[0] if isinstance(klass, list) and klass else klass)
            locations = as_list(resource.get("location"))
            fields["encounter_location"] = reference(as_dict(locations[0]).get("location")) if locations else None
        elif kind == "Observation":
            self.breastfeeding += [status for status in [breastfeeding_record(resource)] if status]
            found_scores, found_measurements, found_problems = observation_records(resource, self.scale_codes)
            self.scores += found_scores
            self.measurements += found_measurements
            self.problems += found_problems
        elif kind == "Condition":
            record = condition_record(resource)
            if record:
                self.conditions.append(record)
                self.problems += [p for p in [uncoded_problem(resource)] if p]
        elif kind == "AllergyIntolerance":
            self.allergies.append(allergy_record(resource))

    def build(self) -> PatientRecord:
        medications, administrations, problems = [], [], list(self.problems)
        for item in self.medications:
            exposure = medication_exposure(item, self.medications_known) if isinstance(item, dict) else item
            medications += [exposure] if exposure else []
        for item in self.administrations:
            session, problem = (administration_record(item, self.medications_known) if isinstance(item, dict)
                                else (item, None))
            administrations += [session] if session else []
            problems += [problem] if problem else []
        conditions = list(self.conditions)
        latest_status = max(self.breastfeeding, key=lambda found: (found[0], found[1].source), default=None)
        if latest_status is not None and latest_status[1].categories:  # the latest status says breastfeeding
            conditions.append(latest_status[1])
        return PatientRecord(
            patient_id=self.patient_id, **self.fields,
            medications=tuple(sorted(medications, key=lambda m: _by_date(m.start, m.source))),
            scores=tuple(sorted(self.scores, key=lambda s: _by_date(s.when, s.source + s.instrument))),
            measurements=tuple(sorted(self.measurements, key=lambda m: _by_date(m.when, m.source + m.kind))),
            conditions=tuple(sorted(conditions, key=lambda c: _by_date(c.onset, c.source))),
            allergies=tuple(sorted(self.allergies, key=lambda a: a.source)),
            administrations=tuple(sorted(administrations, key=lambda a: (a.when, a.source))),
            uninterpretable=tuple(sorted(problems)))
