"""
### shuyun_transform — dbt build, layer by layer

Scheduled by the Asset `shuyun://warehouse/raw` (emitted by `shuyun_ingest`). Runs `dbt build` through
the project's runner (`shuyun.transform.run_dbt`) one model group per task: staging → intermediate →
each mart group (the folders under `dbt/models/marts`, listed when this file is parsed; no `dbt ls`).
`build` runs each model's tests right after it, so a failed test stops what depends on it.
Emits `shuyun://warehouse/marts` when every group built, which schedules `shuyun_publish`.

The groups run one at a time (`max_active_tasks=1`): dbt invocations share one target folder.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from shuyun.orchestration import steps

RAW = Asset("shuyun://warehouse/raw")
MARTS = Asset("shuyun://warehouse/marts")

default_args = {
    "owner": "shuyun-data",
    "retries": 1,
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
        steps.dbt_build("path:models/staging")

    @task
    def intermediate() -> None:
        steps.dbt_build("path:models/intermediate")

    @task(outlets=[MARTS])
    def marts_built() -> None:
        """Every mart group built and tested: the marts are fresh."""

    built = marts_built()
    layers = staging() >> intermediate()
    groups = steps.mart_groups()
    if not groups:
        groups_tasks = [task(task_id="marts")(steps.dbt_build)("path:models/marts")]
    else:
        groups_tasks = [
            task(task_id=f"marts_{group}")(steps.dbt_build)(f"path:models/marts/{group}") for group in groups
        ]
    for group_task in groups_tasks:
        layers >> group_task >> built


shuyun_transform()
