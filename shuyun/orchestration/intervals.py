"""Which days a run of `shuyun_ingest` loads.

The province's day is the Asia/Shanghai calendar day. A load period is half-open, `[start, end)` in
local dates: `(2026-03-01, 2026-03-02)` is the single day 1 March. That is the shape of Airflow's data
intervals, and it means consecutive runs neither overlap nor leave gaps.

Three cases, in this order:
1. explicit `start`/`end` params (a manual run, an initial load, a re-load of one month);
2. the run's data interval, when it has width (scheduled runs under CronDataIntervalTimetable, backfills,
   manual runs Airflow inferred an interval for);
3. otherwise (zero-width interval, e.g. a manual run of a cron-scheduled DAG without params): the last
   complete local day before the run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 3660  # ten years: a longer period is a typo, not an initial load


class IntervalError(ValueError):
    """A load period that cannot be used, explained in one sentence."""


def _to_date(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise IntervalError(f"param {name}={value!r} is not a date (expected YYYY-MM-DD)") from None


def local_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware datetime (naive ones are taken as UTC, as Airflow does)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(TIMEZONE).date()


def resolve(
    params: dict | None = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    run_after: datetime | None = None,
) -> tuple[date, date]:
    """The half-open local-date period `[start, end)` a run loads (see the module doc for the rules)."""
    params = params or {}
    start, end = _to_date(params.get("start"), "start"), _to_date(params.get("end"), "end")
    if start or end:
        if start is None:
            raise IntervalError(f"param end={end} was given without start")
        end = end or start + timedelta(days=1)
        return _checked(start, end, "params")
    if data_interval_start is not None and data_interval_end is not None:
        start, end = local_day(data_interval_start), local_day(data_interval_end)
        if end > start:
            return _checked(start, end, "data interval")
        moment = data_interval_end
    else:
        moment = run_after
    if moment is None:
        raise IntervalError("the run has neither params start/end, nor a data interval, nor a run time")
    day = local_day(moment)
    return day - timedelta(days=1), day


def _checked(start: date, end: date, origin: str) -> tuple[date, date]:
    if end <= start:
        raise IntervalError(f"{origin}: end {end} must be after start {start} (the end day is not loaded)")
    if (end - start).days > MAX_DAYS:
        raise IntervalError(f"{origin}: {start}..{end} spans {(end - start).days} days; more than {MAX_DAYS}")
    return start, end
