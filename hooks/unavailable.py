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
    "surveys": (BOTH, "depression scores known only by their text (survey observations under codes the "
                      "service does not know): the TRD card may miss a trial's response"),
    # Required keys appear here only when read in part (paging cut short): the TRD card may miss trials.
    "medicationStatements": (BOTH, "antidepressant trials and interacting medicines beyond the pages read"),
    "medicationRequests": (BOTH, "antidepressant trials and interacting medicines beyond the pages read"),
    "depressionScores": (BOTH, "depression scores beyond the pages read (response to each trial)"),
}


def unavailable_finding(drug: str, unavailable: frozenset[str],
                        partial: frozenset[str] = frozenset()) -> Finding | None:
    """One warning naming each check not done, or done on part of the data, for ``drug``."""
    not_read = _relevant(drug, unavailable)
    read_in_part = _relevant(drug, partial - unavailable)
    if not not_read and not read_in_part:
        return None
    sections, named = [], []
    if not_read:
        sections.append("These checks were **not done**, so the absence of a card about them means nothing. "
                        "Check them manually:\n\n" + "\n".join(_line(key) for key in not_read))
        named.append("not read: " + ", ".join(not_read))
    if read_in_part:
        sections.append("These data were **read only in part** (paging cut short): cards above reflect the "
                        "records read; anything beyond them was not checked:\n\n"
                        + "\n".join(_line(key) for key in read_in_part))
        named.append("read in part: " + ", ".join(read_in_part))
    summary = f"Not fully checked, data {'; '.join(named)}"
    return Finding("data-unavailable", "warning", summary, "\n\n".join(sections), "cds-hooks")


def _checks(key: str) -> tuple[frozenset[str], str]:
    return CHECKS.get(key, (BOTH, f"checks that use the '{key}' data"))


def _relevant(drug: str, keys: frozenset[str]) -> list[str]:
    return [key for key in sorted(keys) if drug in _checks(key)[0]]


def _line(key: str) -> str:
    return f"- **{md(key)}**: {md(_checks(key)[1])}"
