"""dbt benchmark: a full `dbt build`, then a one-day incremental run at history x1 and at history x10.

    shuyun bench dbt --events 2000000            # N events over --days days, then 10·N
    shuyun bench dbt --events 200000 --keep      # keep the bench database (shuyun_bench_dbt) to look at

Builds its own warehouse database (`shuyun_bench_dbt`, dropped at the end unless --keep) and fills raw with
SQL `generate_series` (seconds, not the demo generator's minutes): 8 counties in two prefectures, 31 libraries
each (总馆, 10 分馆, 20 服务点), their item and reader barcode ranges, one holdings snapshot, and loan cycles
(loan, a renewal for 30 %, a return for 90 % — a fifth at another library of the county, 通借通还) delivered
as one batch per county and day with its ledger row, a few events a day late and a few delivered twice.

1. history x1: N events over D days; `dbt build` (everything, tests included) — full_build_s;
2. the next day's deliveries (N/D events); `dbt run` of the incremental facts — incr_x1_s;
3. 9·N events of older history loaded and built into the facts (`--full-refresh`, not timed);
4. the next day's deliveries again (same volume); the same `dbt run` — incr_x10_s.

incr_ratio = incr_x10_s / incr_x1_s: the target is ≤ 1.3 (a daily run costs the day, not the history).
The incremental runs are `dbt run --select fct_circulation_events fct_library_daily fct_loans`, the facts
a daily delivery changes (the marts built from whole facts, and the tests, are not part of them). Before
each, raw and the facts are vacuumed and analyzed (untimed), as autovacuum keeps a warehouse in service.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass

import click

BENCH_DB = "shuyun_bench_dbt"
INCREMENTAL_FACTS = ["fct_circulation_events", "fct_library_daily", "fct_loans"]
FIRST_DAY = dt.date(2025, 1, 1)
PREFECTURES = {"532600": ["532622", "532623", "532624", "532625"], "532500": ["532522", "532523", "532524", "532525"]}
COUNTIES = [county for counties in PREFECTURES.values() for county in counties]
SUB_CODES = ["000", *(f"{i:03d}" for i in range(1, 11)), *(f"{i:03d}" for i in range(101, 121))]
ITEMS_PER_LIBRARY = 1_000
READERS_PER_LIBRARY = 3_000
EVENTS_PER_CYCLE = 2.2  # a loan, 0.3 renewals, 0.9 returns
# a loan's renewal and return come within 60 days: cycles up to 60 days before a delivery day can deliver on it
CYCLE_REACH_DAYS = 60


@dataclass(frozen=True)
class Calendar:
    """Day numbers of the bench: history x10 is days [0, 10·D), history x1 its last D days, then two new days."""

    days: int
    cycles_per_day: int

    @property
    def x1_days(self) -> tuple[int, int]:
        return 9 * self.days, 10 * self.days - 1

    @property
    def older_days(self) -> tuple[int, int]:
        return 0, 9 * self.days - 1

    @property
    def next_days(self) -> tuple[int, int]:
        return 10 * self.days, 10 * self.days + 1


def registry_sql(prefectures: dict[str, list[str]] = PREFECTURES) -> list[str]:
    """Libraries (prefecture, county, branch, service point), barcode ranges, one holdings snapshot.

    `prefectures`: prefecture code → its county codes (six digits each; the last three must differ between
    counties, as they make the item barcodes). Default: the bench's 8 counties in two prefectures.
    """
    libraries, ranges = [], []
    for prefecture, counties in prefectures.items():
        libraries.append(f"('{prefecture}000', '{prefecture}州图书馆', 'prefecture', null, '{prefecture}')")
        for county in counties:
            for sub in SUB_CODES:
                code = f"{county}{sub}"
                level, parent = (("county", f"{prefecture}000") if sub == "000"
                                 else ("branch", f"{county}000") if int(sub) < 100
                                 else ("service_point", f"{county}{int(sub) % 10 + 1:03d}"))
                libraries.append(f"('{code}', '馆{code}', '{level}', {_q(parent)}, '{county}')")
                item = f"2{county[3:]}{sub}"
                ranges.append(f"('item', {item}000000001, {item}999999999, '{code}')")
                ranges.append(f"('reader', {code}000001, {code}999999, '{code}')")
    meta = "'bench-registry', 'registry', 'registry/libraries.csv', 1, timestamptz '2024-12-31 08:00+08'"
    return [
        "insert into raw.libraries (library_code, name_zh, level, parent_code, division_code, population_served,"
        " valid_from, _batch_id, _source, _file, _line, _loaded_at)"
        f" select code, name, level, parent, division, 100000, date '2015-01-01', {meta}"
        f" from (values {', '.join(libraries)}) as v (code, name, level, parent, division)",
        "insert into raw.barcode_ranges (kind, first_barcode, last_barcode, library_code,"
        " _batch_id, _source, _file, _line, _loaded_at)"
        f" select kind, first_barcode, last_barcode, code, {meta}"
        f" from (values {', '.join(ranges)}) as v (kind, first_barcode, last_barcode, code)",
        # one snapshot: every item of every library, a CLC class and a children's flag from its serial
        "insert into raw.holdings_items (county_code, item_barcode, owning_library, current_library, bib_id,"
        " clc_class, is_children, acquired_on, status, _batch_id, _source, _file, _line, _loaded_at)"
        " select left(r.library_code, 6), (r.first_barcode + s.n - 1)::text, r.library_code, r.library_code,"
        " 'bib' || s.n, (array['I247', 'K820', 'G623', 'TP31', 'J228', 'H319'])[1 + s.n % 6], s.n % 5 = 0,"
        " date '2015-01-01' + (s.n % 3000), 'available', 'bench-holdings-' || left(r.library_code, 6),"
        " 'c' || left(r.library_code, 6), 'c' || left(r.library_code, 6) || '/holdings/holdings_20241231.mrc',"
        " s.n, timestamptz '2024-12-31 23:00+08'"
        f" from raw.barcode_ranges r cross join generate_series(1, {ITEMS_PER_LIBRARY}) as s (n)"
        " where r.kind = 'item'",
    ]


def _q(value: str | None) -> str:
    return "null" if value is None else f"'{value}'"


def events_sql(calendar: Calendar, first: int, last: int, counties: list[str] = COUNTIES) -> str:
    """Insert the events delivered on days [first, last] (day numbers from FIRST_DAY).

    A loan cycle c is lent on day c / cycles_per_day at one of the county's 31 libraries; every number
    below is drawn from hashint8 of the cycle, so any range of days can be generated on its own and the
    same cycle always gives the same events. Each event goes into the batch of its county and delivery
    day: its own day, the next for 0.5 % (late), and 0.2 % arrive a second time the next day (duplicate).
    `counties`: the counties the cycles are spread over (those of registry_sql's prefectures).
    """
    libraries = len(SUB_CODES)
    cycles = (max(first - CYCLE_REACH_DAYS, 0) * calendar.cycles_per_day, (last + 1) * calendar.cycles_per_day - 1)
    return f"""
    insert into raw.circulation_events (source_event_id, county_code, library_code, event_type, event_at,
        item_barcode, reader_key, reader_home_library, due_date, channel, _batch_id, _source, _file, _line,
        _loaded_at)
    with cycles as (
        select
            c,
            (array['{"','".join(counties)}'])[1 + abs(hashint8(c * 16 + 1)) % {len(counties)}] as county,
            (array['{"','".join(SUB_CODES)}'])[1 + abs(hashint8(c * 16 + 2)) % {libraries}] as sub,
            (array['{"','".join(SUB_CODES)}'])[1 + abs(hashint8(c * 16 + 3)) % {libraries}] as other_sub,
            abs(hashint8(c * 16 + 4)) as h,
            timestamptz '{FIRST_DAY} 08:00+08' + (c / {calendar.cycles_per_day}) * interval '1 day'
                + (abs(hashint8(c * 16 + 5)) % 43200) * interval '1 second' as loan_at
        from generate_series({cycles[0]}::bigint, {cycles[1]}::bigint) as c
    ),
    cycle_events as (
        select
            cycles.*,
            kind,
            case kind
                when 0 then loan_at
                when 1 then loan_at + (10 + h % 10) * interval '1 day' + (h % 3600) * interval '1 second'
                else loan_at + (1 + h % 20 + case when h % 10 < 3 then 20 else 0 end) * interval '1 day'
                    + (h % 7200) * interval '1 second'
            end as event_at
        from cycles
        cross join lateral (values (0), (1), (2)) as k (kind)
        where kind = 0 or (kind = 1 and h % 10 < 3) or (kind = 2 and h % 100 < 90)
    ),
    placed as (
        select
            *,
            -- the item belongs to the lending library four times in five, else to another of the county
            case when h % 5 = 0 then other_sub else sub end as item_sub,
            -- a fifth of the returns happen at another library (通借通还), the rest where it was lent
            county || case when kind = 2 and (h / 13) % 5 = 0 then other_sub else sub end as library_code,
            ((event_at at time zone 'Asia/Shanghai')::date - date '{FIRST_DAY}') as event_day
        from cycle_events
    ),
    delivered as (
        -- its own day's batch (the next day's for 0.5 %: late), and 0.2 % a second time the next day
        select placed.*, event_day + copy.late as delivery_day, copy.n as copy_no
        from placed
        cross join lateral (values (0, case when abs(hashint8(c * 16 + 6 + kind)) % 200 = 0 then 1 else 0 end),
                                   (1, 1)) as copy (n, late)
        where copy.n = 0 or abs(hashint8(c * 16 + 9 + kind)) % 500 = 0
    )
    select
        'E' || c || '-' || kind,
        county,
        library_code,
        (array['loan', 'renew', 'return'])[kind + 1],
        event_at,
        (('2' || substr(county, 4) || item_sub)::bigint * 1000000000 + 1 + (h / 7) % {ITEMS_PER_LIBRARY})::text,
        -- returns carry no reader, as in interlib and koha; readers are the lending library's 17 times in 20
        case when kind < 2 then md5('reader' || county || reader_sub || (h / 11) % {READERS_PER_LIBRARY}) end,
        case when kind < 2 then county || reader_sub end,
        case when kind < 2 then (event_at at time zone 'Asia/Shanghai')::date + 30 end,
        case when sub >= '101' then 'desk' when h % 2 = 0 then 'self_check' else 'desk' end,
        county || '-' || delivery_day,
        'c' || county,
        'c' || county || '/circulation/circ_' || to_char(date '{FIRST_DAY}' + delivery_day, 'YYYYMMDD') || '.csv',
        c * 8 + kind * 2 + copy_no,
        timestamptz '{FIRST_DAY} 01:00+08' + (delivery_day + 1) * interval '1 day'
            + array_position(array['{"','".join(counties)}'], county) * interval '1 minute'
    from (
        select *, case when (h / 17) % 20 = 0 then other_sub else sub end as reader_sub from delivered
    ) as delivered
    where delivery_day between {first} and {last} and event_day <= {last}
    """


def ledger_sql(first: int, last: int, counties: list[str] = COUNTIES) -> str:
    """The ledger rows of the batches delivered on days [first, last] (the loader writes one per delivery)."""
    return f"""
    insert into raw.ingest_batches (batch_id, source, feed, county_code, file_name, file_sha256, rows_read,
        rows_loaded, rows_quarantined, status, started_at, finished_at)
    select _batch_id, _source, 'circulation', county_code, min(_file), md5(_batch_id), count(*), count(*), 0,
        'loaded', min(_loaded_at), min(_loaded_at) + interval '2 minutes'
    from raw.circulation_events
    where _batch_id = any (array(
        select county || '-' || day
        from unnest(array['{"','".join(counties)}']) as county, generate_series({first}, {last}) as day
    ))
    group by _batch_id, _source, county_code
    """


@dataclass
class Figure:
    seconds: float
    load: float

    def __str__(self) -> str:
        return f"{self.seconds:8.1f} s  (load {self.load:.1f})"


def _timed(action) -> tuple[Figure, object]:
    started = time.perf_counter()
    outcome = action()
    return Figure(time.perf_counter() - started, os.getloadavg()[0]), outcome


def deliver(conninfo: str, calendar: Calendar, first: int, last: int, counties: list[str] = COUNTIES) -> int:
    """Load the deliveries of days [first, last] into raw with their ledger rows; return the lines loaded."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        loaded = conn.execute(events_sql(calendar, first, last, counties)).rowcount
        conn.execute(ledger_sql(first, last, counties))
    return loaded


