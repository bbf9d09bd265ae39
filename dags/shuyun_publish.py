"""
### shuyun_publish — dashboards and reports

Scheduled by the Asset `shuyun://warehouse/marts` (emitted by `shuyun_transform`): publishes the Superset
dashboards (`dashboards.publish.publish()`, assets as code in `dashboards/`) so they show the fresh marts, and
exports the reporting chain's files (`reports.api.export_all()`: each county's printable scorecard and the
quarterly statistics report .xlsx, in `.shuyun/reports/`). The two tasks are independent.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from shuyun.orchestration import steps

MARTS = Asset(steps.MARTS_ASSET_URI)

default_args = {
    "owner": "shuyun-data",
    "retries": steps.retries(2),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
}


@dag(
    dag_id="shuyun_publish",
    schedule=[MARTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    dagrun_timeout=timedelta(hours=1),
    tags=["shuyun", "superset", "reports"],
    doc_md=__doc__,
)
def shuyun_publish():
    @task
    def publish_dashboards() -> None:
        steps.publish_dashboards()

    @task
    def export_reports() -> list[str]:
        return steps.export_reports()

    publish_dashboards()
    export_reports()


shuyun_publish()
