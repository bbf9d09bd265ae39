"""The batch ledger: idempotent re-delivery, corrected re-delivery, registry replacement, run_source,
the CLI, and the privacy guarantee (no reader barcode anywhere in the warehouse)."""

from __future__ import annotations

import os
import re
from datetime import date

import psycopg
import pytest
from click.testing import CliRunner

from ingestion import ingest_file, list_sources, load_registry, run_source
from ingestion.cli import ingest
from tests.ingestion.conftest import (
    COUNTIES,
    WRITTEN_READERS,
    clean_events,
    landing,
    render_circulation,
    write_lines,
)


def _counts(pg, batch_id: str) -> tuple[int, int]:
    raw = pg.execute("select count(*) from raw.circulation_events where _batch_id = %s", (batch_id,)).fetchone()[0]
    bad = pg.execute("select count(*) from quarantine.rejected_rows where _batch_id = %s", (batch_id,)).fetchone()[0]
    return raw, bad


def _circ_file(province, source: str, day: str, prefix: str, *, n: int = 5, bad_reader: bool = False, folder=""):
    county, _, dialect, encoding = COUNTIES[source]
    events = clean_events(county, n=n, day=day, prefix=prefix)
    if bad_reader:
        events[0].reader = "532699000000077"
    path = landing(province, source, "circulation") / folder / f"circ_{day}.csv"
    return write_lines(path, render_circulation(dialect, events), encoding)


def test_same_file_twice_is_loaded_once(province, pg):
    # given a delivered file that has been loaded
    path = _circ_file(province, "c532623", "20260101", "idem", bad_reader=True)
    first = ingest_file(path, "circulation", "c532623")
    assert (first.status, first.rows_loaded, first.rows_quarantined) == ("loaded", 4, 1)

    # when the very same file is ingested again
    again = ingest_file(path, "circulation", "c532623")

    # then nothing changes and the result says so
    assert again.status == "already_loaded" and again.batch_id == first.batch_id
    assert (again.rows_read, again.rows_loaded, again.rows_quarantined) == (5, 4, 1)
    assert _counts(pg, first.batch_id) == (4, 1)
    assert "already loaded" in again.ledger_line()


def test_corrected_redelivery_replaces_the_old_batch_in_one_go(province, pg):
    # given a file with one bad reader that has been loaded
    path = _circ_file(province, "c532622", "20260102", "fix", bad_reader=True)
    old = ingest_file(path, "circulation", "c532622")
    assert _counts(pg, old.batch_id) == (4, 1)

    # when the county re-delivers the same file name, corrected and with one more event
    path = _circ_file(province, "c532622", "20260102", "fix", n=6)
    new = ingest_file(path, "circulation", "c532622")

    # then the old batch's rows are gone, the new ones are there (not doubled), the old ledger row is superseded
    assert new.batch_id != old.batch_id and new.status == "loaded"
    assert _counts(pg, old.batch_id) == (0, 0)
    assert _counts(pg, new.batch_id) == (6, 0)
    ledger = dict(pg.execute("select batch_id, status from raw.ingest_batches where file_name = 'circ_20260102.csv' "
                             "and source = 'c532622'").fetchall())
    assert ledger == {old.batch_id: "superseded", new.batch_id: "loaded"}
    assert pg.execute("select superseded_by from raw.ingest_batches where batch_id = %s",
                      (old.batch_id,)).fetchone()[0] == new.batch_id
    day_rows = pg.execute("select count(*) from raw.circulation_events where _source = 'c532622' "
                          "and _file = 'circ_20260102.csv'").fetchone()[0]
    assert day_rows == 6


def test_every_batch_reconciles_in_the_ledger(province, pg):
    # rows_read = rows_loaded + rows_quarantined for every loaded/rejected batch, and the raw/quarantine
    # tables hold exactly the counted rows
    _circ_file(province, "c532624", "20260103", "recon", bad_reader=True)
    run_source("c532624", ["circulation"], interval=(date(2026, 1, 3), date(2026, 1, 4)))
    rows = pg.execute("""
        select b.batch_id, b.rows_read, b.rows_loaded, b.rows_quarantined,
               (select count(*) from quarantine.rejected_rows q where q._batch_id = b.batch_id)
        from raw.ingest_batches b where b.status in ('loaded', 'rejected')""").fetchall()
    assert rows
    for batch_id, read, loaded, quarantined, in_quarantine in rows:
        assert read == loaded + quarantined, batch_id
        assert in_quarantine == quarantined, batch_id


