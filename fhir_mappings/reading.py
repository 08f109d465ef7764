"""Tolerant readers for FHIR R4 JSON dicts: they never raise, whatever the input looks like."""
from __future__ import annotations

import calendar
import functools
import math
import re
from datetime import date
from typing import Any, Callable, TypeVar

import msgspec

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
MEMO_MAX_CHARS = 200  # longer arguments are computed each time, so that no big input stays in a cache
MEMO_MAX_ELEMENT_BYTES = 2000  # a JSON element is kept by its encoding up to this size
MEMO_MAX_ENTRIES = 4096  # a full cache is emptied and fills again: bounded, and it follows what charts use
_Result = TypeVar("_Result")


def memoised(function: Callable[..., _Result]) -> Callable[..., _Result]:
    """``function`` of strings, computed once per process for short arguments (codes, names, dates).

    Charts repeat the same codes, drug names and units in every record; the result must be immutable.
    ``lookup.cache`` is the cache (a dict: a hit costs one lookup, less than ``functools.lru_cache``).
    """
    cache: dict[tuple, _Result] = {}

    @functools.wraps(function)
    def lookup(*args: str) -> _Result:
        try:
            return cache[args]
        except KeyError:
            result = function(*args)
        _remember(cache, args, result, sum(map(len, args)) <= MEMO_MAX_CHARS)
        return result
    lookup.cache = cache  # type: ignore[attr-defined]
    return lookup


def memoised_by_element(function: Callable[..., _Result]) -> Callable[..., _Result]:
    """``function`` of a JSON element (a CodeableConcept, the Dosage list) and short strings, computed
    once per process per element: charts repeat the same drug concepts and dosage instructions record
    after record. The key is the element's MessagePack encoding (exact: int, float, bool, null and
    non-finite numbers stay distinct); elements encoded over MEMO_MAX_ELEMENT_BYTES, and those it cannot
    encode (a lone surrogate, an integer beyond 64 bits), are not kept."""
    cache: dict[tuple, _Result] = {}

    @functools.wraps(function)
    def lookup(element: Any, *args: str) -> _Result:
        try:
            key = (msgspec.msgpack.encode(element), *args)
        except (ValueError, TypeError, OverflowError):
            return function(element, *args)
        try:
            return cache[key]
        except KeyError:
            result = function(element, *args)
        _remember(cache, key, result, len(key[0]) <= MEMO_MAX_ELEMENT_BYTES
                  and sum(len(arg) for arg in args if isinstance(arg, str)) <= MEMO_MAX_CHARS)
        return result
    lookup.cache = cache  # type: ignore[attr-defined]
    return lookup


def _remember(cache: dict, key: tuple, result, small: bool) -> None:
    if small:
        if len(cache) >= MEMO_MAX_ENTRIES:
            cache.clear()
        cache[key] = result


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """A FHIR repeating element as a list (a lone object counts as one item)."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def number(value: Any) -> float | None:
    """A finite JSON number (or numeric string) as float; booleans, NaN, ±inf, numbers too large
    for a float ("1e999", 10**400) and anything else → None."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value) if isinstance(value, (int, float)) else float(text(value))
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def codings(concept: Any) -> list[tuple[str, str]]:
    """``(system, code)`` pairs of a CodeableConcept (or of a single Coding)."""
    concept = as_dict(concept)
    pairs = []
    for coding in as_list(concept.get("coding")) if "coding" in concept else [concept]:
        if isinstance(coding, dict) and (code := text(coding.get("code"))):
            pairs.append((text(coding.get("system")), code))
    return pairs


def concept_text(concept: Any) -> str:
    """``text`` and every coding ``display`` of a CodeableConcept, joined for word searches."""
    concept = as_dict(concept)
    parts = [text(concept.get("text"))]
    parts += [text(as_dict(coding).get("display")) for coding in as_list(concept.get("coding"))]
    return " | ".join(part for part in parts if part)


def display_of(concept: Any) -> str:
    """``text`` of a CodeableConcept, else its first coding ``display``."""
    concept = as_dict(concept)
    displays = [text(as_dict(coding).get("display")) for coding in as_list(concept.get("coding"))]
    return text(concept.get("text")) or next((d for d in displays if d), "")


def first_code(concept: Any) -> str | None:
    """The first coding's code, e.g. of ``clinicalStatus``."""
    pairs = codings(concept)
    return pairs[0][1] if pairs else None


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant as written (no time-zone shift).

    A partial date ("2024", "2024-05") maps to the first day of its period; see ``is_partial``.
    """
    return _calendar_date(value.strip()) if isinstance(value, str) else None


@memoised
def _calendar_date(value: str) -> date | None:
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def last_possible_date(value: Any) -> date | None:
    """Like ``parse_date``, but a partial date maps to the last day of its period ("2008" → 2008-12-31):
    for a birth date, the youngest the patient may be, so age checks err on the side of caution."""
    first = parse_date(value)
    if first is None or not is_partial(value):
        return first
    month = first.month if len(text(value)) > 4 else 12
    return date(first.year, month, calendar.monthrange(first.year, month)[1])


def is_partial(value: Any) -> bool:
    """True for a year or year-month date, whose day is not known."""
    return parse_date(value) is not None and len(text(value)) < 10


def reference(value: Any) -> str | None:
    """``reference`` of a Reference element."""
    return text(as_dict(value).get("reference")) or None


def source(resource: dict) -> str:
    """``"Type/id"`` naming a resource in records and messages."""
    return f"{text(resource.get('resourceType')) or 'Resource'}/{text(resource.get('id')) or '(no id)'}"
