"""Fast unit tests of the reports' small parts: periods as people write them, numbers as reports print them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from reports.periods import Period, parse_period
from reports.render import fmt


@pytest.mark.parametrize(("text", "expected", "label_zh"), [
    ("2025-02", Period("month", date(2025, 2, 1)), "2025年2月"),
    ("2025Q1", Period("quarter", date(2025, 1, 1)), "2025年第1季度"),
    ("2025-q4", Period("quarter", date(2025, 10, 1)), "2025年第4季度"),
    ("2024", Period("year", date(2024, 1, 1)), "2024年"),
])
def test_periods_as_people_write_them(text, expected, label_zh):
    assert parse_period(text) == expected
    assert expected.label_zh == label_zh
    assert parse_period(expected.label) == expected


@pytest.mark.parametrize("text", ["2025-13", "2025Q5", "25-01", "last month", ""])
def test_a_period_that_is_none_of_them_says_what_is_expected(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period(text)


@pytest.mark.parametrize(("value", "printed"), [
    (None, "不可计算"), (Decimal("123456"), "123,456"), (Decimal("0.750000"), "0.75"),
    (Decimal("66.666667"), "66.67"), (Decimal("0.000285"), "0.0003"), (0, "0"),
])
def test_numbers_as_a_report_prints_them(value, printed):
    assert fmt(value) == printed
