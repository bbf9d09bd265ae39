"""`shuyun airflow up|down|status|trigger|wait|backfill|run`."""

from __future__ import annotations

import functools
import json

import click

from shuyun import warehouse as wh
from shuyun.orchestration import service
from shuyun.orchestration.intervals import IntervalError, resolve


def _plain_errors(fn):
    """Airflow and warehouse problems are printed as plain sentences, not tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (service.AirflowError, wh.WarehouseError, IntervalError) as err:
            raise click.ClickException(str(err)) from err

    return wrapper


def _period(start, end) -> tuple[str | None, str | None]:
    if start or end:
        first, stop = resolve({"start": start, "end": end})
        return first.isoformat(), stop.isoformat()
    return None, None


@click.group("airflow")
def airflow_cli() -> None:
    """Airflow (LocalExecutor) running the chain: shuyun_ingest → shuyun_transform → shuyun_publish."""


@airflow_cli.command()
@click.option("--timeout", default=240, show_default=True, help="Seconds to wait until Airflow is healthy.")
@_plain_errors
def up(timeout: int) -> None:
    """Start Airflow in the background (idempotent); print the UI address and the login."""
    info = service.start(timeout=timeout)
    verb = f"started in {info.seconds:.0f}s" if info.started else "already running"
    click.echo(f"airflow {verb}: {info.url}  (login {info.user} / {info.password})")
    click.echo(f"home {info.home}; pids " + ", ".join(f"{c}={p}" for c, p in info.pids.items()))


@airflow_cli.command()
@_plain_errors
def down() -> None:
    """Stop every Airflow process `up` started."""
    stopped = service.stop()
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "airflow was not running")


@airflow_cli.command()
@_plain_errors
def status() -> None:
    """Which Airflow components run, where, and how healthy they are."""
    report = service.status()
    for component, pid in report["components"].items():
        click.echo(f"{component:14} {'pid ' + str(pid) if pid else 'stopped'}")
    if "url" in report:
        click.echo(f"ui             {report['url']}")
        health = report.get("health", {})
        click.echo("health         " + ", ".join(f"{k}={(v or {}).get('status')}" for k, v in health.items()
                                                   if isinstance(v, dict)))


@airflow_cli.command()
@click.argument("dag_id")
@click.option("--start", help="First local day to load (YYYY-MM-DD); shuyun_ingest params.")
@click.option("--end", help="Day after the last one to load (not loaded).")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--conf", "conf_json", help="Run conf as JSON (merged with the options above).")
@click.option("--logical-date", help="Logical date (ISO 8601 with offset); default none, as manual runs have.")
@click.option("--wait/--no-wait", "wait_", default=False, help="Wait for the run to end.")
@click.option("--timeout", default=3600, show_default=True)
@_plain_errors
def trigger(dag_id, start, end, sources, conf_json, logical_date, wait_, timeout) -> None:
    """Start a run of DAG_ID; print its run id."""
    conf = json.loads(conf_json) if conf_json else {}
    first, stop = _period(start, end)
    conf.update({k: v for k, v in {"start": first, "end": stop, "sources": list(sources)}.items() if v})
    run_id = service.trigger(dag_id, conf=conf, logical_date=logical_date)
    click.echo(run_id)
    if wait_:
        click.echo(service.wait(dag_id, run_id, timeout=timeout))


@airflow_cli.command()
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--timeout", default=3600, show_default=True)
@_plain_errors
def wait(dag_id, run_id, timeout) -> None:
    """Wait for a run to end; exit non-zero naming the failed tasks, with a log excerpt."""
    click.echo(service.wait(dag_id, run_id, timeout=timeout))


@airflow_cli.command()
@click.argument("dag_id")
@click.option("--start", required=True, help="First day (YYYY-MM-DD, Asia/Shanghai).")
@click.option("--end", required=True, help="Day after the last one.")
@click.option("--reprocess", type=click.Choice(["none", "failed", "completed"]), default="failed", show_default=True,
              help="Which intervals that already have a run to run again.")
@click.option("--downstream/--no-downstream", default=True, show_default=True,
              help="Also unpause the DAGs its Asset schedules (transform, publish), as `trigger` does.")
@_plain_errors
def backfill(dag_id, start, end, reprocess, downstream) -> None:
    """Runs for each scheduled interval in [start, end); intervals that already succeeded are kept."""
    first, stop = _period(start, end)
    answer = service.backfill(dag_id, first, stop, reprocess=reprocess, downstream=downstream)
    click.echo(json.dumps(answer, default=str, ensure_ascii=False))


@airflow_cli.command("run")
@click.option("--start", help="First local day to load (YYYY-MM-DD).")
@click.option("--end", help="Day after the last one to load.")
@click.option("--all", "everything", is_flag=True, help="Every delivery not loaded yet, whatever its date.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--timeout", default=3600, show_default=True)
@_plain_errors
def run_chain(start, end, everything, sources, timeout) -> None:
    """The whole chain: ingest → transform → publish, waiting for each (starts Airflow if needed).

    Without --start/--end/--all the ingest run loads the previous local day.
    """
    service.start()
    first, stop = _period(start, end)
    result = service.run_chain(first, stop, list(sources) or None, everything=everything, timeout=timeout)
    for dag_id in service.SHUYUN_DAGS:
        partial = dag_id == "shuyun_ingest" and result["county_failures"]
        click.echo(f"{dag_id:17} {result[dag_id]}  {'failed for some counties' if partial else 'success'}")
    if result["county_failures"]:
        click.echo("some counties did not load (the others went on):\n" + result["county_failures"], err=True)
