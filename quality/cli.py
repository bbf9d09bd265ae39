"""`shuyun quality`: run the Great Expectations gates and build their Data Docs."""

from __future__ import annotations

import os
import sys

import click

from quality.checks import LAYERS, ThresholdsError


@click.group()
def quality() -> None:
    """Data-quality gates (Great Expectations): raw per delivery, staging and marts per county."""


@quality.command()
@click.option("--layer", type=click.Choice(LAYERS), required=True, help="Which layer to validate.")
@click.option("--batch", "batch_ids", multiple=True, help="Delivery id to (re)validate (raw; repeatable).")
@click.option("--county", "county_codes", multiple=True, help="Only this county (repeatable).")
@click.option("--docs/--no-docs", default=True, show_default=True, help="Rebuild Data Docs afterwards.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when anything was blocked.")
def run(layer: str, batch_ids: tuple[str, ...], county_codes: tuple[str, ...], docs: bool, strict: bool) -> None:
    """Validate a layer, record results in quality.validation_results and hold back blocked deliveries."""
    from quality.gate import GateError, run_gate

    try:
        result = run_gate(
            layer,
            batch_ids=list(batch_ids) or None,
            county_codes=list(county_codes) or None,
            build_docs=docs,
        )
    except (GateError, ThresholdsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(result.summary())
    if docs:
        from quality.project import docs_dir

        click.echo(f"Data Docs: {docs_dir() / 'index.html'}")
    if strict and not result.ok:
        sys.exit(1)


@quality.command()
def docs() -> None:
    """Build the Data Docs site from every stored validation result and print where it is."""
    from quality.project import build_data_docs

    try:
        index = build_data_docs()
    except RuntimeError as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(index))


@quality.command(name="release")
@click.argument("batch_id")
@click.option("--reason", required=True, help="Why the delivery may flow despite its failed checks (audited).")
@click.option("--by", "released_by", default=lambda: os.environ.get("USER", "unknown"), show_default="$USER",
              help="Who decides.")
def release_cmd(batch_id: str, reason: str, released_by: str) -> None:
    """Let a held delivery flow (a data steward's decision, kept in quality.validation_results)."""
    from quality.gate import GateError, release

    try:
        n = release(batch_id, reason=reason, released_by=released_by)
    except GateError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"released {batch_id} ({n} hold{'s' if n != 1 else ''}); the next dbt run includes it")


@quality.command(name="checks")
@click.option("--layer", type=click.Choice(LAYERS), default=None, help="Only this layer.")
def list_checks(layer: str | None) -> None:
    """List every check with its layer, table, severity and rule."""
    from quality.checks import build_checks

    try:
        checks = build_checks()
    except ThresholdsError as err:
        raise click.ClickException(str(err)) from None
    for c in checks:
        if layer is None or c.layer == layer:
            click.echo(f"{c.layer:8} {c.severity:5} {c.table:32} {c.name:40} {c.rule}")
