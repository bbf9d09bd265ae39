"""When libraries are open, and how busy a day is: weekends, Chinese public holidays, school vacations.

Rules (documented in docs/feeds.md, Generator notes):
- A library is open on a day when it is valid (valid_from ≤ day < valid_to) and its weekly schedule opens
  it that weekday, except on public holidays (法定节假日 rest days, from `chinese_calendar`):
  the first three days of the Spring Festival holiday everything but 24h self-service is closed;
  on other holiday rest days county main, prefecture and provincial libraries open 9:00–17:00 and
  branches, service points and book vans are closed.
- Outside the years `chinese_calendar` knows, only the weekly schedule applies.
- School vacations (winter 15 Jan – 20 Feb, summer 5 Jul – 31 Aug) raise loans and the children's share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
import numpy as np

from .province import Library

BIG = 1 << 30


@dataclass(frozen=True)
class Day:
    day: date
    holiday: str | None      # name of the public holiday when this is a rest day of one
    spring_closed: bool      # one of the first three days of the Spring Festival holiday
    weekend: bool            # a rest day that is not a holiday (adjusted working Saturdays are not)
    vacation: bool


@lru_cache(maxsize=4096)
def day_info(day: date) -> Day:
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        workday = chinese_calendar.is_workday(day)
    except NotImplementedError:
        on_holiday, name, workday = day.weekday() >= 5, None, day.weekday() < 5
    holiday = name if (on_holiday and name) else None
    spring_closed = False
    if holiday == "Spring Festival":
        k = 0
        prev = day - timedelta(days=1)
        while _holiday_name(prev) == "Spring Festival":
            k += 1
            prev -= timedelta(days=1)
        spring_closed = k < 3
    md = (day.month, day.day)
    vacation = (1, 15) <= md <= (2, 20) or (7, 5) <= md <= (8, 31)
    return Day(day, holiday, spring_closed, (not workday) and holiday is None, vacation)


@lru_cache(maxsize=4096)
def _holiday_name(day: date) -> str | None:
    try:
        on, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return name if on else None


def hours(lib: Library, info: Day) -> tuple[int, int] | None:
    """Opening hours (open, close) of the library on that day, or None when it is closed."""
    if not lib.valid_on(info.day):
        return None
    if lib.level == "self_service":
        return lib.schedule.get(info.day.weekday())
    if info.spring_closed:
        return None
    if info.holiday:
        if lib.level in ("county", "prefecture", "province"):
            return (9, 17)
        return None
    return lib.schedule.get(info.day.weekday())


def traffic(lib: Library, info: Day) -> float:
    """How busy the library is that day relative to an ordinary weekday."""
    f = 1.0
    if info.weekend:
        f *= 1.45 if lib.level in ("county", "self_service", "prefecture", "province") else 1.2
    if info.holiday:
        f *= 0.75 if info.holiday == "Spring Festival" else 1.3
    if info.vacation:
        f *= 1.2
    return f


class OpenGrid:
    """Open/closed and hours of every library of a county over the simulated days, as arrays."""

    def __init__(self, libs: list[Library], days: list[date]):
        self.days = days
        self.infos = [day_info(d) for d in days]
        n, m = len(libs), len(days)
        self.open_h = np.zeros((n, m), dtype=np.int16)
        self.close_h = np.zeros((n, m), dtype=np.int16)
        self.is_open = np.zeros((n, m), dtype=bool)
        self.factor = np.zeros((n, m), dtype=np.float64)
        for i, lib in enumerate(libs):
            for j, info in enumerate(self.infos):
                h = hours(lib, info)
                if h:
                    self.is_open[i, j] = True
                    self.open_h[i, j], self.close_h[i, j] = h
                    self.factor[i, j] = traffic(lib, info)
        # next_open[i, j]: first day index ≥ j on which library i is open (BIG when none in the horizon)
        idx = np.where(self.is_open, np.arange(m)[None, :], BIG)
        self.next_open = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
