"""
### shuyun_transform — dbt build, layer by layer

Scheduled by the Asset `shuyun://warehouse/raw` (emitted by `shuyun_ingest`). Runs `dbt build` through
the project's runner (`shuyun.transform.run_dbt`) one model group per task, with the Great Expectations
gates of staging and marts (`quality.run_gate`) between them: staging → gate → intermediate →
each mart group (sub-folders of `dbt/models/marts`, else dim_ → fct_ → mart_ models; listed when this
file is parsed, no `dbt ls`).
`build` runs each model's tests right after it, so a failed test stops what depends on it; tests that
span groups (a fact's relationship to a dimension) run once every group is built.
Emits `shuyun://warehouse/marts` when every group built, which schedules `shuyun_publish`.

The groups run one after the other: later groups ref earlier ones, and dbt invocations share one target folder.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from shuyun.orchestration import steps

RAW = Asset(steps.RAW_ASSET_URI)
MARTS = Asset(steps.MARTS_ASSET_URI)

default_args = {
    "owner": "shuyun-data",
    "retries": steps.retries(1),
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


@dag(
    dag_id="shuyun_transform",
    schedule=[RAW],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args=default_args,
    dagrun_timeout=timedelta(hours=4),
    tags=["shuyun", "dbt"],
    doc_md=__doc__,
)
def shuyun_transform():
    @task
    def staging() -> None:
        steps.dbt_build("resource_type:seed", "path:models/staging")

    @task
    def intermediate() -> None:
        steps.dbt_build("path:models/intermediate")

    @task(outlets=[MARTS])
    def marts_built() -> None:
        """Every mart group built and tested: the marts are fresh."""

    @task
    def marts_cross_group_tests(groups: list[list[str]]) -> list[str]:
        """The mart tests whose models were built by different groups (e.g. fact → dimension relationships)."""
        return steps.dbt_cross_group_tests(groups)

    @task
    def quality_gate_staging() -> dict:
        """Great Expectations on staging, per county: a failing county is held back, the others flow on."""
        return steps.quality_gate("staging")

    @task
    def quality_gate_marts() -> dict:
        """Great Expectations on the marts, per county: publishing skips the counties it blocks."""
        return steps.quality_gate("marts")

    groups = steps.mart_groups() or [("all", ["path:models/marts"])]
    previous = staging() >> quality_gate_staging() >> intermediate()
    for name, selectors in groups:
        group = task(task_id=f"marts_{name}", doc_md=f"dbt build --select {' '.join(selectors)}")(steps.dbt_build)
        previous = previous >> group(*selectors)
    previous >> marts_cross_group_tests([selectors for _, selectors in groups]) >> quality_gate_marts() >> marts_built()

shuyun_transform()
