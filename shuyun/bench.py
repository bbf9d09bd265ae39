"""`shuyun bench`: benchmarks that print rows/s against a baseline measured in the same run.

    shuyun bench ingest --rows 2000000      # ingestion: full path vs plain COPY vs pandas to_sql

    shuyun bench dbt --events 20000000     # dbt: full build vs one-day incremental at history x1 and x10
    shuyun bench dashboards                # Superset chart-data latency per dashboard, cache off

The dbt and dashboards benchmarks live with their stages and are imported only when called.
"""

from __future__ import annotations

import click

from shuyun.cli import LazyGroup

STAGE_BENCHES = {
    "dbt": ("shuyun.transform_bench:bench_dbt", "dbt: full build vs one-day incremental at history x1 and x10."),
    "dashboards": ("dashboards.bench:bench_dashboards", "Superset chart-data latency per dashboard, cache off."),
}


@click.group(cls=LazyGroup, verbs=STAGE_BENCHES)
def bench() -> None:
    """Benchmarks: ingestion, dbt, dashboards (print ratios against a baseline)."""


@bench.command("ingest")
@click.option("--rows", type=click.IntRange(min=1000), default=2_000_000, show_default=True,
              help="Circulation events in the generated GBK interlib file.")
@click.option("--pandas-rows", type=click.IntRange(min=1000), default=200_000, show_default=True,
              help="Rows of the pandas to_sql slice.")
@click.option("--baseline-runs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs of the plain COPY and of pandas; each counts with its best (the ratios can only shrink).")
def ingest(rows: int, pandas_rows: int, baseline_runs: int) -> None:
    """Full ingestion path vs a plain COPY (floor) vs pandas to_sql; ends with one RESULT line."""
    from ingestion import benchmark

    try:
        benchmark.run(rows, pandas_rows, echo=click.echo, baseline_runs=baseline_runs)
    except Exception as err:  # warehouse down, disk full…: one plain line
        raise click.ClickException(f"bench ingest failed: {type(err).__name__}: {err}") from None
