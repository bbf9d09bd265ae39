"""`shuyun bench ingest` end to end on a small file: the three measurements run and the RESULT line carries
every figure (a benchmark, so nothing here is timed; the speed targets are read off its output)."""

from __future__ import annotations

import os

from ingestion import benchmark


def test_benchmark_measures_full_path_copy_and_pandas(warehouse_db):
    lines: list[str] = []
    before = {key: os.environ.get(key) for key in ("SHUYUN_WAREHOUSE_DB", "SHUYUN_SOURCES", "SHUYUN_ARCHIVE_DIR")}
    figures = benchmark.run(rows=20_000, pandas_rows=2_000, echo=lines.append,
                            database=f"shuyun_test_bench_{os.getpid()}", baseline_runs=2)

    ledger = next(line for line in lines if line.startswith("loaded"))
    # 1 % of the generated rows name a library outside the registry: quarantined, never lost
    read, loaded, quarantined = (int(ledger.split(word)[1].split()[0].replace(",", ""))
                                 for word in (" read ", " loaded ", " quarantined "))
    assert read == 20_000 and loaded + quarantined == read and 100 < quarantined < 400
    assert "unknown_library" in ledger
    assert lines[-1].startswith("RESULT ")
    assert set(figures) == {"full_rows_per_s", "copy_rows_per_s", "pandas_rows_per_s", "full_vs_copy",
                            "full_vs_pandas", "peak_rss_mb"}
    assert all(value > 0 for value in figures.values())
    assert figures["full_vs_copy"] == figures["full_rows_per_s"] / figures["copy_rows_per_s"]
    assert all(f"{key}=" in lines[-1] for key in figures)
    # each baseline ran twice and says so
    assert sum(line.startswith(("(b)", "(c)")) and line.count(" k/s at load ") == 2 for line in lines) == 2
    # the scratch database and folders were the bench's own: the environment is as it was
    assert {key: os.environ.get(key) for key in before} == before


def test_a_baseline_counts_with_its_fastest_run():
    runs = iter([benchmark.Figure(1000, 2.0, 1.0), benchmark.Figure(1000, 1.0, 3.0), benchmark.Figure(1000, 4.0, 0.5)])
    fastest, every = benchmark.best(lambda: next(runs), 3)
    assert fastest.rate == 1000.0 and [f.seconds for f in every] == [2.0, 1.0, 4.0]