def test_run_source_loads_each_file_and_one_bad_file_does_not_stop_the_others(province, pg):
    # given a source folder with three daily files: good, wrongly encoded, good; and a file outside the interval
    base = landing(province, "c532625", "circulation")
    for p in base.glob("circ_*.csv"):
        p.unlink()
    _circ_file(province, "c532625", "20260120", "run1")
    bad = _circ_file(province, "c532625", "20260121", "run2")
    bad.write_bytes(bad.read_bytes().decode("gb18030").encode("utf-8"))
    _circ_file(province, "c532625", "20260122", "run3")
    _circ_file(province, "c532625", "20260201", "run4")

    # when the source runs for [2026-01-20, 2026-01-23)
    results = run_source("c532625", ["circulation"], interval=(date(2026, 1, 20), date(2026, 1, 23)))

    # then all three files in the interval were processed, the bad one rejected with reasons, none failed
    assert [(r.file, r.status) for r in results] == [
        ("circ_20260120.csv", "loaded"), ("circ_20260121.csv", "rejected"), ("circ_20260122.csv", "loaded")]
    assert [r.rows_quarantined for r in results] == [0, 5, 0]

    # and a second run finds nothing new
    again = run_source("c532625", ["circulation"], interval=(date(2026, 1, 20), date(2026, 1, 23)))
    assert {r.status for r in again} == {"already_loaded"}


def test_list_sources_reads_the_registry(province):
    sources = list_sources()
    assert [s.name for s in sources] == list(COUNTIES)
    assert sources[0].county_code == "532622" and "circulation" in sources[0].feeds
    assert sources[0].landing_dir == (province / "landing" / "c532622").resolve()


def test_redelivered_registry_replaces_the_previous_one(province, pg):
    # given the loaded registry, the province re-delivers it with one library renamed (a changed file)
    reg = province / "registry"
    original = (reg / "libraries.csv").read_bytes()
    changed = original.decode().replace("新村服务点", "新村社区服务点", 1)
    (reg / "libraries.csv").write_text(changed, encoding="utf-8")
    try:
        # when the registry is loaded
        results = load_registry(reg)

        # then libraries are replaced (not doubled); the unchanged ranges file is already loaded
        assert [r.status for r in results] == ["loaded", "already_loaded"], [r.ledger_line() for r in results]
        names = [r[0] for r in pg.execute("select name_zh from raw.libraries where library_code = '532622117'")]
        assert names == ["砚山县新村社区服务点"]
    finally:
        # and going back to the original file replaces it again
        (reg / "libraries.csv").write_bytes(original)
        back = load_registry(reg)
        assert back[0].status == "loaded", back[0].ledger_line()
    assert [r[0] for r in pg.execute("select name_zh from raw.libraries where library_code = '532622117'")] \
        == ["砚山县新村服务点"]
    assert pg.execute("select count(*) from raw.ingest_batches where source = 'registry' and feed = 'libraries' "
                      "and status = 'loaded'").fetchone()[0] == 1


def test_unknown_source_or_feed_is_a_plain_failure(province, tmp_path):
    path = tmp_path / "circ_20260101.csv"
    path.write_text("x\n")
    assert "unknown source" in ingest_file(path, "circulation", "c999999").message
    assert "unknown feed" in ingest_file(path, "loans", "c532622").message


# ------------------------------------------------------------------------------------------- CLI

