"""TRD criteria (decision-rules.md §2): antidepressant trials, their adequacy, and the C/P decision.

Counting (§2.5, §2.7). A trial's *key* is its mechanism class when distinct classes are required,
otherwise its ingredient (a repeated trial of one drug is still one antidepressant).
C = number of distinct keys among confirmed failed trials. The favourable case assumes every
unknown resolves as a failure and an unknown class is a new class, so
C + P = distinct keys among failed and unknown trials + unknown trials whose class is unknown.
The distinct-class rule therefore limits both C and C + P: two SSRIs never make TRD, not even
"possibly". With distinct classes required, an unknown class is itself an unknown (never C).

Prior esketamine / ketamine courses (§2.9 v2) are extra rows of the table, never trials: records
of one drug with no gap over ``course_gap_days``, each record a session.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterable, Sequence

from fhir_mappings import terminology
from fhir_mappings.medications import IGNORED_STATUSES  # §2; the extractor already drops these
from fhir_mappings.records import MedicationExposure, ScaleScore
from hooks.policy import Policy

FAILED, NOT_FAILED, UNKNOWN, NOT_COUNTED = "failed", "not a failure", "unknown", "not counted"
# What an unknown trial lacks, in the order the insufficient-data summary names them.
MISSING_KINDS = ("medication name", "status", "dose", "minimum dose", "duration", "scores", "class")
MET, NOT_MET, INSUFFICIENT = "met", "not-met", "insufficient-data"

MinDoseLookup = Callable[[str], "float | None"]
COURSE_DRUGS = ("esketamine", "ketamine")  # §2.9 v2: shown as prior courses, never counted


@dataclass(frozen=True)
class ScorePair:
    """Baseline and follow-up on the same instrument."""

    baseline: ScaleScore
    followup: ScaleScore

    @property
    def improvement(self) -> float:
        return (self.baseline.value - self.followup.value) / self.baseline.value


@dataclass(frozen=True)
class Trial:
    """One evaluated trial: a row of the TRD card's table."""

    ingredient: str
    mechanism_class: str | None
    start: date | None
    end: date  # effective end, or the order date while still active
    ongoing: bool
    max_daily_dose_mg: float | None
    min_daily_dose_mg: float | None
    days: int | None
    scores: ScorePair | None
    verdict: str  # FAILED | NOT_FAILED | UNKNOWN | NOT_COUNTED
    reasons: tuple[str, ...] = ()  # why it is not a failure / not counted
    unknown: tuple[str, ...] = ()  # what to document to decide it
    missing: tuple[str, ...] = ()  # the kinds of data in ``unknown`` (MISSING_KINDS), for the summary
    sessions: int | None = None  # prior esketamine / ketamine course: records in the course


@dataclass(frozen=True)
class TrdResult:
    verdict: str  # MET | NOT_MET | INSUFFICIENT
    confirmed: int  # C
    possible: int  # P: further distinct failures reachable if the unknowns were favourable
    failed_ingredients: tuple[str, ...]  # one confirmed failure per counted key, in trial order
    trials: tuple[Trial, ...]


def terminology_min_dose(ingredient: str) -> float | None:
    """Minimum adequate daily dose from fhir_mappings/data/medications.csv (UNVERIFIED values)."""
    found = terminology.ingredient(ingredient)
    return found.min_daily_dose_mg if found else None


