"""`shuyun report`: printable county scorecards and the quarterly statistics report.

    shuyun report scorecard --county 530121 --period 2025-02     # HTML (+ PDF with Chromium) per county
    shuyun report quarterly --quarter 2025Q1                     # .xlsx, county → prefecture → province
    shuyun report all                                            # what the publish DAG runs
"""

from __future__ import annotations

from pathlib import Path

import click
import psycopg

from reports import api
from reports.data import ReportError
from reports.periods import parse_period


def _period(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_period(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _out(value: str | None) -> Path:
    return Path(value) if value else api.default_out_dir()


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ReportError as err:
        raise click.ClickException(str(err)) from None
    except psycopg.Error as err:  # marts not built, warehouse down: one line, no traceback
        raise click.ClickException(f"cannot read the marts: {str(err).strip().splitlines()[0]}") from None


@click.group()
def report() -> None:
    """Printable county scorecards and the quarterly statistics report (from the marts)."""


@report.command()
@click.option("--county", "counties", multiple=True, help="County code (repeatable); default: every county.")
@click.option("--period", callback=_period, help="YYYY-MM, YYYYQn or YYYY; default: the latest complete month.")
@click.option("--out", help="Output folder (default: .shuyun/reports).")
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Also print to PDF with headless Chromium.")
def scorecard(counties, period, out, pdf) -> None:
    """Each county's scorecard as print-ready HTML (and PDF)."""
    for path in _run(api.scorecards, _out(out), period, list(counties) or None, pdf):
        click.echo(path)


@report.command()
@click.option("--quarter", callback=_period, help="YYYYQn; default: the latest quarter with data.")
@click.option("--out", help="Output folder (default: .shuyun/reports).")
def quarterly(quarter, out) -> None:
    """The quarterly statistics report (.xlsx, county → prefecture → province)."""
    click.echo(_run(api.quarterly, _out(out), quarter))


@report.command("all")
@click.option("--out", help="Output folder (default: .shuyun/reports).")
@click.option("--pdf/--no-pdf", default=True, show_default=True)
def all_reports(out, pdf) -> None:
    """Every county's scorecard for the latest month and the latest quarterly report."""
    for path in _run(api.export_all, _out(out), pdf):
        click.echo(path)
