"""The Great Expectations project: data source → table assets → batch definitions → suites → validation definitions.

The GX project lives in `quality/gx/` (committed: `great_expectations.yml` with the warehouse data source, one
table asset per checked table and its batch definition). Everything GX writes while running (suites rendered
from `quality/checks.py`, validation definitions, validation results) goes to the state folder
`$SHUYUN_HOME/quality/gx_state`, and Data Docs to `$SHUYUN_HOME/quality/data_docs`: the repository stays
read-only at run time and test runs never mix their results into the warehouse's Data Docs.

Nothing secret is written: the connection string in the yml is `${SHUYUN_QUALITY_WAREHOUSE_URL}`, filled from
`shuyun.warehouse.url("transformer")` (which respects SHUYUN_WAREHOUSE_DB) when the context is created.

Batch definitions: raw tables are partitioned on `_batch_id` (one delivery), staging and marts on
`county_code`. GX only offers date partitioners through `add_batch_definition` by default; the column-value
partitioner is a supported GX partitioner that we register with `validate_partitioner=False`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from quality.checks import Check
from shuyun import settings

PROJECT_DIR = Path(__file__).resolve().parent  # GX puts its project in PROJECT_DIR / "gx"
DATASOURCE = "warehouse"
URL_VAR = "SHUYUN_QUALITY_WAREHOUSE_URL"
STATE_VAR = "SHUYUN_QUALITY_STATE_DIR"
DOCS_VAR = "SHUYUN_QUALITY_DOCS_DIR"
SITE = "shuyun_site"

log = logging.getLogger(__name__)


def quiet_gx() -> None:
    """GX logs every metric it registers at INFO and draws progress bars: keep our logs readable."""
    for name in ("great_expectations", "great_expectations.expectations.registry"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def quality_home() -> Path:
    """State of the quality gates: $SHUYUN_QUALITY_HOME, else $SHUYUN_HOME/quality."""
    path = Path(os.environ.get("SHUYUN_QUALITY_HOME") or settings.home() / "quality").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def docs_dir() -> Path:
    return quality_home() / "data_docs"


@contextlib.contextmanager
def gx_lock(exclusive: bool):
    """Inter-process lock over the GX state folder (Airflow may run several gates at once)."""
    path = quality_home() / "gx.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def partition_column(layer: str) -> str:
    return "_batch_id" if layer == "raw" else "county_code"


def asset_name(table: str) -> str:
    return table.replace(".", "__")


_contexts: dict[tuple[str, str], object] = {}


def context():
    """The file-backed GX context of this project (one per warehouse database and state folder per process)."""
    from shuyun import warehouse

    quiet_gx()
    url = warehouse.url("transformer", driver="postgresql+psycopg")
    home = quality_home()
    key = (url, str(home))
    if key in _contexts:
        return _contexts[key]
    os.environ[URL_VAR] = url
    os.environ[STATE_VAR] = str(home / "gx_state")
    os.environ[DOCS_VAR] = str(docs_dir())
    import great_expectations as gx

    quiet_gx()
    ctx = gx.get_context(mode="file", project_root_dir=str(PROJECT_DIR))
    _contexts[key] = ctx
    return ctx


def datasource(ctx):
    try:
        return ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        log.info("adding the %s data source to the GX project", DATASOURCE)
        return ctx.data_sources.add_postgres(DATASOURCE, connection_string="${" + URL_VAR + "}")


def batch_definition(ctx, layer: str, table: str):
    """The table asset of `table` and its batch definition (one batch = one delivery or one county)."""
    from great_expectations.core.partitioners import PartitionerColumnValue

    ds = datasource(ctx)
    schema, name = table.split(".", 1)
    column = partition_column(layer)
    try:
        asset = ds.get_asset(asset_name(table))
        if asset.table_name != name or asset.schema_name != schema:
            ds.delete_asset(asset_name(table))
            raise LookupError
    except (KeyError, LookupError):
        asset = ds.add_table_asset(asset_name(table), table_name=name, schema_name=schema)
    bd_name = f"per_{column.strip('_')}"
    try:
        return asset.get_batch_definition(bd_name)
    except KeyError:
        return asset.add_batch_definition(
            bd_name, partitioner=PartitionerColumnValue(column_name=column), validate_partitioner=False
        )


def validation_definition(ctx, layer: str, table: str, checks: list[Check]):
    """Suite of `table` built from the checks as code, bound to the table's batch definition."""
    import great_expectations as gx

    suite_name = checks[0].suite
    suite = gx.ExpectationSuite(name=suite_name, meta={"layer": layer, "table": table})
    for check in checks:
        suite.add_expectation(check.expectation())
    suite = ctx.suites.add_or_update(suite)
    return ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_definition(ctx, layer, table), suite=suite)
    )


def build_data_docs(keep_days: int | None = None) -> Path:
    """Render GX Data Docs as static HTML; returns the site's index.html.

    Validation results older than `keep_days` (thresholds.yml `data_docs.keep_days`) are pruned from the GX
    store first and the site is rebuilt from scratch, so the site stays the size of its window (the full history
    of every result stays in quality.validation_results).
    """
    import shutil
    import time

    from quality.checks import load_thresholds

    if keep_days is None:
        keep_days = int(load_thresholds().number("data_docs", "keep_days"))
    ctx = context()
    with gx_lock(exclusive=True):
        cutoff = time.time() - keep_days * 86400
        store = quality_home() / "gx_state" / "validations"
        for path in store.rglob("*.json") if store.exists() else []:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        shutil.rmtree(docs_dir(), ignore_errors=True)
        ctx.build_data_docs(site_names=[SITE])
    index = docs_dir() / "index.html"
    if not index.exists():
        raise RuntimeError(f"GX did not write Data Docs to {index}")
    return index
