"""Run the dbt project (dbt/) in-process against the warehouse: `run_dbt([...])` and `shuyun dbt ...`.

The connection comes from shuyun.warehouse (embedded server or SHUYUN_WAREHOUSE_URL, database
SHUYUN_WAREHOUSE_DB when set, so tests hit their own database) and reaches dbt/profiles.yml only
through environment variables: SHUYUN_PG_HOST / _PORT / _USER / _DBNAME and
DBT_ENV_SECRET_SHUYUN_PG_PASSWORD (dbt masks DBT_ENV_SECRET_* in its output).

    shuyun dbt build                       # staging -> intermediate -> marts, with all tests
    shuyun dbt build --full-refresh        # rebuild the incremental facts from all of raw
    shuyun dbt run --vars '{late_arrival_days: 7}'
    shuyun dbt docs generate
    SHUYUN_DBT_TARGET=dev shuyun dbt build # into dev_staging / dev_intermediate / dev_marts
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from shuyun import settings

DBT_PROJECT_DIR = settings.PROJECT_ROOT / "dbt"
ENV_PREFIX = "SHUYUN_PG_"
SECRET_ENV = "DBT_ENV_SECRET_SHUYUN_PG_PASSWORD"

# dbt's in-process runner is not re-entrant and reads os.environ: one invocation at a time.
_LOCK = threading.Lock()
# Where the previous invocation in this process pointed. dbt's partial parsing does not notice a
# target or database chosen through environment variables between two invocations in one process
# (it would reuse relation names of the old database), so a change forces a full parse.
_last_connection: tuple | None = None


class DbtError(RuntimeError):
    """dbt failed; the message names every failing node and why (the CLI prints it without a traceback)."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def dbt_env(role: str = "transformer") -> dict[str, str]:
    """The environment variables dbt/profiles.yml reads, for a warehouse role."""
    from shuyun import warehouse

    address = warehouse.address(role)
    env = address.env(ENV_PREFIX)
    env[SECRET_ENV] = env.pop(f"{ENV_PREFIX}PASSWORD")
    return env


def _with_project_args(args: list[str]) -> list[str]:
    args = list(args)
    if not args:
        raise DbtError("no dbt command given (for example: build, run, test, docs generate)")
    if args[0] in {"--help", "-h", "--version"}:
        return args
    if "--project-dir" not in args:
        args += ["--project-dir", str(DBT_PROJECT_DIR)]
    if "--profiles-dir" not in args:
        args += ["--profiles-dir", str(DBT_PROJECT_DIR)]
    return args


def describe_failures(result) -> str:
    """Plain-words summary of what failed in a dbtRunnerResult: one line (or a few) per failing node."""
    lines: list[str] = []
    if result.exception is not None:
        lines.append(f"{type(result.exception).__name__}: {_first_lines(str(result.exception))}")
    outcome = result.result
    for node_result in getattr(outcome, "results", None) or []:
        status = str(getattr(node_result, "status", "")).lower().rsplit(".", 1)[-1]
        if status not in {"error", "fail", "runtime error", "runtime_error"}:
            continue
        node = getattr(node_result, "node", None)
        name = getattr(node, "unique_id", None) or getattr(node, "name", None) or "?"
        failures = getattr(node_result, "failures", None)
        detail = _first_lines(getattr(node_result, "message", None) or "")
        if hasattr(node_result, "max_loaded_at"):  # source freshness
            age_hours = (getattr(node_result, "age", 0) or 0) / 3600
            detail = f"stale: last loaded {node_result.max_loaded_at:%Y-%m-%d %H:%M %Z}, {age_hours:.0f} h ago"
        extra = f" ({failures} failing rows)" if failures else ""
        lines.append(f"{status}: {name}{extra}: {detail}".rstrip(": "))
    return "\n".join(lines) or "dbt reported a failure without details (see dbt/logs/dbt.log)"


def _first_lines(message: str, limit: int = 6) -> str:
    """dbt's messages end with a stack of macro calls; keep the words that explain the problem."""
    kept = [line for line in message.strip().splitlines() if not line.strip().startswith("> ")]
    return "\n  ".join(line.rstrip() for line in kept[:limit])


def run_dbt(args: list[str], *, role: str = "transformer", check: bool = True, extra_env: dict | None = None):
    """Run `dbt <args>` in-process against the warehouse as `role`; return the dbtRunnerResult.

    With check=True (default) a failed run raises DbtError naming each failing model/test.
    """
    from dbt.cli.main import dbtRunner

    global _last_connection

    env = dbt_env(role)
    if "DBT_LOG_PATH" not in os.environ:
        env["DBT_LOG_PATH"] = str(DBT_PROJECT_DIR / "logs")
    env.update(extra_env or {})
    command = " ".join(args)
    args = _with_project_args(args)
    target = env.get("SHUYUN_DBT_TARGET") or os.environ.get("SHUYUN_DBT_TARGET")
    if target and "--target" not in args and "-t" not in args and args[0] not in {"--help", "-h", "--version"}:
        args += ["--target", target]
    connection = tuple(env.get(f"{ENV_PREFIX}{key}") for key in ("HOST", "PORT", "USER", "DBNAME")) + (target,)
    with _LOCK, settings.environ(**env):
        if _last_connection not in (None, connection) and not {"--partial-parse", "--no-partial-parse"} & set(args):
            args += ["--no-partial-parse"]
        result = dbtRunner().invoke(args)
        _last_connection = connection
    if check and not result.success:
        raise DbtError(f"`dbt {command}` failed:\n{describe_failures(result)}", result)
    return result


@click.command(
    name="dbt",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.option("--role", default="transformer", show_default=True, help="Warehouse role dbt connects as.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt_cli(role: str, args: tuple[str, ...]) -> None:
    """Run dbt against the warehouse: `shuyun dbt build|run|test|seed|docs generate|source freshness ...`.

    Every argument after the verb goes to dbt unchanged; project and profiles come from dbt/.
    """
    from shuyun.warehouse import WarehouseError

    if not args:
        raise click.UsageError("give a dbt command, e.g. `shuyun dbt build` or `shuyun dbt docs generate`")
    try:
        run_dbt(list(args), role=role)
    except (DbtError, WarehouseError) as err:
        raise click.ClickException(str(err)) from None


def project_dir() -> Path:
    return DBT_PROJECT_DIR


def target_dir() -> Path:
    """Where dbt writes manifest, run results and docs: $DBT_TARGET_PATH, else dbt/target."""
    explicit = os.environ.get("DBT_TARGET_PATH")
    return Path(explicit) if explicit else DBT_PROJECT_DIR / "target"
