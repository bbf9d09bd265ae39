"""`shuyun warehouse up|down|status|url|psql`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import click

from shuyun import warehouse as wh


def _plain_errors(fn):
    """Warehouse problems are printed as one plain sentence, not a traceback."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except wh.WarehouseError as err:
            raise click.ClickException(str(err)) from err

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@click.group()
def warehouse() -> None:
    """The PostgreSQL warehouse (embedded unless SHUYUN_WAREHOUSE_URL is set)."""


@warehouse.command()
@_plain_errors
def up() -> None:
    """Start the warehouse (if embedded) and create databases, roles, schemas and raw tables. Idempotent."""
    started = time.perf_counter()
    owner = wh.up()
    where = f"embedded, data in {wh.pgdata()}" if wh.is_embedded() else "external server"
    click.echo(f"warehouse up ({where}) in {time.perf_counter() - started:.1f}s: {owner.url('postgresql')}")


@warehouse.command()
@_plain_errors
def down() -> None:
    """Stop the embedded warehouse. Its data stays for the next `up`."""
    if not wh.is_embedded():
        click.echo("SHUYUN_WAREHOUSE_URL is set: that server is not ours to stop.")
    elif wh.stop():
        click.echo("warehouse stopped")
    else:
        click.echo("warehouse was not running")


@warehouse.command()
@_plain_errors
def status() -> None:
    """Say whether the warehouse answers."""
    click.echo("running" if wh.running() else "stopped")


@warehouse.command()
@click.option("--role", type=click.Choice(["owner", *wh.ROLES]), default="owner", show_default=True)
@click.option("--driver", default="postgresql", show_default=True,
              help="URL scheme, e.g. postgresql+psycopg for SQLAlchemy.")
@click.option("--db", "dbname", default=None, help="Another database on the same server (airflow, superset).")
@_plain_errors
def url(role: str, driver: str, dbname: str | None) -> None:
    """Print the warehouse address for other tools."""
    click.echo(wh.url(role, driver=driver, dbname=dbname))


@warehouse.command(context_settings={"ignore_unknown_options": True})
@click.option("--role", type=click.Choice(["owner", *wh.ROLES]), default="owner", show_default=True)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_plain_errors
def psql(role: str, args: tuple[str, ...]) -> None:
    """Open psql on the warehouse (the embedded server's own psql when there is no other)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    exe = shutil.which("psql") or str(POSTGRES_BIN_PATH / "psql")
    addr = wh.address(role)
    env = {**os.environ, "PGPASSWORD": addr.password}
    raise SystemExit(subprocess.call([exe, addr.conninfo(), *args], env=env))
