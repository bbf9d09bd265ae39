"""The manifest is the oracle: ingesting the test-size demo into a real PostgreSQL must reproduce it exactly.

Slow (runs ingestion on every file, ~30 s): `pytest -m slow tests/demo`.
"""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.slow


def _table(demo_out, manifest, name):
    with open(demo_out / manifest["expected"]["tables"][name]["path"], encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_given_the_test_demo_when_ingested_then_ledger_quarantine_and_raw_match_the_manifest(
        demo_out, manifest, empty_raw, pg):
    ingest_cli = pytest.importorskip("ingestion.cli").ingest

    result = CliRunner().invoke(ingest_cli, ["--sources", str(demo_out / "sources.yml"), "all"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output

    batches = {(src, name.split("/")[-1]): (r, loaded, q) for src, name, r, loaded, q in pg.execute(
        "select source, file_name, rows_read, rows_loaded, rows_quarantined from raw.ingest_batches").fetchall()}
    for entry in manifest["files"]:
        exp = entry["expected"]
        key = (entry["source"], entry["path"].split("/")[-1])
        assert batches.get(key) == (exp["rows_read"], exp["rows_loaded"], sum(exp["rows_quarantined"].values())), key

    rules = dict(pg.execute("select rule, count(*) from quarantine.rejected_rows group by rule").fetchall())
    expected_rules: dict[str, int] = {}
    for feed in manifest["expected"]["feeds"].values():
        for rule, n in feed["rows_quarantined"].items():
            expected_rules[rule] = expected_rules.get(rule, 0) + n
    assert rules == expected_rules

    clean = {(c, d, t): n for c, d, t, n in pg.execute(
        "select county_code, (event_at at time zone 'Asia/Shanghai')::date::text, event_type,"
        " count(distinct source_event_id) from raw.circulation_events group by 1, 2, 3").fetchall()}
    assert clean == {(r["county_code"], r["date"], r["event_type"]): int(r["events"])
                     for r in _table(demo_out, manifest, "circulation_by_county_day")}
    visits = {(lib, d): int(n) for lib, d, n in pg.execute(
        "select library_code, (period_start at time zone 'Asia/Shanghai')::date::text, sum(entries)"
        " from raw.visitor_counts group by 1, 2").fetchall()}
    assert visits == {(r["library_code"], r["date"]): int(r["entries"])
                      for r in _table(demo_out, manifest, "visits_by_library_day")}
    holdings = dict(pg.execute("select owning_library, count(*) from raw.holdings_items group by 1").fetchall())
    assert holdings == {r["owning_library"]: int(r["items"]) for r in _table(demo_out, manifest, "holdings_by_library")}