def evaluate_trd(exposures: Iterable[MedicationExposure], scores: Sequence[ScaleScore],
                 order_date: date, policy: Policy,
                 min_dose_lookup: MinDoseLookup = terminology_min_dose) -> TrdResult:
    """Apply §2 to the patient's medication exposures and depression scores for one order."""
    exposures = list(exposures)
    trials = [_evaluate(group, scores, order_date, policy, min_dose_lookup)
              for group in _trial_groups(exposures, order_date, policy)]
    trials += [_course(group, scores, order_date, policy) for group in _course_groups(exposures, order_date, policy)]
    trials.sort(key=lambda t: (t.start is None, t.start or date.min, t.ingredient))
    key = (lambda t: t.mechanism_class) if policy.require_distinct_classes else (lambda t: t.ingredient)
    representatives: dict[str, str] = {}
    for trial in trials:
        if trial.verdict == FAILED:
            representatives.setdefault(key(trial), trial.ingredient)
    open_trials = [t for t in trials if t.verdict in (FAILED, UNKNOWN)]
    favourable = len({key(t) for t in open_trials if key(t) is not None})
    favourable += sum(1 for t in open_trials if key(t) is None)
    confirmed = len(representatives)
    verdict = MET if confirmed >= policy.min_trials else (
        INSUFFICIENT if favourable >= policy.min_trials else NOT_MET)
    return TrdResult(verdict, confirmed, favourable - confirmed, tuple(representatives.values()),
                     tuple(trials))


def _relevant(exposure: MedicationExposure) -> bool:
    """An antidepressant or augmentation record, or one whose medicine could not be identified."""
    if exposure.status in IGNORED_STATUSES:
        return False
    return exposure.ingredient is None or bool(exposure.roles & {"antidepressant", "augmentation"})


def _end(exposure: MedicationExposure, order_date: date) -> date | None:
    """Effective end; the order date while active; None when a finished record has no end."""
    return exposure.end or (order_date if exposure.status == "active" else None)


def _last_day(group: Sequence[MedicationExposure], order_date: date) -> date:
    """The latest known end, or the latest start when no end is known (a lower bound)."""
    return max(d for e in group for d in (_end(e, order_date), e.start) if d)


def _trial_groups(exposures: Iterable[MedicationExposure], order_date: date,
                  policy: Policy) -> list[list[MedicationExposure]]:
    """Records of one medicine merged when the gap is <= trial_gap_days; old trials dropped.

    One medicine: one ingredient, or (§2.9 v2) one unresolved reference or unknown code of an
    unidentified medicine. Undated records of a medicine form one trial of their own; an
    unidentified record with nothing to identify it is its own row.
    """
    by_medicine: dict[str | None, list[MedicationExposure]] = {}
    for exposure in filter(_relevant, exposures):
        by_medicine.setdefault(exposure.ingredient or exposure.unidentified_as, []).append(exposure)
    groups: list[list[MedicationExposure]] = []
    for medicine, records in by_medicine.items():
        dated = sorted((e for e in records if e.start), key=lambda e: e.start)
        undated = [e for e in records if not e.start]
        merged = _merged(dated, policy.trial_gap_days, order_date) if medicine else [[e] for e in dated]
        groups += merged + ([undated] if undated and medicine else [[e] for e in undated])
    cutoff = order_date - timedelta(days=policy.lookback_days)
    return [g for g in groups if not any(e.start or e.end for e in g) or _last_day(g, order_date) >= cutoff]


def _course_groups(exposures: Sequence[MedicationExposure], order_date: date,
                   policy: Policy) -> list[list[MedicationExposure]]:
    """Dated esketamine / ketamine records up to the order date, one group per course."""
    cutoff = order_date - timedelta(days=policy.lookback_days)
    groups: list[list[MedicationExposure]] = []
    for drug in COURSE_DRUGS:
        dated = sorted((e for e in exposures if e.ingredient == drug and e.start and e.start <= order_date
                        and e.status not in IGNORED_STATUSES), key=lambda e: e.start)
        groups += _merged(dated, policy.course_gap_days, order_date)
    return [g for g in groups if _last_day(g, order_date) >= cutoff]


