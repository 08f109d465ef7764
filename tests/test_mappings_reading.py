"""Tolerant readers (fhir_mappings/reading.py)."""
from datetime import date

import pytest

from fhir_mappings.reading import MEMO_MAX_CHARS, _calendar_date, last_possible_date, number, parse_date


@pytest.mark.parametrize("value, expected", [(3, 3.0), (0.5, 0.5), ("12.5", 12.5), (" 7 ", 7.0), (-2, -2.0)])
def test_number_reads_finite_numbers_and_numeric_strings(value, expected):
    assert number(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "inf", "-Infinity", "NaN", "nan",
                                   "1e999", 1e308 * 10, 10 ** 400, True, None, "", "12 mg", [], {}])
def test_number_refuses_non_finite_and_non_numbers(value):
    assert number(value) is None


@pytest.mark.parametrize("value, expected", [
    ("2008", date(2008, 12, 31)), ("2008-11", date(2008, 11, 30)), ("2024-02", date(2024, 2, 29)),
    ("2008-11-21", date(2008, 11, 21)), ("2008-11-21T10:00:00Z", date(2008, 11, 21)), ("soon", None), (None, None),
])
def test_last_possible_date_of_a_partial_date_is_the_end_of_its_period(value, expected):
    assert last_possible_date(value) == expected


def test_dates_are_parsed_once_and_long_values_are_not_kept():
    """fhir_mappings/reading.py ``memoised``: the same date text is looked up, a long one never cached."""
    assert parse_date(" 2019-07-23T10:00:00Z") == parse_date("2019-07-23T10:00:00Z") == date(2019, 7, 23)
    assert _calendar_date.cache[("2019-07-23T10:00:00Z",)] == date(2019, 7, 23)
    size = len(_calendar_date.cache)
    long_value = "2019-07-23" + "x" * MEMO_MAX_CHARS
    assert parse_date(long_value) == date(2019, 7, 23)
    assert len(_calendar_date.cache) == size and (long_value,) not in _calendar_date.cache


def test_a_full_memo_is_emptied_and_fills_again():
    from fhir_mappings.reading import MEMO_MAX_ENTRIES, memoised
    calls = []
    twice = memoised(lambda value: calls.append(value) or value * 2)
    for n in range(MEMO_MAX_ENTRIES + 10):
        assert twice(str(n)) == str(n) * 2
    assert len(twice.cache) == 10 and twice("1") == "11" and calls.count("1") == 2
    assert twice(str(MEMO_MAX_ENTRIES + 9)) and calls.count(str(MEMO_MAX_ENTRIES + 9)) == 1


def test_an_element_memo_tells_apart_what_json_would_merge():
    """``memoised_by_element`` keys on the exact value: 1, 1.0, True, null and inf are different answers."""
    from fhir_mappings.reading import MEMO_MAX_ELEMENT_BYTES, memoised_by_element
    calls = []
    described = memoised_by_element(lambda element, label: calls.append(element) or f"{label}:{element!r}")
    values = [{"value": 1}, {"value": 1.0}, {"value": True}, {"value": None}, {"value": float("inf")}, {"value": "1"}]
    assert [described(v, "x") for v in values * 2] == [f"x:{v!r}" for v in values * 2]
    assert len(calls) == len(values)  # each computed once
    assert described({"value": 1}, "y") == "y:{'value': 1}" and len(calls) == len(values) + 1
    big = {"text": "x" * MEMO_MAX_ELEMENT_BYTES}
    assert described(big, "x") == described(big, "x") and calls.count(big) == 2  # not kept
    for odd in ({"text": "\ud800"}, {"value": 10 ** 30}):  # what MessagePack cannot encode: computed, not kept
        assert described(odd, "x") == described(odd, "x") == f"x:{odd!r}" and calls.count(odd) == 2
