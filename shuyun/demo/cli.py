"""`shuyun demo …`: generate the demo province; run the whole chain on it."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click

from shuyun import settings


@click.group()
def demo() -> None:
    """The demo province: generate it; run the chain on it."""


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from err


@demo.command()
@click.option("--size", type=click.Choice(["test", "demo", "province"]), default="demo", show_default=True,
              help="Preset: test (2 prefectures, 3 counties, 14 days), demo (4, 8, 60), province (16, 120, 365).")
@click.option("--prefectures", type=click.IntRange(1, 40), help="Number of prefectures (overrides the preset).")
@click.option("--counties", type=click.IntRange(1, 2800), help="Total number of counties (overrides the preset).")
@click.option("--start", callback=_date, help="First day YYYY-MM-DD (overrides the preset).")
@click.option("--days", type=click.IntRange(1, 3660), help="Number of days (overrides the preset).")
@click.option("--seed", type=int, help="Random seed: same seed and parameters give byte-identical files.")
@click.option("--loans-per-day-scale", "loans_scale", type=click.FloatRange(min=0, min_open=True),
              help="Multiply the modelled loans per day.")
@click.option("--holdings-scale", type=click.FloatRange(min=0, min_open=True),
              help="Multiply the modelled stock (1.0 = the volumes the registry implies).")
@click.option("--faults/--no-faults", default=None, help="Inject the faults of docs/feeds.md (default: on).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: $SHUYUN_DEMO_DIR or .shuyun/demo). Replaced if it holds a demo.")
def generate(size, prefectures, counties, start, days, seed, loans_scale, holdings_scale, faults, out) -> None:
    """Write the demo province: registry, sources.yml, every county's deliveries, manifest.json."""
    from .generator import GenerateError
    from .generator import generate as run
    from .params import preset

    try:
        params = preset(size, prefectures=prefectures, counties=counties, start=start, days=days, seed=seed,
                        loans_scale=loans_scale, holdings_scale=holdings_scale, faults=faults)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    out = out or settings.demo_dir()
    t0 = time.perf_counter()

    def progress(i, n, county):
        click.echo(f"  [{i}/{n}] {county.source} {county.name_zh} ({county.dialect}, {county.encoding})", err=True)

    try:
        manifest = run(params, out, progress=progress)
    except GenerateError as err:
        raise click.ClickException(str(err)) from err
    circ = manifest["expected"]["feeds"]["circulation"]
    click.echo(f"demo province written to {out} in {time.perf_counter() - t0:.1f} s: "
               f"{len(manifest['files'])} files, {circ['rows_read']:,} circulation rows, "
               f"{len(manifest['faults'])} faults")


@demo.command()
@click.option("--size", type=click.Choice(["test", "demo", "province"]), default="demo", show_default=True,
              help="Which demo province (see `demo generate --help`).")
@click.option("--direct", is_flag=True,
              help="Run the stages in this process instead of through Airflow and Superset (for debugging).")
def run(size: str, direct: bool) -> None:
    """The whole chain on the demo province: warehouse, generate, Airflow (ingest → GX → dbt → GX → publish),
    Superset; then print where to look. Idempotent: run it again and nothing is loaded twice."""
    from shuyun.chain import ChainError, run_demo

    try:
        run_demo(size=size, direct=direct)
    except ChainError as err:
        raise click.ClickException(str(err)) from None
