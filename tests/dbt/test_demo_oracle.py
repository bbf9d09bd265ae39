"""The whole chain on a generated province: `shuyun demo generate` (with faults) → ingestion → dbt build,
with the marts checked against the generator's oracle (manifest.json and expected/*.csv). This ties the
dbt project to the real file contract: dialects, pseudonymisation, duplicates, quarantine."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter

import psycopg
import pytest
from sample_province import RAW_TABLES

from shuyun.transform import run_dbt

pytestmark = pytest.mark.slow  # generate + ingest + dbt build: a few minutes on two shared cores


@pytest.fixture(scope="module")
def demo_built(warehouse_env, tmp_path_factory):
    import ingestion

    out = tmp_path_factory.mktemp("demo") / "province"
    subprocess.run([sys.executable, "-m", "shuyun.cli", "demo", "generate", "--size", "test", "--days", "6",
                    "--seed", "11", "--out", str(out)], check=True, capture_output=True)
    with psycopg.connect(warehouse_env.conninfo(), autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_TABLES))
    registry = out / "sources.yml"
    ingestion.load_registry(out / "registry")
    for source in ingestion.list_sources(registry):
        ingestion.run_source(source.name, registry_path=registry)
    run_dbt(["build", "--full-refresh"])
    return warehouse_env, out, json.loads((out / "manifest.json").read_text())


def _query(owner, sql):
    with psycopg.connect(owner.conninfo()) as conn:
        return conn.execute(sql).fetchall()


def _expected(out, name):
    with (out / "expected" / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_clean_events_per_county_day_and_type_match_the_oracle(demo_built):
    owner, out, _ = demo_built
    expected = Counter()
    for row in _expected(out, "circulation_by_county_day"):
        expected[(row["county_code"], row["date"], row["event_type"])] += int(row["events"])
    got = Counter({(county, day.isoformat(), kind): n for county, day, kind, n in _query(owner, """
        select county_code, event_date, event_type, count(*) from marts.fct_circulation_events group by 1, 2, 3""")})
    assert got == expected


def test_library_days_match_the_oracle(demo_built):
    owner, out, _ = demo_built
    expected = Counter()
    for row in _expected(out, "circulation_by_library_day"):
        expected[(row["library_code"], row["date"], row["event_type"])] += int(row["events"])
    visits = {(r["library_code"], r["date"]): int(r["entries"]) for r in _expected(out, "visits_by_library_day")}
    got, got_visits = Counter(), {}
    for library, day, loans, returns, renewals, entries in _query(owner, """
            select library_code, date_day, loans, returns, renewals, visits from marts.fct_library_daily"""):
        for kind, n in (("loan", loans), ("return", returns), ("renew", renewals)):
            if n:
                got[(library, day.isoformat(), kind)] = n
        if entries:
            got_visits[(library, day.isoformat())] = entries
    assert got == expected
    assert got_visits == visits


def test_reconciliation_matches_the_manifest(demo_built):
    owner, _, manifest = demo_built
    circulation = manifest["expected"]["feeds"]["circulation"]
    [(raw_rows, duplicates, quarantined, facts, reconciled)] = _query(owner, """
        select sum(raw_rows), sum(duplicates_removed), sum(quarantined), sum(fact_rows), bool_and(is_reconciled)
        from marts.mart_reconciliation""")
    assert raw_rows == circulation["rows_loaded"]
    assert duplicates == circulation["duplicates"]
    assert quarantined == sum(circulation["rows_quarantined"].values())
    assert facts == raw_rows - duplicates and reconciled


def test_library_versions_match_the_registry_oracle(demo_built):
    owner, out, _ = demo_built
    expected = sorted((r["library_code"], r["level"], r["parent_code"] or None, r["valid_from"], r["valid_to"] or None)
                      for r in _expected(out, "hierarchy_versions"))
    got = sorted((code, level, parent, start.isoformat(), end.isoformat() if end else None)
                 for code, level, parent, start, end in _query(owner, """
                    select library_code, level, parent_code, valid_from, valid_to from marts.dim_library"""))
    assert got == expected