def _merged(dated: Sequence[MedicationExposure], gap_days: int, order_date: date) -> list[list[MedicationExposure]]:
    """Records sorted by start, merged while the gap to the group's last day is <= ``gap_days``."""
    merged: list[list[MedicationExposure]] = []
    last_day = date.min  # _last_day(merged[-1]), kept up to date so merging stays linear
    for exposure in dated:
        if merged and (exposure.start - last_day).days <= gap_days:
            merged[-1].append(exposure)
            last_day = max(last_day, _last_day([exposure], order_date))
        else:
            merged.append([exposure])
            last_day = _last_day([exposure], order_date)
    return merged


def _course(group: list[MedicationExposure], scores: Sequence[ScaleScore], order_date: date,
            policy: Policy) -> Trial:
    """A prior course as a table row: dates, sessions, score change when a pair exists."""
    start, end = group[0].start, min(_last_day(group, order_date), order_date)
    return Trial(ingredient=f"prior {group[0].ingredient} course", mechanism_class=group[0].mechanism_class,
                 start=start, end=end, ongoing=False, max_daily_dose_mg=None, min_daily_dose_mg=None,
                 days=(end - start).days, scores=_score_pair(scores, start, end, policy), verdict=NOT_COUNTED,
                 reasons=("a prior course, never an antidepressant trial",), sessions=len(group))


def _notes(group: Sequence[MedicationExposure], *prefixes: str, exclude: bool = False) -> list[str]:
    """The extractor's ``unknown`` notes of ``group`` that start (or, with exclude, do not) with a
    prefix, each once (a statement and a request of one trial often share a note)."""
    return list(dict.fromkeys(n for e in group for n in e.unknown if n.startswith(prefixes) != exclude))


def _evaluate(group: list[MedicationExposure], scores: Sequence[ScaleScore], order_date: date,
              policy: Policy, min_dose_lookup: MinDoseLookup) -> Trial:
    ingredient = group[0].ingredient
    starts = [e.start for e in group if e.start]
    start = min(starts) if starts else None
    ends = [_end(e, order_date) for e in group]
    end_known = all(ends) and bool(starts)
    end = _last_day(group, order_date) if starts or any(ends) else order_date
    mechanism_class = next((e.mechanism_class for e in group if e.mechanism_class), None)
    doses = [e.daily_dose_mg for e in group if e.daily_dose_mg is not None]
    max_dose = max(doses) if doses else None
    days = (end - start).days if start else None
    base = dict(ingredient=ingredient or "unidentified medication", mechanism_class=mechanism_class,
                start=start, end=end, ongoing=any(e.end is None and e.status == "active" for e in group),
                max_daily_dose_mg=max_dose, days=days, scores=None)
    if ingredient is None:  # §2.9 v2: an unidentified medicine is an unknown trial, never dropped
        return Trial(**base, min_daily_dose_mg=None, verdict=UNKNOWN, missing=("medication name",),
                     unknown=("which medicine this is: " + "; ".join(_notes(group, "medication") or
                                                                   ["medication not identified"]),))
    min_dose = min_dose_lookup(ingredient)
    base["min_daily_dose_mg"] = min_dose
    if "antidepressant" not in group[0].roles and not policy.count_augmentation:
        return Trial(**base, verdict=NOT_COUNTED, reasons=("augmentation agent (not counted by policy)",))
    reasons: list[str] = []
    todo = [("status", note) for note in _notes(group, "dose", "start", "end", exclude=True)]
    if min_dose is None:
        todo.append(("minimum dose", f"minimum adequate dose of {ingredient} (not in the terminology table)"))
    elif max_dose is not None and max_dose >= min_dose:
        pass
    elif len(doses) < len(group):
        notes = "; ".join(_notes(group, "dose"))
        todo.append(("dose", "the daily dose" + (f" ({notes})" if notes else "")))
    else:
        reasons.append(f"dose {max_dose:g} mg/day below the minimum {min_dose:g} mg/day")
    if days is not None and days >= policy.min_trial_days:
        pass
    elif days is None or not end_known:
        notes = "; ".join(_notes(group, "start", "end"))
        todo.append(("duration", "the start and end dates" + (f" ({notes})" if notes else "")))
    else:
        reasons.append(f"{days} days, shorter than {policy.min_trial_days} days")
    pair = _score_pair(scores, start, end, policy) if start else None
    if pair is None:
        todo.append(("scores", _missing_scores(scores, start, end, order_date, policy)))
    elif pair.baseline.value <= 0:
        todo.append(("scores", "a baseline score above 0"))
    elif pair.improvement >= policy.nonresponse_improvement:
        reasons.append(f"improved {pair.improvement:.1%} (not below {policy.nonresponse_improvement:.0%})")
    if policy.require_distinct_classes and mechanism_class is None:
        todo.append(("class", f"the mechanism class of {ingredient} (terminology table)"))
    verdict = NOT_FAILED if reasons else (UNKNOWN if todo else FAILED)
    open_items = todo if verdict == UNKNOWN else []
    return Trial(**{**base, "scores": pair}, verdict=verdict, reasons=tuple(reasons),
                 unknown=tuple(text for _, text in open_items),
                 missing=tuple(dict.fromkeys(kind for kind, _ in open_items)))


