"""The ``data-unavailable`` card: which checks were not done because optional data was not read."""
from __future__ import annotations

from hooks.cards import Finding, md

BOTH = frozenset({"esketamine", "ketamine"})
# optional prefetch key → (drugs whose checks need it, the checks not done); decision-rules.md §8
CHECKS = {
    "patient": (frozenset({"esketamine"}), "REMS patient enrolment and the age check for a 28 mg dose"),
    "encounter": (frozenset({"esketamine"}), "REMS setting (inpatient or outpatient, encounter location)"),
    "bloodPressure": (BOTH, "blood pressure (elevated reading or no recent baseline)"),
    "weight": (frozenset({"ketamine"}), "ketamine mg/kg dose and BMI"),
    "conditions": (BOTH, "contraindicated conditions (aneurysm, arteriovenous malformation, intracerebral "
                         "hemorrhage), bipolar or psychotic disorders, pregnancy and substance use disorder"),
    "allergies": (BOTH, "hypersensitivity to esketamine or ketamine"),
    # Required keys appear here only when read in part (paging cut short): the TRD card may miss trials.
    "medicationStatements": (BOTH, "antidepressant trials and interacting medicines beyond the pages read"),
    "medicationRequests": (BOTH, "antidepressant trials and interacting medicines beyond the pages read"),
    "depressionScores": (BOTH, "depression scores beyond the pages read (response to each trial)"),
}


def unavailable_finding(drug: str, unavailable: frozenset[str]) -> Finding | None:
    """One warning naming each check not done for ``drug``; None when nothing relevant is missing."""
    missing = [(key, CHECKS.get(key, (BOTH, f"checks that use the '{key}' data"))) for key in sorted(unavailable)]
    lines = [f"- **{md(key)}**: {md(checks)}" for key, (drugs, checks) in missing if drug in drugs]
    if not lines:
        return None
    keys = [key for key, (drugs, _) in missing if drug in drugs]
    summary = f"Not checked, data could not be read: {', '.join(keys)}"
    detail = ("These checks were **not done**, so the absence of a card about them means nothing. "
              "Check them manually:\n\n" + "\n".join(lines))
    return Finding("data-unavailable", "warning", summary, detail, "cds-hooks")
