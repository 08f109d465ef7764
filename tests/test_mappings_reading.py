"""Tolerant readers (fhir_mappings/reading.py)."""
import pytest

from fhir_mappings.reading import number


@pytest.mark.parametrize("value, expected", [(3, 3.0), (0.5, 0.5), ("12.5", 12.5), (" 7 ", 7.0), (-2, -2.0)])
def test_number_reads_finite_numbers_and_numeric_strings(value, expected):
    assert number(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "inf", "-Infinity", "NaN", "nan",
                                   "1e999", 1e308 * 10, 10 ** 400, True, None, "", "12 mg", [], {}])
def test_number_refuses_non_finite_and_non_numbers(value):
    assert number(value) is None
