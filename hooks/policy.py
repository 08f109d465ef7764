"""The policy in use: every threshold of decision-rules.md with its default and its source.

Each field carries its source in ``metadata["source"]``; ``describe()`` prints the policy for the
discovery ``usageRequirements`` and the README. Values marked UNVERIFIED in reference.md stay
configurable through a JSON policy file (``Policy.load``). The per-drug minimum adequate doses
and mechanism classes are terminology, kept in fhir_mappings/data/medications.csv.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

def _p(default: Any, source: str) -> Any:
    return field(default=default, metadata={"source": source})


@dataclass(frozen=True)
class Policy:
    """Thresholds of decision-rules.md v1; defaults follow the current US label where sources differ."""

    version: str = _p("2026.11-1", "trd-cds policy release")
    # §2 TRD criteria
    min_trials: int = _p(2, "FDA/label usage: >=2 antidepressants; Sforzini 2022 Delphi")
    trial_gap_days: int = _p(14, "decision-rules §2.1 (seed)")
    lookback_days: int = _p(730, "decision-rules §2.1: proxy for the current episode")
    min_trial_days: int = _p(28, "seed and Sforzini 2022 Delphi: at least 4 weeks")
    nonresponse_improvement: float = _p(0.25, "Sforzini 2022 Delphi: failure = <25% improvement")
    baseline_before_days: int = _p(30, "decision-rules §2.4: baseline window start-30 d")
    baseline_after_days: int = _p(7, "decision-rules §2.4: baseline window start+7 d")
    followup_after_start_days: int = _p(28, "decision-rules §2.4: follow-up from start+28 d")
    followup_after_end_days: int = _p(14, "decision-rules §2.4: follow-up until end+14 d")
    require_distinct_classes: bool = _p(True, "decision-rules §2.5 (seed)")
    count_augmentation: bool = _p(False, "decision-rules §2.6: label usage = oral antidepressants")
    course_gap_days: int = _p(28, "decision-rules §9 (v2): a course = sessions with no gap over 28 days")
    # §5 blood pressure
    bp_systolic: float = _p(140.0, "SPRAVATO US label, dosing: e.g. >140 mmHg systolic")
    bp_diastolic: float = _p(90.0, "SPRAVATO US label, dosing: e.g. >90 mmHg diastolic")
    bp_recent_days: int = _p(30, "decision-rules §5")
    bp_stale_days: int = _p(90, "decision-rules §5")
    # §6 dose checks
    weight_recent_days: int = _p(90, "decision-rules §6")
    ketamine_mg_per_kg_warning: float = _p(0.5, "Fava 2018: no added benefit above 0.5 mg/kg")
    ketamine_mg_per_kg_critical: float = _p(1.0, "Fava 2018: highest studied dose 1.0 mg/kg")
    bmi_ibw_threshold: float = _p(30.0, "APA consensus 2017 (Sanacora): ideal body weight, BMI >=30")
    ketamine_infusion_min_minutes: float = _p(40.0, "Fava 2018; ELEKT-D: 0.5 mg/kg over 40 min")
    esketamine_device_mg: float = _p(28.0, "SPRAVATO US label: one device = 28 mg")
    esketamine_max_session_mg: float = _p(84.0, "SPRAVATO US label: 56 or 84 mg per session")
    esketamine_max_per_week: float = _p(2.0, "SPRAVATO US label: at most twice weekly (induction)")
    esketamine_first_dose_mg: float = _p(56.0, "SPRAVATO US label, dosing: day 1 dose 56 mg; later "
                                               "sessions 56 or 84 mg")
    esketamine_min_age_for_28mg: int = _p(65, "decision-rules §6; 28 mg start for >=65 is EU/Asia "
                                              "label text, US label UNVERIFIED (reference.md §1.4)")
    # §4 REMS
    rems_patient_id_system: str = _p("urn:trd-cds:spravato-rems-patient-id", "decision-rules §4")
    rems_certified_settings: tuple[str, ...] = _p((), "site configuration: certified Location/Organization refs")
    rems_exempt_encounter_classes: tuple[str, ...] = _p(
        ("IMP", "EMER", "ACUTE", "NONAC"),
        "SPRAVATO REMS: inpatient settings need no patient enrolment; HL7 v3 ActCode (FHIR R4 "
        "v3-ActEncounterCode): IMP inpatient encounter, ACUTE inpatient acute, NONAC inpatient "
        "non-acute, EMER emergency")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Policy":
        """Build a policy from defaults overridden by ``values``; unknown keys raise ValueError."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown policy key(s): {', '.join(unknown)}; "
                             f"known keys: {', '.join(sorted(known))}")
        return cls(**{name: _coerce(name, known[name].default, raw) for name, raw in values.items()})

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        """Read a JSON object of overrides from ``path``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"policy file {path} must hold a JSON object")
        return cls.from_mapping(data)

    def describe(self) -> str:
        """Short human-readable text of the policy in use."""
        classes = "distinct mechanism classes" if self.require_distinct_classes else "any classes"
        augmentation = "counted" if self.count_augmentation else "not counted"
        return (
            f"trd-cds policy {self.version}. TRD: >={self.min_trials} adequate failed antidepressant "
            f"trials in {self.lookback_days} days ({classes}; augmentation {augmentation}); trial "
            f">={self.min_trial_days} days at >= minimum label dose; failure = improvement "
            f"<{self.nonresponse_improvement:.0%} on the same scale. BP flagged above "
            f"{self.bp_systolic:g}/{self.bp_diastolic:g} mmHg within {self.bp_recent_days} days. "
            f"IV ketamine: warning above {self.ketamine_mg_per_kg_warning:g} mg/kg, critical above "
            f"{self.ketamine_mg_per_kg_critical:g} mg/kg (weight within {self.weight_recent_days} "
            f"days). Esketamine: multiples of {self.esketamine_device_mg:g} mg up to "
            f"{self.esketamine_max_session_mg:g} mg, at most {self.esketamine_max_per_week:g} "
            f"sessions a week. REMS patient id system: {self.rems_patient_id_system}. "
            "Minimum antidepressant doses: fhir_mappings/data/medications.csv (UNVERIFIED)."
        )


def _coerce(name: str, default: Any, raw: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise ValueError(f"policy {name} must be true or false, not {raw!r}")
        return raw
    if isinstance(default, int):
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ValueError(f"policy {name} must be a non-negative integer, not {raw!r}")
        return raw
    if isinstance(default, float):
        return _number(name, raw)
    if isinstance(default, tuple):
        if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
            raise ValueError(f"policy {name} must be a list of strings")
        return tuple(raw)
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"policy {name} must be a non-empty string")
    return raw


def _number(name: str, raw: Any) -> float:
    """Every float threshold is a dose, pressure, score fraction or count: finite and above 0."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw <= 0:
        raise ValueError(f"policy {name} must be a number greater than 0, not {raw!r}")
    return float(raw)

