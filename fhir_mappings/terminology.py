"""The code tables in ``fhir_mappings/data/*.csv`` (see data/README.md), read once per process."""
from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources

from .reading import memoised

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True)
class Ingredient:
    """One row of medications.csv at ingredient level."""

    name: str
    rxcui: str | None
    mechanism_class: str | None
    min_daily_dose_mg: float | None  # UNVERIFIED for every drug (data/README.md)
    roles: frozenset[str]
    dose_component: str = ""  # the component whose strength is the dose (combinations.csv), else the name
    unit_strength_mg: float | None = None  # mg of the dose component per unit, single-strength products (strengths.csv)

    @property
    def dose_name(self) -> str:
        return self.dose_component or self.name


@functools.cache
def rows(table: str) -> tuple[dict[str, str], ...]:
    """Every row of ``data/<table>.csv`` as a dict of strings."""
    data = resources.files(__package__).joinpath("data", f"{table}.csv").read_text("utf-8")
    return tuple(csv.DictReader(io.StringIO(data)))


def normalise_code(system: str, code: str) -> str:
    """Upper case; ICD-10-CM without its dot and NDC without hyphens, as VSAC and EHRs vary."""
    code = code.strip().upper()
    if system == ICD10CM:
        return code.replace(".", "")
    if system == NDC:
        return code.replace("-", "")
    return code


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


@functools.cache
def _code_index(table: str) -> tuple[dict[tuple[str, str], list[dict]], list[tuple[str, str, dict]]]:
    """Exact rows by (system, normalised code), and the prefix rows."""
    exact: dict[tuple[str, str], list[dict]] = {}
    prefixes = []
    for row in rows(table):
        if not row["code"]:  # a text-only row (brand and local names)
            continue
        key = (row["system"], normalise_code(row["system"], row["code"]))
        if row.get("match") == "prefix":
            prefixes.append((*key, row))
        else:
            exact.setdefault(key, []).append(row)
    return exact, prefixes


def coded_rows(table: str, system: str, code: str) -> list[dict[str, str]]:
    """Rows whose code equals ``code`` (``match`` exact) or starts it (``match`` prefix)."""
    wanted = normalise_code(system, code)
    exact, prefixes = _code_index(table)
    return exact.get((system, wanted), []) + [
        row for row_system, prefix, row in prefixes if row_system == system and wanted.startswith(prefix)]


def _words_pattern(terms: list[str]) -> re.Pattern[str]:
    """Any of the terms as a whole word (no letter either side), longest first, ignoring case."""
    alternatives = "|".join(map(re.escape, sorted(terms, key=len, reverse=True)))
    return re.compile(rf"(?<![a-z])({alternatives})(?![a-z])", re.IGNORECASE)


@functools.cache
def _text_index(table: str, name_column: str | None) -> tuple[re.Pattern[str] | None, dict[str, list[dict]]]:
    by_term: dict[str, list[dict]] = {}
    for row in rows(table):
        for term in _split(row.get("synonyms", "")) + ([row[name_column]] if name_column else []):
            by_term.setdefault(term.lower(), []).append(row)
    return (_words_pattern(list(by_term)) if by_term else None), by_term


@functools.cache
def _exclusion(words: str) -> re.Pattern[str] | None:
    return _words_pattern(_split(words)) if _split(words) else None


def text_rows(table: str, free_text: str, name_column: str | None = None) -> list[dict[str, str]]:
    """Rows with a synonym (or ``name_column`` value) in the text as a whole word, first match first.

    A row whose ``exclude_text`` word also occurs is skipped (e.g. "Hamilton Anxiety").
    """
    pattern, by_term = _text_index(table, name_column)
    found: list[dict[str, str]] = []
    excluded: dict[str, bool] = {}  # one search of the text per exclusion, not one per match
    for match in pattern.finditer(free_text) if pattern else ():
        for row in by_term[match.group(1).lower()]:
            words = row.get("exclude_text", "")
            if words not in excluded:
                exclusion = _exclusion(words)
                excluded[words] = bool(exclusion and exclusion.search(free_text))
            if row not in found and not excluded[words]:
                found.append(row)
    return found


@functools.cache
def _ingredients() -> dict[str, Ingredient]:
    dose_components = {row["counts_as"]: row["dose_component"] for row in rows("combinations")}
    strengths = {row["ingredient"]: float(row["mg_per_unit"]) for row in rows("strengths")}
    table = {}
    for row in rows("medications"):
        if row["system"] == RXNORM and row["display"] == row["ingredient"]:
            table[row["ingredient"]] = Ingredient(
                name=row["ingredient"], rxcui=row["code"],
                mechanism_class=row["mechanism_class"] or None,
                min_daily_dose_mg=float(row["min_daily_dose_mg"]) if row["min_daily_dose_mg"] else None,
                roles=frozenset(_split(row["roles"])),
                dose_component=dose_components.get(row["ingredient"], ""),
                unit_strength_mg=strengths.get(row["ingredient"]))
    return table


@functools.cache
def _combinations() -> tuple[tuple[frozenset[str], str], ...]:
    """(component ingredients, the ingredient the product counts as) per combinations.csv row."""
    return tuple((frozenset(_split(row["components"])), row["counts_as"]) for row in rows("combinations"))


def ingredient(name: str) -> Ingredient | None:
    """The ingredient row by lower-case name, e.g. ``ingredient("sertraline").min_daily_dose_mg``."""
    return _ingredients().get(name.strip().lower())


@memoised
def ingredient_for_code(system: str, code: str) -> Ingredient | None:
    """The ingredient of an RxNorm ingredient code or of a listed product code (NDC)."""
    found = coded_rows("medications", system, code)
    return ingredient(found[0]["ingredient"]) if found else None


@memoised
def ingredient_in_text(free_text: str) -> Ingredient | None:
    """The ingredient named in the text: a combination product when every component is named
    ("bupropion 105 MG / dextromethorphan 45 MG" is Auvelity, not bupropion), else the first name
    ("esketamine" and "S-ketamine" are not read as "ketamine"; brand names count)."""
    found = text_rows("medications", free_text, name_column="ingredient")
    named = {row["ingredient"] for row in found}
    combination = next((counts_as for components, counts_as in _combinations() if components <= named), None)
    return ingredient(combination or found[0]["ingredient"]) if found else None


@memoised
def observation_names(system: str, code: str) -> tuple[tuple[str, str], ...]:
    """``(kind, name)`` of a LOINC or local code, e.g. ``("vital", "systolic")``."""
    return tuple((row["kind"], row["name"]) for row in coded_rows("observations", system, code))


@memoised
def scale_in_text(free_text: str) -> str | None:
    """The instrument named in an Observation's text ("MADRS", "Hamilton", ...), if any."""
    found = [row for row in text_rows("observations", free_text) if row["kind"] == "scale"]
    return found[0]["name"] if found else None


@memoised
def condition_categories(system: str, code: str) -> frozenset[str]:
    return frozenset(cat for row in coded_rows("conditions", system, code)
                     for cat in _split(row["categories"]))


@memoised
def route_for(system: str, code: str) -> str | None:
    found = coded_rows("routes", system, code)
    return found[0]["route"] if found else None


@memoised
def route_in_text(free_text: str) -> str | None:
    found = text_rows("routes", free_text)
    return found[0]["route"] if found else None
