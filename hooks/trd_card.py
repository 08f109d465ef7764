"""The TRD card (topics ``trd-criteria-*``): decision, evidence table, what to document."""
from __future__ import annotations

from fhir_mappings import terminology
from hooks.cards import SUMMARY_LIMIT, Finding, day, md, names, table
from hooks.policy import Policy
from hooks.trd import FAILED, INSUFFICIENT, MET, MISSING_KINDS, NOT_COUNTED, UNKNOWN, Trial, TrdResult

TOPIC = {MET: "trd-criteria-met", INSUFFICIENT: "trd-criteria-insufficient-data", "not-met": "trd-criteria-not-met"}
HEADERS = ("Ingredient", "Class", "Dates", "Max daily dose vs minimum", "Weeks",
           "Scale: baseline → follow-up (change)", "Verdict")


BIPOLAR = "bipolar disorder documented: TRD criteria apply to MDD"  # decision-rules §2.10 (v2)
SHORT = {MET: "TRD criteria met ({c} confirmed)", INSUFFICIENT: "TRD criteria unconfirmed ({c} + {p} possible)",
         "not-met": "TRD criteria not met ({c} of {n})"}


def trd_finding(result: TrdResult, drug: str, policy: Policy, bipolar: tuple[str, ...] = ()) -> Finding:
    """The one TRD card of a response; always returned so the evidence is visible.

    ``bipolar`` names the bipolar Conditions documented (§2.10 v2): the verdict stands, the card is
    at least a warning and says the criteria apply to MDD.
    """
    distinct = " in distinct classes" if policy.require_distinct_classes else ""
    if bipolar:
        short = SHORT[result.verdict].format(c=result.confirmed, p=result.possible, n=policy.min_trials)
        summary = f"{short}; {BIPOLAR}"
    elif result.verdict == MET:
        prefix = f"TRD criteria met: {result.confirmed} adequate failed trials{distinct} ("
        summary = prefix + names(result.failed_ingredients, 137 - len(prefix)) + ")"
    elif result.verdict == INSUFFICIENT:
        summary = (f"TRD criteria unconfirmed: {result.confirmed} confirmed + {result.possible} possible "
                   f"failed trials; document missing {_missing(result)}")
        if len(summary) > SUMMARY_LIMIT:
            summary = summary.rsplit("; ", 1)[0] + "; document the missing data listed in the detail"
    else:
        summary = (f"TRD criteria not met: {result.confirmed} of {policy.min_trials} adequate failed "
                   f"antidepressant trials{distinct} documented")
    parts = [_decision(result, policy)]
    if bipolar:
        parts.insert(0, f"**Bipolar disorder documented** ({md(', '.join(bipolar))}): TRD criteria are defined "
                        "for major depressive disorder; the verdict below applies to MDD only.")
    if result.trials:
        parts.append(table(HEADERS, (_row(t) for t in result.trials)))
    else:
        parts.append(f"No antidepressant trial found in the {policy.lookback_days} days before the order.")
    if result.verdict == INSUFFICIENT:
        parts.append("**To document:**\n" + "\n".join(
            f"- {md(t.ingredient)} ({day(t.start)} to {day(t.end)}): {md('; '.join(t.unknown))}"
            for t in result.trials if t.verdict == UNKNOWN))
    label = "SPRAVATO label" if drug == "esketamine" else "SPRAVATO label; no ketamine product is labeled for depression"
    parts.append(f"*Limitation of use ({label}):* the effectiveness of {drug} in preventing suicide or in "
                 "reducing suicidal ideation or behavior has not been established.")
    indicator = "info" if result.verdict == MET and not bipolar else "warning"
    return Finding(TOPIC[result.verdict], indicator, summary, "\n\n".join(parts), "delphi")


def _missing(result: TrdResult) -> str:
    """What the unknown trials lack, e.g. "dose or scores" (§2.7: name what is actually missing)."""
    found = {kind for trial in result.trials if trial.verdict == UNKNOWN for kind in trial.missing}
    kinds = [kind for kind in MISSING_KINDS if kind in found]
    return ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else "".join(kinds)


def _decision(result: TrdResult, policy: Policy) -> str:
    classes = "from distinct mechanism classes" if policy.require_distinct_classes else "of different drugs"
    augmentation = "counted" if policy.count_augmentation else "not counted"
    return (f"**{result.confirmed}** confirmed adequate failed trial(s) and **{result.possible}** more "
            f"possible if the unknowns were favourable; {policy.min_trials} are needed, {classes}. "
            f"Adequate = at least the minimum label dose for at least {policy.min_trial_days} days; "
            f"failed = improvement below {policy.nonresponse_improvement:.0%} on the same scale. "
            f"Augmentation agents are {augmentation}. Policy {md(policy.version)}.")


def _row(trial: Trial) -> list[str]:
    found = terminology.ingredient(trial.ingredient)
    of = f" {found.dose_name}" if found and found.dose_name != found.name else ""  # a combination's component
    dose = "unknown" if trial.max_daily_dose_mg is None else f"{trial.max_daily_dose_mg:g} mg{of}"
    minimum = "unknown" if trial.min_daily_dose_mg is None else f"{trial.min_daily_dose_mg:g} mg"
    weeks = "unknown" if trial.days is None else f"{trial.days / 7:.1f}"
    end = f"{day(trial.end)} (ongoing)" if trial.ongoing else day(trial.end)
    pair = trial.scores
    scores = "no pair"
    if pair is not None:
        change = f" ({-pair.improvement:+.1%})" if pair.baseline.value > 0 else ""
        scores = (f"{md(pair.baseline.instrument)} {pair.baseline.value:g} → "
                  f"{pair.followup.value:g}{change}")
    if trial.verdict == FAILED:
        verdict = "**failed**"
    elif trial.verdict == UNKNOWN:
        verdict = "unknown: " + md("; ".join(trial.unknown))
    else:
        label = "not counted: " if trial.verdict == NOT_COUNTED else "not a failure: "
        verdict = label + md("; ".join(trial.reasons))
    if trial.sessions is not None:
        dose = f"{trial.sessions} session(s)"
    return [md(trial.ingredient), md(trial.mechanism_class or "unknown"), f"{day(trial.start)} to {end}",
            f"{dose} vs ≥ {minimum}" if trial.verdict != NOT_COUNTED else dose, weeks, scores, verdict]
