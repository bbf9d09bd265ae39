"""End to end against the demo generator's oracle: every file of a generated province is ingested and
its counts (rows read, loaded, quarantined per rule) must equal manifest.json exactly.

Runs in a database of its own: the demo's registry replaces whatever registry a database holds, and the
other ingestion tests share the session database with their own registry.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from shuyun import warehouse as wh


@pytest.fixture
def demo_warehouse(warehouse_env, monkeypatch, tmp_path):
    name = f"shuyun_test_ingest_demo_{os.getpid()}"
    owner = wh.create_database(name)
    monkeypatch.setenv("SHUYUN_WAREHOUSE_DB", name)
    monkeypatch.setenv("SHUYUN_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("SHUYUN_PSEUDONYM_KEY", "demo-test-key")
    yield owner
    wh.drop_database(name)


@pytest.mark.slow
def test_every_demo_file_reconciles_with_the_manifest(demo_warehouse, tmp_path, monkeypatch):
    demo_cli = pytest.importorskip("shuyun.demo.cli")
    # given a generated test-size province with every fault injected
    out = tmp_path / "demo"
    generated = CliRunner().invoke(demo_cli.demo, ["generate", "--size", "test", "--out", str(out)])
    assert generated.exit_code == 0, generated.output
    monkeypatch.setenv("SHUYUN_SOURCES", str(out / "sources.yml"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    # when the registry and every source are ingested through the CLI
    from ingestion.cli import ingest

    run = CliRunner().invoke(ingest, ["all"])
    assert run.exit_code == 0, run.output

    # then every file's ledger row matches the manifest's expected counts, rule by rule
    with psycopg.connect(demo_warehouse.conninfo(), autocommit=True) as conn:
        ledger = {(r[0], r[1], r[2]): r[3:] for r in conn.execute(
            "select source, feed, file_name, rows_read, rows_loaded, rows_quarantined, batch_id "
            "from raw.ingest_batches where status in ('loaded', 'rejected')")}
        rules = {}
        for batch_id, rule, n in conn.execute(
                "select _batch_id, rule, count(*) from quarantine.rejected_rows group by 1, 2"):
            rules.setdefault(batch_id, {})[rule] = n
        mismatches = []
        for f in manifest["files"]:
            key = (f["source"], f["feed"], Path(f["path"]).name)
            exp = f["expected"]
            want = (exp["rows_read"], exp["rows_loaded"], exp.get("rows_quarantined") or {})
            if key not in ledger:
                mismatches.append((key, "not in the ledger"))
                continue
            read, loaded, _, batch_id = ledger[key]
            got = (read, loaded, rules.get(batch_id, {}))
            if got != want:
                mismatches.append((key, got, want))
        assert not mismatches, mismatches[:5]
        assert len(ledger) == len(manifest["files"])

        # and no 15-digit reader card number is anywhere in raw or quarantine
        card = re.compile(r"(?<![0-9A-Za-z])[0-9]{15}(?![0-9A-Za-z])")  # not inside hex pseudonyms
        for (table,) in conn.execute("select table_schema || '.' || table_name from information_schema.tables "
                                     "where table_schema in ('raw', 'quarantine') and table_name <> 'barcode_ranges'"):
            for (text,) in conn.execute(f"select t::text from {table} t"):
                assert not card.search(text), (table, text[:200])

        # and a second run changes nothing
        counts = conn.execute("select (select count(*) from raw.circulation_events), "
                              "(select count(*) from quarantine.rejected_rows)").fetchone()
        from ingestion import list_sources, load_registry, run_source

        again = load_registry() + [r for s in list_sources() for r in run_source(s.name)]
        assert {r.status for r in again} == {"already_loaded"}
        assert conn.execute("select (select count(*) from raw.circulation_events), "
                            "(select count(*) from quarantine.rejected_rows)").fetchone() == counts
