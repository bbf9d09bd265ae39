"""The CeleryExecutor variant for real: a Redis of its own, two Celery workers, a mapped DAG spread over both.

Everything runs as separate processes (as on several machines): redis-server on a free localhost port,
`airflow db migrate` into a fresh metadata database on the embedded PostgreSQL, api-server (the execution
API the workers' tasks report to), dag-processor, scheduler with CeleryExecutor, and two
`airflow celery worker` processes (concurrency 1, hostnames w1@… and w2@…). The environment is
`service.airflow_env()` plus the settings of infra/airflow/celery.env, so this is the configuration the
README documents. Each mapped task writes which worker ran it; the test waits for the run and asserts
both workers took tasks. Every process is stopped and the database dropped, also on failure.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from celery_support import Processes, celery_env_file, free_port, wait_for

from shuyun.orchestration import service

pytestmark = pytest.mark.slow

DAG_ID = "shuyun_celery_probe"
MAPPED = 6
DAG_SOURCE = f'''
import os, time
from pathlib import Path
import pendulum
from airflow.sdk import dag, task

@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, is_paused_upon_creation=False, max_active_tasks=4)
def probe():
    @task(retries=0)
    def record(i: int) -> str:
        worker = os.environ["SHUYUN_CELERY_WORKER"]
        Path(os.environ["SHUYUN_CELERY_OUT"], f"task_{{i}}").write_text(worker)
        time.sleep(4)
        return worker

    record.expand(i=list(range({MAPPED})))

probe()
'''


def test_a_mapped_dag_runs_on_two_celery_workers(tmp_path, redis_server, metadata_db):
    # given a Redis of our own, a fresh metadata database and the Celery settings of infra/airflow/celery.env
    redis = redis_server
    began = time.monotonic()
    home, dags, out = tmp_path / "airflow", tmp_path / "dags", tmp_path / "out"
    for folder in (home, dags, out):
        folder.mkdir()
    redis_port = free_port()
    api_port = free_port(18300)
    env = service.airflow_env(port_number=api_port, sql_alchemy_conn=metadata_db.url("postgresql+psycopg2"),
                              home=home)
    env.update(celery_env_file())
    env.update({
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_db.url("postgresql+psycopg2"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "SHUYUN_CELERY_OUT": str(out),
    })
    procs = Processes(tmp_path)
    airflow = service.airflow_bin()
    try:
        procs.start("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp_path)], env)
        service.run_airflow(["db", "migrate"], env=env, timeout=300)
        migrated = time.monotonic()
        # the workers first: the DAG appears only once both are ready, so neither can take every task
        for worker in ("w1", "w2"):
            procs.start(worker, [airflow, "celery", "worker", "--concurrency", "1", "--skip-serve-logs",
                                 "--celery-hostname", f"{worker}@%h"], {**env, "SHUYUN_CELERY_WORKER": worker})
        procs.start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)], env)
        procs.start("dag-processor", [airflow, "dag-processor"], env)
        procs.start("scheduler", [airflow, "scheduler"], env)
        wait_for("both Celery workers", lambda: all(
            "ready." in (tmp_path / f"{w}.out").read_text(errors="replace") for w in ("w1", "w2")), 150, procs)
        workers_ready = time.monotonic()

        # when the mapped DAG appears (unpaused, triggered once the dag-processor has serialized it)
        (dags / f"{DAG_ID}.py").write_text(DAG_SOURCE)
        with psycopg.connect(metadata_db.conninfo(), autocommit=True) as conn:
            wait_for("the DAG to be serialized", lambda: conn.execute(
                "select 1 from serialized_dag where dag_id = %s", (DAG_ID,)).fetchone(), 90, procs)
            service.run_airflow(["dags", "trigger", DAG_ID, "--run-id", "celery_probe"], env=env, timeout=120)
            triggered = time.monotonic()
            state = wait_for("the run to finish", lambda: (row := conn.execute(
                "select state from dag_run where dag_id = %s and run_id = 'celery_probe'", (DAG_ID,)).fetchone())
                and row[0] in ("success", "failed") and row[0], 120, procs)
            tasks = conn.execute("select map_index, state from task_instance where dag_id = %s order by map_index",
                                 (DAG_ID,)).fetchall()
        finished = time.monotonic()

        # then the run succeeded, every mapped task ran, and both workers ran some of them
        assert state == "success", f"run ended {state}: {tasks}\n{procs.tails()}"
        assert tasks == [(i, "success") for i in range(MAPPED)]
        ran_on = {p.name: p.read_text() for p in out.iterdir()}
        assert len(ran_on) == MAPPED
        assert set(ran_on.values()) == {"w1", "w2"}, ran_on
        print(f"\ncelery timings: migrate {migrated - began:.0f} s, workers ready {workers_ready - migrated:.0f} s, "
              f"DAG serialized+triggered {triggered - workers_ready:.0f} s, run {finished - triggered:.0f} s, "
              f"total {finished - began:.0f} s; tasks per worker: "
              f"{ {w: list(ran_on.values()).count(w) for w in ('w1', 'w2')} }")
    finally:
        procs.stop()
