"""Orchestration: the Airflow that runs the chain (ingest → dbt → publish) and the `shuyun airflow` verb.

  shuyun.orchestration.service   start/stop Airflow, trigger/wait/backfill runs (REST API v2)
  shuyun.orchestration.intervals what period a run loads (data interval, params, manual runs)
  shuyun.orchestration.steps     the bodies of the DAGs' tasks, runnable without Airflow
  shuyun.orchestration.cli       `shuyun airflow up|down|status|trigger|wait|backfill|run`

DAG files in <repo>/dags import only `intervals` and `steps` at parse time (both cheap: no database,
no network, no Airflow provider). Nothing here imports airflow at module level.
"""

from __future__ import annotations


def __getattr__(name: str):
    # `shuyun.orchestration:airflow_cli` is what the CLI registry names; load click only when asked.
    if name == "airflow_cli":
        from shuyun.orchestration.cli import airflow_cli

        return airflow_cli
    raise AttributeError(name)
