"""`shuyun bench`: benchmarks that print rows/s against a baseline measured in the same run.

    shuyun bench ingest --rows 2000000      # ingestion: full path vs plain COPY vs pandas to_sql

Subcommands for `dbt` and `dashboards` are added to the `bench` group by their stages.
"""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Benchmarks: ingestion, dbt, dashboards (print ratios against a baseline)."""


@bench.command("ingest")
@click.option("--rows", type=click.IntRange(min=1000), default=2_000_000, show_default=True,
              help="Circulation events in the generated GBK interlib file.")
@click.option("--pandas-rows", type=click.IntRange(min=1000), default=200_000, show_default=True,
              help="Rows of the pandas to_sql slice.")
def ingest(rows: int, pandas_rows: int) -> None:
    """Full ingestion path vs a plain COPY (floor) vs pandas to_sql; ends with one RESULT line."""
    from ingestion import benchmark

    try:
        benchmark.run(rows, pandas_rows, echo=click.echo)
    except Exception as err:  # warehouse down, disk full…: one plain line
        raise click.ClickException(f"bench ingest failed: {type(err).__name__}: {err}") from None
