"""Reporting periods of the statistics form: a month, a quarter or a year.

The file name says which (`report_YYYYMM`, `report_YYYYQn`, `report_YYYY`, .xlsx or .csv); the form's
title may say it too, in Chinese (`2018年3月`, `2018年第1季度`, `2018年` / `2018年度`) or as `2018-03` /
`2018-Q1`. The loader takes the file name's period, the title's when the name has none, and refuses a
form whose two periods disagree (a March form saved as the first quarter is a steward's mistake to fix,
not a guess to make).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

KINDS = ("month", "quarter", "year")
FILE_NAME = re.compile(r"^report_(\d{4})(?:(0[1-9]|1[0-2])|[Qq]([1-4]))?\.(?:xlsx|csv)$", re.IGNORECASE)
# a name that does not follow the pattern (e.g. `ingest file 县报表_202601_final.xlsx`) may still carry a
# month (YYYYMM or a YYYYMMDD date) or a quarter; a bare four-digit number is too weak a hint for a year
LOOSE_NAME = re.compile(r"(?<!\d)(\d{4})(?:(\d{2})(?:\d{2})?|[Qq]([1-4]))(?![\dA-Za-z])")
CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}
# 2018年1-3月 / 2018年1月至3月: a quarter when it spans one, the year when it spans 1-12
TITLE_RANGE = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月?\s*[-–—~～至到]\s*(\d{1,2})\s*月")
TITLE_ZH = re.compile(r"(?<!\d)(\d{4})\s*年\s*(?:第\s*([1-4一二三四])\s*季度?|(\d{1,2})\s*月)?")
LATER_QUARTER = re.compile(r"第\s*([1-4一二三四])\s*季度?")
LATER_MONTH = re.compile(r"(?<!\d)(\d{1,2})\s*月(?!度)")  # 3月, not 月度 (monthly)
TITLE_QUARTER = re.compile(r"(?<!\d)(\d{4})\s*-?\s*Q([1-4])(?!\d)", re.IGNORECASE)
TITLE_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class Period:
    kind: str   # month | quarter | year
    start: date  # first day of the period

    @property
    def end(self) -> date:
        """First day after the period (exclusive end)."""
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        index = self.start.year * 12 + self.start.month - 1 + months
        return date(index // 12, index % 12 + 1, 1)

    def describe(self) -> str:
        if self.kind == "year":
            return f"the year {self.start.year}"
        if self.kind == "quarter":
            return f"quarter {self.start.year}Q{(self.start.month - 1) // 3 + 1}"
        return f"the month {self.start:%Y-%m}"


def _period(year: str, month: str | None, quarter: str | None) -> Period | None:
    y = int(year)
    if quarter:
        q = CHINESE_DIGITS.get(quarter) or int(quarter)
        return Period("quarter", date(y, 3 * q - 2, 1))
    if month:
        m = int(month)
        return Period("month", date(y, m, 1)) if 1 <= m <= 12 else None
    return Period("year", date(y, 1, 1))


def from_file_name(name: str) -> Period | None:
    """`report_201803.xlsx` → March 2018, `report_2018Q1.csv` → 2018Q1, `report_2018.csv` → 2018; else None."""
    match = FILE_NAME.match(name)
    if match:
        return _period(*match.groups())
    loose = LOOSE_NAME.search(name)
    return _period(*loose.groups()) if loose else None


def from_title(title: str | None) -> Period | None:
    """The period a form's title names (first match), or None."""
    if not title:
        return None
    span = TITLE_RANGE.search(title)
    if span:
        year, first, last = (int(g) for g in span.groups())
        if (first, last) == (1, 12):
            return Period("year", date(year, 1, 1))
        if first % 3 == 1 and last == first + 2:
            return Period("quarter", date(year, first, 1))
        return None  # some other span of months is no period of the form
    match = TITLE_ZH.search(title)
    if match:
        year, quarter, month = match.groups()
        if not (quarter or month):  # "砚山县2026年服务点月度统计报表（3月）": the month may come later
            rest = title[match.end():]
            later_quarter, later_month = LATER_QUARTER.search(rest), LATER_MONTH.search(rest)
            quarter = later_quarter.group(1) if later_quarter else None
            month = later_month.group(1) if later_month and not later_quarter else None
        return _period(year, month, quarter)
    for pattern, groups in ((TITLE_QUARTER, (1, None, 2)), (TITLE_MONTH, (1, 2, None))):
        match = pattern.search(title)
        if match:
            return _period(*(match.group(g) if g else None for g in groups))
    return None
