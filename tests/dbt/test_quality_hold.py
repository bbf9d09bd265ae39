"""A delivery the quality gate holds never reaches the marts, and the other counties flow on.

Given a generated province loaded into raw, when one county's circulation delivery is broken and the raw
gate (Great Expectations) blocks it, then `dbt build` leaves exactly that delivery out of the facts while
every other county's events match the generator's oracle."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter

import psycopg
import pytest
from sample_province import RAW_TABLES

from shuyun.transform import run_dbt

pytestmark = pytest.mark.slow  # generate + ingest + GX + dbt build


@pytest.fixture(scope="module")
def held_province(warehouse_env, tmp_path_factory):
    import ingestion
    import quality

    out = tmp_path_factory.mktemp("held") / "province"
    subprocess.run([sys.executable, "-m", "shuyun.cli", "demo", "generate", "--size", "test", "--days", "4",
                    "--seed", "23", "--no-faults", "--out", str(out)], check=True, capture_output=True)
    with psycopg.connect(warehouse_env.conninfo(), autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_TABLES) + ", quality.blocked_batches")
    registry = out / "sources.yml"
    ingestion.load_registry(out / "registry")
    for source in ingestion.list_sources(registry):
        ingestion.run_source(source.name, registry_path=registry)
    with psycopg.connect(warehouse_env.conninfo(), autocommit=True) as conn:
        batch_id, county, rows = conn.execute("""
            select b.batch_id, b.county_code, b.rows_loaded from raw.ingest_batches b
            where b.feed = 'circulation' and b.status = 'loaded' and b.rows_loaded > 0
            order by b.county_code, b.file_name limit 1""").fetchone()
        # The fault: an item barcode outside every registered range slipped into a loaded delivery.
        conn.execute("""update raw.circulation_events set item_barcode = '9999999000000001'
                        where _batch_id = %s and _line = (select min(_line) from raw.circulation_events
                                                          where _batch_id = %s)""", (batch_id, batch_id))
    gate = quality.run_gate("raw", batch_ids=[batch_id])
    run_dbt(["build", "--full-refresh"])
    return warehouse_env, out, gate, batch_id, county, rows


def _query(owner, sql, params=()):
    with psycopg.connect(owner.conninfo()) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_gate_blocks_the_broken_delivery(held_province):
    _, _, gate, batch_id, _, _ = held_province
    assert batch_id in gate.blocked_batches


def test_the_held_delivery_is_not_in_the_marts(held_province):
    owner, _, _, batch_id, county, _ = held_province
    held = _query(owner, "select count(*) from marts.fct_circulation_events where _batch_id = %s", (batch_id,))
    assert held == [(0,)]
    # the county's other deliveries still flow
    assert _query(owner, "select count(*) > 0 from marts.fct_circulation_events where county_code = %s",
                  (county,)) == [(True,)]


def test_other_counties_match_the_oracle(held_province):
    owner, out, _, _, county, _ = held_province
    expected = Counter()
    with (out / "expected" / "circulation_by_county_day.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["county_code"] != county:
                expected[(row["county_code"], row["date"], row["event_type"])] += int(row["events"])
    got = Counter({(c, day.isoformat(), kind): n for c, day, kind, n in _query(owner, """
        select county_code, event_date, event_type, count(*) from marts.fct_circulation_events
        where county_code <> %s group by 1, 2, 3""", (county,))})
    assert expected and got == expected
