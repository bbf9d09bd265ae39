"""Write seeds/chinese_calendar_days.csv: one row per day 2018-01-01..2026-12-31.

Run once (and again when the State Council publishes a new year's holiday arrangement and the
`chinese_calendar` package is updated):  .venv/bin/python dbt/scripts/make_calendar_seed.py

Columns: date_day, is_public_holiday (statutory day off), holiday_name_zh, is_workday (调休 aware:
a weekend made a working day counts as a workday), is_school_vacation.

School vacations are a documented simplification (they differ by province and year):
winter vacation = 14 days before to 17 days after Spring Festival (春节, lunar new year),
which lands roughly mid/late January to mid/late February; summer vacation = 1 July to 31 August.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import chinese_calendar

FIRST, LAST = dt.date(2018, 1, 1), dt.date(2026, 12, 31)
OUT = Path(__file__).resolve().parent.parent / "seeds" / "chinese_calendar_days.csv"

# Lunar new year (春节) dates; chinese_calendar knows the days off but not the festival day itself.
SPRING_FESTIVAL = {
    2018: dt.date(2018, 2, 16),
    2019: dt.date(2019, 2, 5),
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
}
WINTER_BEFORE, WINTER_AFTER = dt.timedelta(days=14), dt.timedelta(days=17)

HOLIDAY_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def school_vacation(day: dt.date) -> bool:
    festival = SPRING_FESTIVAL[day.year]
    if festival - WINTER_BEFORE <= day <= festival + WINTER_AFTER:
        return True
    return dt.date(day.year, 7, 1) <= day <= dt.date(day.year, 8, 31)


def rows():
    day = FIRST
    while day <= LAST:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        # A named day that is a holiday is a statutory day off; a named workday is a 调休 working weekend.
        public_holiday = bool(on_holiday and name)
        yield {
            "date_day": day.isoformat(),
            "is_public_holiday": str(public_holiday).lower(),
            "holiday_name_zh": HOLIDAY_ZH[name] if public_holiday else "",
            "is_workday": str(chinese_calendar.is_workday(day)).lower(),
            "is_school_vacation": str(school_vacation(day)).lower(),
        }
        day += dt.timedelta(days=1)


def main() -> None:
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["date_day", "is_public_holiday", "holiday_name_zh", "is_workday",
                                                "is_school_vacation"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
