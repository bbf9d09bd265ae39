"""`shuyun ingest …`: load deliveries into raw and print the ledger.

Exit code 0 when every batch was loaded, already loaded, or rejected with reasons in quarantine;
1 when any batch *failed* (warehouse down, registry not loaded, unreadable file…), with a one-line message.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ingestion.sources import FEEDS, REGISTRY_FEEDS, RegistryError

DETAIL_LIMIT = 40  # more batches than this: one table row per (status, source, feed)


def _table(head: tuple, rows: list[tuple], right: set[int]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        click.echo("  ".join(str(v).rjust(w) if i in right else str(v).ljust(w)
                             for i, (v, w) in enumerate(zip(row, widths, strict=True))).rstrip())


def _summary(results) -> None:
    if not results:
        click.echo("nothing delivered")
        return
    if len(results) <= DETAIL_LIMIT:
        head = ("status", "source", "feed", "file", "read", "loaded", "quarantined", "seconds")
        rows = [(r.status, r.source, r.feed, r.file, f"{r.rows_read:,}", f"{r.rows_loaded:,}",
                 f"{r.rows_quarantined:,}", f"{r.seconds:.1f}") for r in results]
        _table(head, rows, {4, 5, 6, 7})
    else:
        groups: dict[tuple, list] = {}
        for r in results:
            groups.setdefault((r.status, r.source, r.feed), []).append(r)
        head = ("status", "source", "feed", "batches", "read", "loaded", "quarantined", "seconds")
        rows = [(*key, f"{len(g):,}", f"{sum(r.rows_read for r in g):,}", f"{sum(r.rows_loaded for r in g):,}",
                 f"{sum(r.rows_quarantined for r in g):,}", f"{sum(r.seconds for r in g):.1f}")
                for key, g in sorted(groups.items())]
        _table(head, rows, {3, 4, 5, 6, 7})
    totals = [sum(getattr(r, a) for r in results) for a in ("rows_read", "rows_loaded", "rows_quarantined")]
    click.echo(f"{len(results)} batch(es): read {totals[0]:,}, loaded {totals[1]:,}, quarantined {totals[2]:,}")
    for r in results:
        if r.message and r.status != "already_loaded":
            click.echo(f"  {r.source}/{r.feed}/{r.file}: {r.message}")


def _finish(results) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        first = failed[0]
        raise click.ClickException(f"{len(failed)} batch(es) failed; first: {first.source}/{first.feed}/"
                                   f"{first.file}: {first.message}")


def _interval(start: str | None, end: str | None):
    if not start and not end:
        return None
    try:
        lo = date.fromisoformat(start) if start else date.min
        hi = date.fromisoformat(end) if end else date.max
    except ValueError as err:
        raise click.BadParameter(f"dates are YYYY-MM-DD ({err})") from None
    if lo >= hi:
        raise click.BadParameter(f"--start {start} must be before --end {end} (the interval is [start, end))")
    return lo, hi


@click.group()
@click.option("--sources", "sources_path", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SHUYUN_SOURCES", help="sources.yml (default: $SHUYUN_SOURCES, else <demo dir>/sources.yml).")
@click.pass_context
def ingest(ctx, sources_path: Path | None) -> None:
    """Load county deliveries into raw (ledger, quarantine, archive)."""
    ctx.obj = {"sources": sources_path}


@ingest.command("file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--feed", required=True, type=click.Choice(FEEDS + REGISTRY_FEEDS))
@click.option("--source", "source_name", default="registry", show_default=True, help="Source name from sources.yml.")
@click.pass_context
def file_cmd(ctx, path: Path, feed: str, source_name: str) -> None:
    """Load one file as one batch and print its ledger line."""
    from ingestion import ingest_file

    result = ingest_file(path, feed, source_name, registry_path=ctx.obj["sources"])
    click.echo(result.ledger_line())
    _finish([result])


@ingest.command("registry")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with libraries.csv and barcode_ranges.csv (default: registry/ beside sources.yml).")
@click.pass_context
def registry_cmd(ctx, folder: Path | None) -> None:
    """Load the provincial registry: libraries, then barcode ranges."""
    from ingestion import load_registry
    from ingestion.sources import registry_dir

    results = load_registry(folder or registry_dir(ctx.obj["sources"]))
    _summary(results)
    _finish(results)


@ingest.command("source")
@click.argument("name")
@click.option("--feed", "feeds", multiple=True, type=click.Choice(FEEDS), help="Only this feed (repeatable).")
@click.option("--start", help="First delivery date, YYYY-MM-DD (inclusive).")
@click.option("--end", help="End date, YYYY-MM-DD (exclusive).")
@click.pass_context
def source_cmd(ctx, name: str, feeds: tuple[str, ...], start: str | None, end: str | None) -> None:
    """Load every not-yet-loaded delivery of one source."""
    from ingestion import run_source

    try:
        results = run_source(name, list(feeds) or None, registry_path=ctx.obj["sources"],
                             interval=_interval(start, end))
    except RegistryError as err:
        raise click.ClickException(str(err)) from None
    _summary(results)
    _finish(results)


@ingest.command("all")
@click.option("--start", help="First delivery date, YYYY-MM-DD (inclusive).")
@click.option("--end", help="End date, YYYY-MM-DD (exclusive).")
@click.option("--no-registry", is_flag=True, help="Do not (re)load the registry first.")
@click.pass_context
def all_cmd(ctx, start: str | None, end: str | None, no_registry: bool) -> None:
    """Load the registry, then every source's deliveries."""
    from ingestion import list_sources, load_registry, run_source
    from ingestion.sources import registry_dir

    interval = _interval(start, end)
    try:
        sources = list_sources(ctx.obj["sources"])
    except RegistryError as err:
        raise click.ClickException(str(err)) from None
    results = [] if no_registry else load_registry(registry_dir(ctx.obj["sources"]))
    for src in sources:
        try:
            results += run_source(src.name, registry_path=ctx.obj["sources"], interval=interval)
        except RegistryError as err:
            from ingestion.loader import BatchResult

            results.append(BatchResult("", src.name, "-", "-", status="failed", message=str(err)))
    _summary(results)
    _finish(results)


