"""Issue 5, "done when": a backfill of three days is idempotent — the same marts after running it twice.

Airflow runs for real as the project runs it (`service.start()`: api-server, scheduler, dag-processor,
triggerer in a SHUYUN_HOME of the test's own) on a generated test-size province with its faults (duplicates,
a truncated file, barcodes out of range), loading into a warehouse database of its own. The backfill goes
through `service.backfill` — what `shuyun airflow backfill` calls — and the raw Asset its runs emit schedules
`shuyun_transform` (dbt and the GX gates for real). The marts are snapshotted (rows and an md5 of the
ordered rows per table), the same backfill is asked for again (the CLI's default: nothing to create) and
then forced to run every day again (`reprocess="completed"`), and the marts and the ledger must not move.
Takes several minutes: `slow`.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from datetime import date

import psycopg
import pytest
from psycopg import sql

from shuyun import warehouse as wh
from shuyun.demo import generate, preset
from shuyun.orchestration import service

pytestmark = pytest.mark.slow

FIRST, END = "2026-03-01", "2026-03-04"  # three local days; the province also delivers 03-04 and 03-05
DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")
RAW_TABLES = ("raw.circulation_events", "raw.visitor_counts", "raw.holdings_items", "raw.monthly_reports",
              "raw.activities", "raw.rotations", "raw.libraries", "raw.barcode_ranges", "quarantine.rejected_rows")


@pytest.fixture
def backfill_airflow(tmp_path, monkeypatch, warehouse_env):
    """Airflow of the test's own (home, metadata database) over a fresh warehouse database and a generated province.

    The province starts on 2026-03-01 (after the DAG's start_date) and runs five days, so the backfill's
    three days leave two days of deliveries that must stay unloaded.
    """
    province = tmp_path / "province"
    generate(preset("test", start=date(2026, 3, 1), days=5), province)
    stamp = f"{int(time.time())}"
    warehouse = wh.create_database(f"shuyun_backfill_{stamp}")
    metadata = f"airflow_backfill_{stamp}"
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(metadata)))
    for role in wh.ROLES:  # cluster-wide role passwords: a new SHUYUN_HOME would generate new ones
        monkeypatch.setenv(f"SHUYUN_{role.upper()}_PASSWORD", wh.role_password(role))
    monkeypatch.setenv("SHUYUN_WAREHOUSE_URL", warehouse.url("postgresql"))
    monkeypatch.setenv("SHUYUN_WAREHOUSE_DB", warehouse.dbname)
    monkeypatch.setenv("SHUYUN_AIRFLOW_DB_URL", wh.address("owner", dbname=metadata).url("postgresql"))
    monkeypatch.setenv("SHUYUN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHUYUN_SOURCES", str(province / "sources.yml"))
    monkeypatch.setenv("SHUYUN_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("SHUYUN_PSEUDONYM_KEY", "test-key-not-a-secret")
    monkeypatch.delenv("SHUYUN_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.setenv("SHUYUN_AIRFLOW_RETRIES", "0")
    # dbt's target and logs of our own: the demo's Airflow may be building into dbt/target right now
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    monkeypatch.delenv("SHUYUN_AIRFLOW_PORT", raising=False)
    service._TOKEN.clear()
    try:
        yield warehouse, province
    finally:
        service.stop()
        monkeypatch.undo()
        service._TOKEN.clear()
        with wh.connect(dbname="postgres", autocommit=True) as conn:
            for name in (metadata, warehouse.dbname):
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _backfill_and_settle(start: str, end: str, reprocess: str, timeout: float = 1800) -> tuple[dict, list[dict]]:
    """One backfill of shuyun_ingest through the project's path, waited for, then the transform runs it scheduled.

    Returns the backfill and its ingest runs. Settled means: the backfill completed, and the first
    asset-triggered transform run that started after the last `raw_landed` succeeded, with none queued behind it.
    """
    # downstream=False: the test unpauses transform itself; publish stays paused (it would start a Superset)
    answer = service.backfill("shuyun_ingest", start, end, reprocess=reprocess, downstream=False)
    deadline = time.monotonic() + timeout

    def settled(what: str, done) -> None:
        _until(what, done, max(deadline - time.monotonic(), 1))

    settled(f"backfill {answer['id']}", lambda: service.api("GET", f"backfills/{answer['id']}").get("completed_at"))
    # unpausing also starts the daily schedule (the latest closed day, nothing to load): let that run end too
    settled("shuyun_ingest runs", lambda: not service.api(
        "GET", "dags/shuyun_ingest/dagRuns", state=["queued", "running"])["total_entries"])
    every = service.api("GET", "dags/shuyun_ingest/dagRuns", limit=100)["dag_runs"]
    runs = [r for r in every if r["run_type"] == "backfill"]
    for run in runs:
        if run["state"] != "success":  # RunFailed names the failed tasks and quotes their logs
            service.wait("shuyun_ingest", run["dag_run_id"], timeout=60)
    landed = max(filter(None, (service.task_ended("shuyun_ingest", r["dag_run_id"], "raw_landed") for r in every)))
    service.wait_asset_run("shuyun_transform", landed, timeout=max(deadline - time.monotonic(), 60))
    settled("shuyun_transform runs", lambda: not service.api(
        "GET", "dags/shuyun_transform/dagRuns", state=["queued", "running"])["total_entries"])
    return service.api("GET", f"backfills/{answer['id']}"), runs


def _until(what: str, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not done within {timeout:.0f}s")
        time.sleep(3)


def _ingest_runs() -> dict[str, tuple[str, str]]:
    runs = service.api("GET", "dags/shuyun_ingest/dagRuns", limit=100)["dag_runs"]
    return {r["dag_run_id"]: (r["state"], r["end_date"]) for r in runs}


def _marts(owner) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of the ordered rows (as text) of every table in marts."""
    with psycopg.connect(owner.conninfo()) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE' order by 1")]
        return {table: conn.execute(sql.SQL(
            "select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from marts.{} t"
        ).format(sql.Identifier(table))).fetchone() for table in tables}


def _ledger(owner) -> dict:
    """Every ledger row as it stands (a re-load would change its status, counts or finished_at) and raw's rows."""
    with psycopg.connect(owner.conninfo()) as conn:
        batches = {r[0]: r[1:] for r in conn.execute(
            "select batch_id, source, feed, file_name, status, rows_loaded, rows_quarantined, finished_at "
            "from raw.ingest_batches")}
        rows = {table: conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(table))).fetchone()[0]
                for table in RAW_TABLES}
    return {"batches": batches, "rows": rows}


