"""Which days a run of shuyun_ingest loads: params, data interval, or the day before a manual run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shuyun.orchestration.intervals import IntervalError, resolve

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("params", "start", "end", "expected"),
    [
        pytest.param({"start": "2026-03-01", "end": "2026-04-01"}, None, None,
                     (date(2026, 3, 1), date(2026, 4, 1)), id="params-win-over-everything"),
        pytest.param({"start": "2026-03-05"}, None, None, (date(2026, 3, 5), date(2026, 3, 6)),
                     id="start-only-one-day"),
        pytest.param({}, datetime(2026, 3, 1, 2, tzinfo=SHANGHAI), datetime(2026, 3, 2, 2, tzinfo=SHANGHAI),
                     (date(2026, 3, 1), date(2026, 3, 2)), id="scheduled-daily-interval"),
        pytest.param({}, datetime(2026, 2, 28, 18, tzinfo=UTC), datetime(2026, 3, 1, 18, tzinfo=UTC),
                     (date(2026, 3, 1), date(2026, 3, 2)), id="utc-interval-in-local-days"),
        pytest.param({"start": None, "end": ""}, datetime(2026, 3, 1, 2, tzinfo=SHANGHAI),
                     datetime(2026, 3, 8, 2, tzinfo=SHANGHAI), (date(2026, 3, 1), date(2026, 3, 8)),
                     id="empty-params-fall-through"),
        pytest.param({}, datetime(2026, 3, 9, 1, tzinfo=UTC), datetime(2026, 3, 9, 1, tzinfo=UTC),
                     (date(2026, 3, 8), date(2026, 3, 9)), id="zero-width-interval-gives-previous-day"),
    ],
)
def test_resolve_period(params, start, end, expected):
    # given a run's params and data interval / when resolved / then the half-open local period
    assert resolve(params, start, end) == expected


def test_manual_run_without_interval_loads_the_previous_local_day():
    # given a manual run at 2026-03-09 23:30 UTC (= 03-10 07:30 in Shanghai) with no params and no interval
    run_after = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    # then the period is the whole local day before it
    assert resolve({}, None, None, run_after) == (date(2026, 3, 9), date(2026, 3, 10))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"start": "2026-03-05", "end": "2026-03-05"}, "must be after start", id="empty-period"),
        pytest.param({"start": "2026-03-05", "end": "2026-03-01"}, "must be after start", id="reversed"),
        pytest.param({"end": "2026-03-05"}, "without start", id="end-only"),
        pytest.param({"start": "05/03/2026"}, "not a date", id="not-iso"),
        pytest.param({"start": "1990-01-01", "end": "2026-01-01"}, "more than", id="decades"),
    ],
)
def test_bad_params_are_one_clear_sentence(params, message):
    with pytest.raises(IntervalError, match=message):
        resolve(params)


def test_nothing_to_go_on_is_an_error_not_a_guess():
    with pytest.raises(IntervalError, match="neither"):
        resolve({}, None, None, None)