def _windows(start: date, end: date, policy: Policy) -> tuple[tuple[date, date], tuple[date, date]]:
    baseline = (start - timedelta(days=policy.baseline_before_days),
                start + timedelta(days=policy.baseline_after_days))
    followup = (start + timedelta(days=policy.followup_after_start_days),
                end + timedelta(days=policy.followup_after_end_days))
    return baseline, followup


def _score_pair(scores: Sequence[ScaleScore], start: date, end: date, policy: Policy) -> ScorePair | None:
    """Latest baseline and latest follow-up of one instrument; the latest follow-up wins."""
    (b_from, b_to), (f_from, f_to) = _windows(start, end, policy)
    pairs = []
    for instrument in sorted({s.instrument for s in scores}):
        same = [s for s in scores if s.instrument == instrument]
        baseline = _latest(s for s in same if b_from <= s.when <= b_to)
        followup = _latest(s for s in same if f_from <= s.when <= f_to)
        if baseline and followup:
            pairs.append(ScorePair(baseline, followup))
    return max(pairs, key=lambda p: p.followup.when, default=None)


def _latest(scores: Iterable[ScaleScore]) -> ScaleScore | None:
    return max(scores, key=lambda s: (s.when, s.source), default=None)


def _missing_scores(scores: Sequence[ScaleScore], start: date | None, end: date, order_date: date,
                    policy: Policy) -> str:
    """Exactly the score(s) to document (§2.7): what the chart lacks for a same-scale pair."""
    if start is None:
        return "depression scores (no start date to place them)"
    (b_from, b_to), (f_from, f_to) = _windows(start, end, policy)
    baselines = sorted({s.instrument for s in scores if b_from <= s.when <= b_to})
    followups = sorted({s.instrument for s in scores if f_from <= s.when <= f_to})
    f_to = min(f_to, order_date)  # no score can be documented after the order
    # A window never ends before it starts (§2.9 v2): with a documented end this early, the
    # follow-up is due from start + 28 d and the trial's real end needs documenting too.
    followup = (f"{f_from.isoformat()} to {f_to.isoformat()}" if f_to >= f_from
                else f"from {f_from.isoformat()}, and the trial's end date")
    baseline = f"{b_from.isoformat()} to {b_to.isoformat()}"
    if baselines and followups:
        return (f"a follow-up score on {' or '.join(baselines)} ({followup}) or a baseline score on "
                f"{' or '.join(followups)} ({baseline}): the pair must use the same scale")
    if baselines:
        return f"a follow-up score on {' or '.join(baselines)}, the baseline's scale ({followup})"
    if followups:
        return f"a baseline score on {' or '.join(followups)}, the follow-up's scale ({baseline})"
    return f"a baseline score ({baseline}) and a follow-up score on the same scale ({followup})"
