"""`shuyun superset up|down|status|publish`."""

from __future__ import annotations

import click

from dashboards import service


def _fail(err: Exception) -> None:
    raise click.ClickException(str(err)) from None


@click.group()
def superset() -> None:
    """Superset (its own environment, .venv-superset): start, stop, publish the dashboards."""


@superset.command()
@click.option("--publish/--no-publish", "do_publish", default=True, help="Publish the dashboards after starting.")
@click.option("--demo-county", help="County code of the demo county director (default: the first county).")
def up(do_publish: bool, demo_county: str | None) -> None:
    """Start Superset (installs its environment and metadata once) and print the address and logins."""
    from dashboards import publish
    from shuyun.warehouse import WarehouseError

    try:
        st = service.start()
        click.echo(str(st))
        click.echo(f"  admin / {service.admin_password()}")
        if do_publish:
            result = publish.publish(demo_county=demo_county)
            _echo_published(st.url, result)
    except (service.SupersetError, publish.PublishError, WarehouseError) as err:
        _fail(err)


@superset.command()
def down() -> None:
    """Stop Superset (its metadata stays)."""
    click.echo("superset: stopped" if service.stop() else "superset: was not running")


@superset.command()
def status() -> None:
    """Is Superset running, where, and is it healthy."""
    st = service.status()
    click.echo(str(st))
    if st.running and not st.healthy:
        raise SystemExit(1)


@superset.command(name="publish")
@click.option("--demo-county", help="County code of the demo county director (default: the first county).")
def publish_cmd(demo_county: str | None) -> None:
    """Import the dashboards from dashboards/assets and apply roles, row-level security and demo users."""
    from dashboards import publish
    from shuyun.warehouse import WarehouseError

    try:
        result = publish.publish(demo_county=demo_county, start=False)
        st = service.status()
    except (service.SupersetError, publish.PublishError, WarehouseError) as err:
        _fail(err)
    _echo_published(st.url, result)


def _echo_published(url: str, result) -> None:
    click.echo(f"published {len(result.dashboards)} dashboards, {len(result.charts)} charts, "
               f"{len(result.datasets)} datasets in {result.seconds:.1f} s")
    for dash in sorted(result.dashboards.values(), key=lambda d: d["id"]):
        click.echo(f"  {dash['title']}: {url}/superset/dashboard/{dash['slug']}/")
    click.echo(f"roles: {', '.join(result.roles)}")
    for username, password in result.logins:
        click.echo(f"  login {username} / {password}")
