"""The incremental facts built day by day equal a full refresh, row for row.

Given the bench province of shuyun/transform_bench.py (8 counties, loan cycles with renewals and returns at
other libraries, late events, duplicated deliveries) delivered one day at a time, plus one event delivered
again with a corrected time on another day, when `dbt run` builds the incremental facts after every
delivery, then fct_circulation_events, fct_library_daily and fct_loans hold exactly the rows a
`--full-refresh` computes from all of raw.
"""

from __future__ import annotations

import psycopg
import pytest
from sample_province import RAW_TABLES

from shuyun import transform_bench as bench
from shuyun.transform import run_dbt

pytestmark = pytest.mark.slow  # a dbt run per delivered day

FACTS = {
    "fct_circulation_events": "event_id",
    "fct_library_daily": "library_code, date_day",
    "fct_loans": "loan_id",
}
DAYS = 8
REDATED_ON = 5  # the day whose delivery also carries an older event again, moved to the next day


def _facts(conninfo: str) -> dict[str, list[tuple]]:
    with psycopg.connect(conninfo) as conn:
        return {name: conn.execute(f"select * from marts.{name} order by {key}").fetchall()
                for name, key in FACTS.items()}


def _redeliver_moved(conninfo: str, day: int) -> str:
    """Deliver again, in `day`'s batch of its county, an event of two days before with its time moved a day on."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        event_id, = conn.execute("""
            insert into raw.circulation_events
            select source_event_id, county_code, library_code, event_type, event_at + interval '1 day', item_barcode,
                reader_key, reader_home_library, due_date, channel, county_code || '-' || %(day)s, _source, _file,
                1000000000 + _line, (select max(_loaded_at) from raw.circulation_events
                                     where _batch_id = county_code || '-' || %(day)s)
            from raw.circulation_events
            where _batch_id = '532622-' || %(old)s and event_type = 'loan'
                and (event_at at time zone 'Asia/Shanghai')::date = %(first)s::date + %(old)s
            order by _line
            limit 1
            returning _source || ':' || source_event_id""",
            {"day": day, "old": day - 2, "first": bench.FIRST_DAY}).fetchone()
    return event_id


@pytest.fixture(scope="module")
def delivered_day_by_day(warehouse_env):
    conninfo = warehouse_env.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_TABLES) + ", quality.blocked_batches")
        for statement in bench.registry_sql():
            conn.execute(statement)
    calendar = bench.Calendar(days=DAYS, cycles_per_day=60)
    facts = " ".join(FACTS)
    moved = None
    for day in range(DAYS):
        bench.deliver(conninfo, calendar, day, day)
        if day == REDATED_ON:
            moved = _redeliver_moved(conninfo, day)
        if day == 0:  # the first run builds what the facts read, and the facts in full
            run_dbt(["run", "--full-refresh", "--select", f"+{facts.replace(' ', ' +')}"])
        else:  # a short look-back, so late events must re-open their days by themselves
            run_dbt(["run", "--select", facts, "--vars", "{late_arrival_days: 1}"])
    return warehouse_env, moved


def test_day_by_day_equals_full_refresh(delivered_day_by_day):
    owner, moved = delivered_day_by_day
    incremental = _facts(owner.conninfo())
    assert all(incremental.values())

    run_dbt(["run", "--full-refresh", "--select", *FACTS])
    full = _facts(owner.conninfo())

    for name in FACTS:
        assert incremental[name] == full[name], f"{name}: incremental rows differ from a full refresh"


def test_a_moved_event_is_kept_once_on_its_new_day(delivered_day_by_day):
    owner, moved = delivered_day_by_day
    with psycopg.connect(owner.conninfo()) as conn:
        days = conn.execute("select event_date - %s::date from marts.fct_circulation_events where event_id = %s",
                            (bench.FIRST_DAY, moved)).fetchall()
    assert days == [(REDATED_ON - 1,)]
