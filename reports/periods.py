"""Reporting periods as people write them: 2025-02 (month), 2025Q1 (quarter), 2025 (year)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Period:
    period_type: str  # month | quarter | year
    start: date

    @property
    def label_zh(self) -> str:
        if self.period_type == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.period_type == "quarter":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年"

    @property
    def label(self) -> str:
        if self.period_type == "month":
            return f"{self.start:%Y-%m}"
        if self.period_type == "quarter":
            return f"{self.start.year}Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"


def parse_period(text: str) -> Period:
    """'2025-02' → month, '2025Q1' (or 2025-Q1) → quarter, '2025' → year; anything else is a clear error."""
    text = text.strip()
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return Period("month", date(year, month, 1))
    elif m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text):
        return Period("quarter", date(int(m[1]), 3 * (int(m[2]) - 1) + 1, 1))
    elif re.fullmatch(r"\d{4}", text):
        return Period("year", date(int(text), 1, 1))
    raise ValueError(f"period {text!r} is not YYYY-MM (month), YYYYQn (quarter) or YYYY (year)")
