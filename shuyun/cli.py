"""`shuyun`: the one command a person runs. Each verb lives with its stage and is imported only when used,
so `shuyun --help` is instant and a broken stage never breaks the others' verbs."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

# verb -> "module:attribute" of a click command or group, each in the folder of its stage.
VERBS = {
    "warehouse": ("shuyun.warehouse_cli:warehouse", "Start/stop the PostgreSQL warehouse; print its address."),
    "demo": ("shuyun.demo.cli:demo", "Generate the demo province; run the whole chain on it."),
    "ingest": ("ingestion.cli:ingest", "Load county deliveries (files, SQL, HTTP) into raw; ledger, quarantine."),
    "dbt": ("shuyun.transform:dbt_cli", "Run dbt (build, test, docs) against the warehouse."),
    "quality": ("quality.cli:quality", "Run the Great Expectations gates; build Data Docs."),
    "airflow": ("shuyun.orchestration:airflow_cli", "Start/stop Airflow; trigger runs and backfills."),
    "superset": ("dashboards.cli:superset", "Start/stop Superset; publish the dashboards."),
    "report": ("reports.cli:report", "Printable county scorecards (HTML/PDF) and the quarterly report (.xlsx)."),
    "bench": ("shuyun.bench:bench", "Benchmarks: ingestion, dbt, dashboards (print ratios against a baseline)."),
    "test": ("shuyun.testing:test", "Run the test suite (installs what browser tests need)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in their stage's module, imported only when called (keeps `--help` fast
    and lets a stage that is not built yet say so instead of breaking the whole CLI)."""

    def __init__(self, *args, verbs: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbs = VERBS if verbs is None else verbs

    def list_commands(self, ctx):
        return sorted(set(self.verbs) | set(self.commands))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        if name not in self.verbs:
            return None
        target, _ = self.verbs[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                return _not_built(name, target, f"{ctx.command_path} {name}")
            raise
        return getattr(module, attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in self.verbs.items()]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in self.commands.items() if name not in self.verbs]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_built(name: str, target: str, path: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args):
        raise click.ClickException(f"`{path}` is not built yet ({target} does not exist).")

    return missing


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
def cli(verbose: bool) -> None:
    """书云 Shuyun: collect, load, analyse and publish a province's public-library data."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