@ingest.command("sources")
@click.pass_context
def sources_cmd(ctx) -> None:
    """List the registered sources."""
    from ingestion import list_sources

    try:
        for s in list_sources(ctx.obj["sources"]):
            click.echo(f"{s.name}  {s.county_code} {s.county_name_zh}  dialect={s.dialect} encoding={s.encoding} "
                       f"transport={s.transport.get('kind')} feeds={','.join(s.feeds)}")
    except RegistryError as err:
        raise click.ClickException(str(err)) from None


def _states(value: str | None) -> list[str] | None:
    return [s.strip().upper() for s in value.split(",") if s.strip()] if value else None


@ingest.command("pls")
@click.argument("systems", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("outlets", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--states", help="Only these states, comma-separated STABR codes (e.g. AK,RI).")
def pls_cmd(systems: Path, outlets: Path, states: str | None) -> None:
    """Load the IMLS PLS FY2018 systems + outlets files as a registry with annual reports."""
    from ingestion.adapters import pls
    from ingestion.adapters.deliveries import AdapterError

    try:
        result = pls.load(systems, outlets, states=_states(states))
    except AdapterError as err:
        raise click.ClickException(str(err)) from None
    for batch in result["batches"]:
        click.echo(batch.ledger_line())
    click.echo(f"{result['systems']:,} systems, {result['outlets']:,} outlets (central outlets folded into their "
               f"system), {result['report_rows']:,} annual report rows; files read as "
               f"{result['encodings']['systems']} / {result['encodings']['outlets']}")
    blanked = ", ".join(f"{c} {n:,}" for c, n in result["blanked"].items()) or "none"
    click.echo(f"negative PLS codes blanked (null, not 0): {blanked}")
    if result["other_outlet_types"]:
        click.echo(f"outlet types without a level (quarantined as unknown_code): {result['other_outlet_types']}")
    _finish(result["batches"])


@ingest.command("chicago-visits")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def chicago_cmd(path: Path) -> None:
    """Load Chicago Public Library visitors by location (one row per branch, months as columns)."""
    from ingestion.adapters import chicago
    from ingestion.adapters.deliveries import AdapterError

    try:
        result = chicago.load(path)
    except AdapterError as err:
        raise click.ClickException(str(err)) from None
    for batch in result["batches"]:
        click.echo(batch.ledger_line())
    click.echo(f"{result['branches']:,} branches, {result['report_rows']:,} monthly report rows of {result['year']}")
    for finding in result["findings"]:
        click.echo(f"  {finding}")
    _finish(result["batches"])