def _analyze(conninfo: str) -> None:
    """What autovacuum does after a bulk load: planner statistics for raw (a daily delivery is left to it)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("analyze raw.circulation_events, raw.ingest_batches, raw.holdings_items")


def _settle(conninfo: str) -> None:
    """Vacuum and analyze raw and the facts before a timed run, as autovacuum would have long since in a
    warehouse in service: otherwise autovacuum of the bulk-loaded history competes with the timed run, and
    more so at x10."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("vacuum (analyze) raw.circulation_events, raw.ingest_batches, raw.holdings_items,"
                     " marts.fct_circulation_events, marts.fct_library_daily, marts.fct_loans")


def _per_model(result) -> str:
    """Seconds per model of a dbt run, from its run results."""
    return ", ".join(f"{r.node.name} {r.execution_time:.1f} s" for r in result.result.results)


def _facts_built(conninfo: str) -> int:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        return conn.execute("select count(*) from marts.fct_circulation_events").fetchone()[0]


def run(events: int, days: int, keep: bool = False, echo=print) -> dict[str, float]:
    """Generate, build, measure; return the RESULT figures."""
    from shuyun import settings
    from shuyun import warehouse as wh
    from shuyun.transform import describe_failures, run_dbt

    calendar = Calendar(days=days, cycles_per_day=max(1, round(events / days / EVENTS_PER_CYCLE)))
    wh.up()
    owner = wh.create_database(BENCH_DB)
    conninfo = owner.conninfo()
    try:
        # our own database, and our own dbt target folder: never the one a running `shuyun dbt` uses
        with tempfile.TemporaryDirectory(prefix="shuyun-bench-dbt-") as tmp, settings.environ(
                SHUYUN_WAREHOUSE_DB=BENCH_DB, DBT_TARGET_PATH=f"{tmp}/target", DBT_LOG_PATH=f"{tmp}/logs"):
            import psycopg

            with psycopg.connect(conninfo, autocommit=True) as conn:
                for statement in registry_sql():
                    conn.execute(statement)
            filled, x1_lines = _timed(lambda: deliver(conninfo, calendar, *calendar.x1_days))
            _analyze(conninfo)
            echo(f"history x1        : {x1_lines:,} lines over {days} days "
                 f"({calendar.cycles_per_day:,} loan cycles a day, 8 counties) loaded in {filled}")

            full, result = _timed(lambda: run_dbt(["build", "--quiet"], check=False))
            echo(f"full dbt build    : {full}")
            if not result.success:
                # a model outside the incremental chain may be broken while it is being built; say so and go on
                echo(f"  (the build reported failures: {describe_failures(result)})")
                if not _facts_built(conninfo):
                    raise RuntimeError("the full build did not build marts.fct_circulation_events")

            _settle(conninfo)
            day_lines = deliver(conninfo, calendar, calendar.next_days[0], calendar.next_days[0])
            incr_x1, result = _timed(lambda: run_dbt(["run", "--quiet", "--select", *INCREMENTAL_FACTS]))
            echo(f"one day, x1       : {incr_x1}  ({day_lines:,} new lines; {_per_model(result)})")

            older, older_lines = _timed(lambda: deliver(conninfo, calendar, *calendar.older_days))
            _analyze(conninfo)
            echo(f"history x10       : {older_lines:,} older lines ({9 * days} more days) loaded in {older}")
            rebuilt, _ = _timed(lambda: run_dbt(["run", "--quiet", "--full-refresh", "--select", *INCREMENTAL_FACTS]))
            echo(f"facts rebuilt     : {rebuilt}  (--full-refresh of the incremental facts at x10, not timed)")

            _settle(conninfo)
            day_lines = deliver(conninfo, calendar, calendar.next_days[1], calendar.next_days[1])
            incr_x10, result = _timed(lambda: run_dbt(["run", "--quiet", "--select", *INCREMENTAL_FACTS]))
            echo(f"one day, x10      : {incr_x10}  ({day_lines:,} new lines; {_per_model(result)})")

            figures = {
                "events": x1_lines,
                "full_build_s": full.seconds,
                "incr_x1_s": incr_x1.seconds,
                "incr_x10_s": incr_x10.seconds,
                "incr_ratio": incr_x10.seconds / incr_x1.seconds,
            }
            echo(f"ratio x10 / x1    : {figures['incr_ratio']:.2f} (target ≤ 1.3)")
            echo("RESULT " + " ".join(
                f"{k}={v}" if isinstance(v, int) else f"{k}={v:.2f}" for k, v in figures.items()))
            return figures
    finally:
        if keep:
            echo(f"kept the bench database {BENCH_DB} (SHUYUN_WAREHOUSE_DB={BENCH_DB} shuyun warehouse psql)")
        else:
            wh.drop_database(BENCH_DB)


@click.command(name="dbt")
@click.option("--events", type=click.IntRange(min=10_000), default=2_000_000, show_default=True,
              help="Circulation events of history x1 (history x10 has ten times as many).")
@click.option("--days", type=click.IntRange(min=5), default=30, show_default=True,
              help="Days of history x1 (the daily volume is events / days).")
@click.option("--keep", is_flag=True, help="Keep the bench database shuyun_bench_dbt afterwards.")
def bench_dbt(events: int, days: int, keep: bool) -> None:
    """Full dbt build, then a one-day incremental run at history x1 and x10; ends with one RESULT line."""
    from shuyun.transform import DbtError
    from shuyun.warehouse import WarehouseError

    try:
        run(events, days, keep=keep, echo=click.echo)
    except (DbtError, WarehouseError, RuntimeError) as err:
        raise click.ClickException(f"bench dbt failed: {err}") from None
    except Exception as err:  # database error, disk full…: one plain line
        raise click.ClickException(f"bench dbt failed: {type(err).__name__}: {err}") from None
