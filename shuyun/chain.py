"""The whole chain on the demo province: the README's first command (`shuyun demo run`).

warehouse up → generate the demo province → (Airflow: ingest → GX gate → dbt → GX gate → publish)
→ print where to look. `direct=True` runs the same stages in this process without Airflow (for
debugging and for tests that check the stages, not the scheduler).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from shuyun import settings
from shuyun import warehouse as wh


class ChainError(RuntimeError):
    """A stage of the chain failed; the message says which and why."""


def _known_failures() -> tuple[type[BaseException], ...]:
    """The plain-words errors each stage raises (printed as one message, not a traceback)."""
    from dashboards.service import SupersetError
    from shuyun.orchestration.service import AirflowError
    from shuyun.transform import DbtError

    return (wh.WarehouseError, SupersetError, AirflowError, DbtError)


@dataclass
class StageTimer:
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Callable, *args, **kwargs):
        click.echo(f"→ {name} ...")
        started = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except _known_failures() as err:
            raise ChainError(f"{name} failed: {err}") from err
        self.timings[name] = time.perf_counter() - started
        click.echo(f"  {name}: {self.timings[name]:.1f}s")
        return result


def manifest_path(demo_dir: Path | None = None) -> Path:
    return (demo_dir or settings.demo_dir()) / "manifest.json"


def ensure_demo(size: str, timer: StageTimer) -> dict:
    """Generate the demo province unless the same one is already there (generation is deterministic)."""
    from shuyun.demo import generate, preset

    params = preset(size)
    wanted = generate_params(params)
    path = manifest_path()
    if path.exists():
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("params") == wanted:
            click.echo(f"→ demo province ({size}) already generated in {settings.demo_dir()}")
            return manifest
    return timer.run(f"generate demo province ({size})", generate, params, settings.demo_dir())


def generate_params(params) -> dict:
    from dataclasses import asdict

    return {**asdict(params), "start": params.start.isoformat(), "end": params.end.isoformat()}


def run_demo(size: str = "demo", direct: bool = False) -> None:
    """The README's first command: everything, on the embedded defaults, then where to look."""
    timer = StageTimer()
    timer.run("warehouse up", wh.up)
    ensure_demo(size, timer)
    registry_path = settings.demo_dir() / "sources.yml"
    if direct:
        run_direct(registry_path, timer)
        print_where_to_look(timer)
        print_reports()
        return
    from dashboards import service as superset
    from shuyun.orchestration import service as airflow

    # Superset first: the publish DAG at the end of the chain imports the dashboards into it.
    timer.run("superset up", superset.start)
    info = timer.run("airflow up", airflow.start)
    runs = timer.run("airflow: ingest → quality → dbt → quality → publish", airflow.run_chain, everything=True)
    print_where_to_look(timer)
    click.echo(f"  Airflow       {info.url}   login {info.user} / {info.password}")
    dag_runs = ", ".join(f"{dag} {run}" for dag, run in runs.items() if dag.startswith("shuyun_"))
    click.echo(f"                runs: {dag_runs}")
    if runs.get("county_failures"):
        click.echo(f"                counties that did not load: {runs['county_failures']}")
    print_superset_logins(superset)
    docs = settings.home() / "quality" / "data_docs" / "index.html"
    click.echo(f"  Data Docs     {docs}" + ("" if docs.exists() else "   (not built yet)"))
    print_reports()
    click.echo("  stop it all:  bin/shuyun airflow down; bin/shuyun superset down; bin/shuyun warehouse down")


def print_reports() -> None:
    """Where the publish DAG (or `shuyun report all`) wrote the county scorecards and the quarterly report."""
    folder = settings.home() / "reports"
    files = sorted(folder.rglob("*.html")) + sorted(folder.rglob("*.xlsx")) if folder.exists() else []
    click.echo(f"  Reports       {folder}   ({len(files)} files: county scorecards, quarterly .xlsx; "
               "shuyun report --help)" if files else f"  Reports       {folder}   (none yet: shuyun report all)")


def print_superset_logins(superset) -> None:
    from dashboards import publish

    st = superset.status()
    click.echo(f"  Superset      {st.url}   login admin / {superset.admin_password()}")
    try:
        codes = publish.county_codes()
    except Exception:  # noqa: BLE001 -- no marts yet: nothing more to show
        codes = []
    click.echo(f"                analyst_demo / {publish.user_password('analyst_demo')}   (all counties)")
    if codes:
        director = publish.demo_director(codes[0])
        click.echo(f"                {director} / {publish.user_password(director)}   (county {codes[0]} only)")


def run_direct(registry_path: Path, timer: StageTimer) -> None:
    """Ingest every source, then build the models, in this process."""
    import ingestion
    from shuyun.transform import run_dbt

    batches = timer.run("ingest registry", ingestion.load_registry, registry_path.parent / "registry")
    for source in ingestion.list_sources(registry_path):
        batches += timer.run(f"ingest {source.name}", ingestion.run_source, source.name, registry_path=registry_path)
    failed = [b for b in batches if b.status == "failed"]
    for batch in failed:
        click.echo(f"  FAILED {batch.ledger_line()}", err=True)
    timer.run("dbt build", run_dbt, ["build"])
    from reports.api import export_all

    timer.run("reports", export_all)


def warehouse_summary() -> list[tuple[str, int]]:
    """Row counts per layer, to show what landed where."""
    queries = {
        "raw.circulation_events": "select count(*) from raw.circulation_events",
        "quarantine.rejected_rows": "select count(*) from quarantine.rejected_rows",
        "raw.ingest_batches": "select count(*) from raw.ingest_batches where status in ('loaded','rejected')",
        "marts.dim_library": "select count(*) from marts.dim_library",
        "marts.fct_circulation_events": "select count(*) from marts.fct_circulation_events",
        "marts.fct_library_daily": "select count(*) from marts.fct_library_daily",
        "marts.mart_county_scorecard": "select count(*) from marts.mart_county_scorecard",
    }
    rows = []
    with wh.connect() as conn:
        for name, query in queries.items():
            try:
                rows.append((name, conn.execute(query).fetchone()[0]))
            except Exception:  # noqa: BLE001 -- a table not built yet is reported, not fatal
                conn.rollback()
                rows.append((name, -1))
    return rows


def print_where_to_look(timer: StageTimer) -> None:
    click.echo("")
    click.echo("书云 Shuyun demo province is loaded.")
    for name, count in warehouse_summary():
        click.echo(f"  {name:32} {count:>12,}" if count >= 0 else f"  {name:32} {'(not built)':>12}")
    click.echo("")
    click.echo(f"  warehouse     {wh.url('owner', driver='postgresql')}   (shuyun warehouse psql)")
    click.echo(f"  demo files    {settings.demo_dir()}   (manifest.json: the expected counts)")
    click.echo("  timings       " + ", ".join(f"{k} {v:.0f}s" for k, v in timer.timings.items()))


def load_manifest(demo_dir: Path | None = None) -> dict:
    return json.loads(manifest_path(demo_dir).read_text(encoding="utf-8"))