def test_a_three_day_backfill_twice_gives_the_same_marts(backfill_airflow):
    owner, province = backfill_airflow
    began = time.monotonic()
    info = service.start(timeout=600)
    service.unpause("shuyun_transform")
    started = time.monotonic()

    # when three days are backfilled through the project's path
    first, runs = _backfill_and_settle(FIRST, END, reprocess="failed")
    once = time.monotonic()
    # then one ingest run per day ran, and exactly those days' daily files loaded (03-04 and 03-05 did not)
    assert len(runs) == 3
    ledger = _ledger(owner)
    daily = {(source, name) for source, feed, name, *_ in ledger["batches"].values()
             if feed in ("circulation", "visits")}
    assert {name[-12:-4] for _, name in daily} == {d.replace("-", "") for d in DAYS}
    assert len(daily) == 3 * 2 * 3, sorted(daily)  # 3 counties x 2 daily feeds x 3 days
    marts = _marts(owner)
    assert marts["fct_circulation_events"][0] > 0 and marts["fct_library_daily"][0] > 0
    # and the marts hold what the generator says happened on those days (its oracle counts its own faults)
    expected = Counter()
    with (province / "expected" / "circulation_by_county_day.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["date"] in DAYS:
                expected[(row["county_code"], row["date"], row["event_type"])] += int(row["events"])
    with psycopg.connect(owner.conninfo()) as conn:
        got = Counter({(c, d.isoformat(), k): n for c, d, k, n in conn.execute(
            "select county_code, event_date, event_type, count(*) from marts.fct_circulation_events group by 1, 2, 3")})
    assert got == expected

    # when the same backfill is asked for again (the CLI's default: intervals that succeeded are kept)
    before = _ingest_runs()
    again = service.backfill("shuyun_ingest", FIRST, END, downstream=False)
    if "id" in again:  # Airflow 3.3 records a backfill whose every interval is skipped; older ones answer 422
        _until(f"backfill {again['id']}", lambda: service.api("GET", f"backfills/{again['id']}").get("completed_at"),
               300)
    # then it completes without creating or re-running any run
    assert _ingest_runs() == before

    # when every day of it is forced to run again, and transform with it
    forced, rerun = _backfill_and_settle(FIRST, END, reprocess="completed")
    twice = time.monotonic()
    # then the same three days ran a second time, and nothing was loaded twice nor the marts changed
    assert forced["id"] != first["id"]
    assert sorted(r["logical_date"] for r in rerun) == sorted(r["logical_date"] for r in runs)
    assert _ledger(owner) == ledger
    assert _marts(owner) == marts
    print(f"\nbackfill idempotency: airflow start {started - began:.0f} s ({'cold' if info.started else 'warm'}), "
          f"first backfill + transform {once - started:.0f} s, forced re-run + transform {twice - once:.0f} s; "
          f"marts: { {t: n for t, (n, _) in marts.items()} }")