def test_cli_file_prints_the_ledger_line_and_exits_zero(province):
    path = _circ_file(province, "c532622", "20260104", "cli", bad_reader=True)
    result = CliRunner().invoke(ingest, ["file", str(path), "--feed", "circulation", "--source", "c532622"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("loaded") and "quarantined 1" in result.output


def test_cli_source_prints_a_summary_table(province):
    _circ_file(province, "c532623", "20260105", "clisrc")
    result = CliRunner().invoke(ingest, ["source", "c532623", "--feed", "circulation", "--start", "2026-01-05",
                                         "--end", "2026-01-06"])
    assert result.exit_code == 0, result.output
    assert "circ_20260105.csv" in result.output and "1 batch(es)" in result.output


def test_cli_exits_non_zero_with_one_line_when_the_warehouse_is_unreachable(province, monkeypatch):
    # given a warehouse database that does not exist
    monkeypatch.setenv("SHUYUN_WAREHOUSE_DB", "shuyun_no_such_database")
    path = _circ_file(province, "c532622", "20260106", "down")
    result = CliRunner().invoke(ingest, ["file", str(path), "--feed", "circulation", "--source", "c532622"])
    assert result.exit_code == 1
    assert result.output.startswith("failed")
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: 1 batch(es) failed")


# ------------------------------------------------------------------------------------------- privacy

def test_no_reader_barcode_reaches_the_warehouse(province, pg):
    # given every delivery written so far, plus one with every kind of broken line
    county, _, dialect, encoding = COUNTIES["c532622"]
    lines = render_circulation(dialect, clean_events(county, day="20260107", prefix="priv"))
    lines[1] = lines[1] + ",extra"                        # malformed: fields misaligned
    lines[2] = lines[2].replace("2026/01/07", "2026-01-07")  # bad timestamp
    path = write_lines(landing(province, "c532622", "circulation") / "circ_20260107.csv", lines, encoding)
    ingest_file(path, "circulation", "c532622")
    assert len(WRITTEN_READERS) > 20

    # when every text column of raw and quarantine is scanned
    found = set()
    tables = pg.execute("select table_schema || '.' || table_name from information_schema.tables "
                        "where table_schema in ('raw', 'quarantine')").fetchall()
    pattern = re.compile(r"(?<![0-9A-Za-z])[0-9]{15}(?![0-9A-Za-z])")
    for (table,) in tables:
        for (row,) in pg.execute(f"select t::text from {table} t"):
            found.update(pattern.findall(row))

    # then none of the reader barcodes written by the tests is there
    assert not (found & WRITTEN_READERS)


def test_a_redelivery_refused_as_a_whole_keeps_the_good_batch_before_it(province, pg):
    # given a loaded file
    path = _circ_file(province, "c532622", "20260108", "keep")
    good = ingest_file(path, "circulation", "c532622")
    assert _counts(pg, good.batch_id) == (5, 0)

    # when the same file name is re-delivered wrongly encoded (UTF-8 bytes where GBK is declared)
    path.write_bytes(path.read_bytes().decode("gbk").encode("utf-8"))
    bad = ingest_file(path, "circulation", "c532622")

    # then the new batch is rejected with every line quarantined, and the good batch stays loaded
    assert (bad.status, bad.rows_quarantined) == ("rejected", 5)
    assert "stay loaded" in bad.message
    assert _counts(pg, good.batch_id) == (5, 0)
    assert pg.execute("select status from raw.ingest_batches where batch_id = %s",
                      (good.batch_id,)).fetchone() == ("loaded",)


def test_cli_registry_and_sources(province):
    runner = CliRunner()
    registry = runner.invoke(ingest, ["registry"])
    assert registry.exit_code == 0, registry.output
    assert "libraries" in registry.output and "barcode_ranges" in registry.output
    listed = runner.invoke(ingest, ["sources"])
    assert listed.exit_code == 0 and "c532622  532622 砚山县  dialect=interlib encoding=gbk" in listed.output


def test_cli_rejects_a_backwards_interval_plainly(province):
    result = CliRunner().invoke(ingest, ["source", "c532622", "--start", "2026-02-01", "--end", "2026-01-01"])
    assert result.exit_code == 2 and "must be before" in result.output


def test_cli_batch_failing_for_a_missing_registry_prints_no_traceback(province, tmp_path, monkeypatch, pg):
    # given a database whose registry is empty
    from shuyun import warehouse as wh

    name = f"shuyun_test_ingest_empty_{os.getpid()}"
    wh.create_database(name)
    try:
        monkeypatch.setenv("SHUYUN_WAREHOUSE_DB", name)
        path = _circ_file(province, "c532622", "20260105", "noreg", folder="noreg")
        result = CliRunner().invoke(ingest, ["file", str(path), "--feed", "circulation", "--source", "c532622"])
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "run `shuyun ingest registry` first" in result.output
    finally:
        wh.drop_database(name)


def test_every_row_of_a_batch_carries_the_batch_start_as_loaded_at(province, pg):
    # given a delivery with a quarantined row (the loader leaves _loaded_at to the column default)
    path = _circ_file(province, "c532622", "20260125", "LA", n=4, bad_reader=True)

    # when it is loaded
    result = ingest_file(path, "circulation", "c532622")

    # then raw and quarantine rows all carry the ledger's started_at, one instant per batch
    assert result.status == "loaded" and result.rows_quarantined == 1
    started = pg.execute("select started_at from raw.ingest_batches where batch_id = %s",
                         (result.batch_id,)).fetchone()[0]
    for table in ("raw.circulation_events", "quarantine.rejected_rows"):
        stamps = pg.execute(f"select distinct _loaded_at from {table} where _batch_id = %s",
                            (result.batch_id,)).fetchall()
        assert stamps == [(started,)], table


def test_raw_rows_take_the_batch_stamps_of_their_transaction_and_refuse_none(province, pg):
    # given a delivery loaded by the loader, which sends no _batch_id/_source/_file per row (raw.sql defaults)
    path = _circ_file(province, "c532623", "20260126", "LS", n=3)
    result = ingest_file(path, "circulation", "c532623")

    # then every row carries its own batch, source and file
    assert result.status == "loaded"
    stamps = pg.execute("select distinct _batch_id, _source, _file from raw.circulation_events "
                        "where _batch_id = %s", (result.batch_id,)).fetchall()
    assert stamps == [(result.batch_id, "c532623", path.name)]

    # and a row written outside a loader transaction (no settings) is refused, never stamped blank
    with pytest.raises(psycopg.errors.NotNullViolation):
        with pg.transaction():
            pg.execute("insert into raw.visitor_counts (county_code, library_code, gate_id, period_start,"
                       " period_minutes, entries, _line) values ('532623', '532623000', 'g1', now(), 60, 1, 1)")
    # nor after a loader transaction set them for itself in the same session
    with pytest.raises(psycopg.errors.NotNullViolation):
        with pg.transaction():
            pg.execute("select set_config('shuyun.batch_id', 'x', true), set_config('shuyun.source', 's', true),"
                       " set_config('shuyun.file', 'f', true)")
        with pg.transaction():
            pg.execute("insert into raw.visitor_counts (county_code, library_code, gate_id, period_start,"
                       " period_minutes, entries, _line) values ('532623', '532623000', 'g1', now(), 60, 1, 1)")
