"""Issue 5 item 4 for the project's own DAGs: `shuyun_ingest` → `shuyun_transform` from `dags/`, unchanged, on
two Celery workers.

The processes and settings are those of test_celery.py (its helpers are reused): a redis-server of the test's
own on a free port (skips without one, installing nothing), a fresh Airflow metadata database, `airflow_env()`
plus infra/airflow/celery.env, api-server, dag-processor, scheduler and two `airflow celery worker`
processes. What changes is the work: the real DAG folder, a generated test-size province (three counties,
faults included) loaded into a warehouse database of the test's own, dbt and the GX gates for real. The ingest
run is triggered for two days; the raw Asset it emits schedules the transform. Asserted: both runs succeed,
every task instance ran on one of the two workers and both workers took some, and the marts hold what the
generator says happened on those days. Takes minutes: `slow`.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import Counter
from datetime import date

import psycopg
import pytest
from celery_support import Processes, celery_env_file, free_port, wait_for

from shuyun import warehouse as wh
from shuyun.demo import generate, preset
from shuyun.orchestration import service

pytestmark = pytest.mark.slow

DAYS = ("2026-03-01", "2026-03-02")
WORKERS = ("w1", "w2")
# the Celery provider logs every workload it runs: `Executing workload in Celery: ExecuteTask(ti=TaskInstance(…`
WORKLOAD = re.compile(r"Executing workload in Celery: .*?task_id='([^']+)'.*?dag_id='([^']+)'.*?run_id='([^']+)'"
                      r".*?map_index=(-?\d+)")


@pytest.fixture
def chain_warehouse(tmp_path, redis_server, warehouse_env):  # noqa: F811 - the fixture of test_celery.py
    """A fresh warehouse database and a generated province for two days (03-01, 03-02) plus one more (03-03)."""
    province = tmp_path / "province"
    generate(preset("test", start=date(2026, 3, 1), days=3), province)
    name = f"shuyun_celery_chain_{int(time.time())}"
    owner = wh.create_database(name)
    yield owner, province
    wh.drop_database(name)


def _ran_on(logs) -> dict[tuple[str, str, str, int], list[str]]:
    """(dag_id, run_id, task_id, map_index) → the workers whose log says they executed it."""
    seen: dict[tuple[str, str, str, int], list[str]] = {}
    for worker in WORKERS:
        text = (logs / f"{worker}.out").read_text(errors="replace")
        for task_id, dag_id, run_id, map_index in WORKLOAD.findall(text):
            seen.setdefault((dag_id, run_id, task_id, int(map_index)), []).append(worker)
    return seen


def test_ingest_and_transform_of_the_project_run_on_two_celery_workers(tmp_path, redis_server, metadata_db,  # noqa: F811
                                                                       chain_warehouse):
    owner, province = chain_warehouse
    began = time.monotonic()
    home = tmp_path / "airflow"
    home.mkdir()
    redis_port, api_port = free_port(), free_port(18400)
    env = service.airflow_env(port_number=api_port, sql_alchemy_conn=metadata_db.url("postgresql+psycopg2"),
                              home=home)
    env.update(celery_env_file())
    env.update({
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_db.url("postgresql+psycopg2"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        # what the workers' tasks read: the province, a warehouse of their own, dbt folders of their own
        "SHUYUN_SOURCES": str(province / "sources.yml"),
        "SHUYUN_ARCHIVE_DIR": str(tmp_path / "archive"),
        # GX state and its lock of our own: the default lives in the demo's home, beside its running gates
        "SHUYUN_QUALITY_HOME": str(tmp_path / "quality"),
        "SHUYUN_WAREHOUSE_DB": owner.dbname,
        "SHUYUN_PSEUDONYM_KEY": "test-key-not-a-secret",
        "SHUYUN_AIRFLOW_RETRIES": "0",
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
    })
    env.pop("SHUYUN_PSEUDONYM_KEY_FILE", None)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(service.DAGS_FOLDER)  # the project's DAGs, unchanged
    procs = Processes(tmp_path)
    airflow = service.airflow_bin()
    try:
        procs.start("redis", [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp_path)], env)
        service.run_airflow(["db", "migrate"], env=env, timeout=300)
        for worker in WORKERS:
            procs.start(worker, [airflow, "celery", "worker", "--concurrency", "1", "--skip-serve-logs",
                                 "--celery-hostname", f"{worker}@%h"], env)
        procs.start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)], env)
        procs.start("dag-processor", [airflow, "dag-processor"], env)
        procs.start("scheduler", [airflow, "scheduler"], env)
        wait_for("both Celery workers", lambda: all(
            "ready." in (tmp_path / f"{w}.out").read_text(errors="replace") for w in WORKERS), 240, procs)
        ready = time.monotonic()

        with psycopg.connect(metadata_db.conninfo(), autocommit=True) as meta:
            wait_for("the project's DAGs to be serialized", lambda: meta.execute(
                "select count(*) from serialized_dag where dag_id in ('shuyun_ingest', 'shuyun_transform')"
            ).fetchone()[0] == 2, 180, procs)
            # when the ingest DAG is triggered for two days (transform unpaused first, so the raw Asset schedules it)
            service.run_airflow(["dags", "unpause", "shuyun_transform"], env=env, timeout=120)
            service.run_airflow(["dags", "unpause", "shuyun_ingest"], env=env, timeout=120)
            conf = json.dumps({"start": DAYS[0], "end": "2026-03-03"})
            service.run_airflow(["dags", "trigger", "shuyun_ingest", "--run-id", "celery_chain", "--conf", conf],
                                env=env, timeout=120)
            triggered = time.monotonic()
            ingest = wait_for("the ingest run", lambda: (row := meta.execute(
                "select state from dag_run where dag_id = 'shuyun_ingest' and run_id = 'celery_chain'").fetchone())
                and row[0] in ("success", "failed") and row[0], 600, procs)
            assert ingest == "success", f"ingest ended {ingest}\n{procs.tails()}"
            ingested = time.monotonic()
            # unpausing also starts the daily schedule (the latest closed day: nothing to load); let every
            # ingest run and every transform run it scheduled end
            wait_for("every run to end", lambda: _settled(metadata_db) and (time.sleep(10) or _settled(metadata_db)),
                      1500, procs, poll=3)
            transformed = time.monotonic()
            tasks = meta.execute(
                "select dag_id, run_id, task_id, map_index, state from task_instance "
                "where dag_id in ('shuyun_ingest', 'shuyun_transform') and state is not null").fetchall()

        # then every run succeeded, the transform was scheduled by the ingest's Asset
        ingest_runs, transform_runs = _runs(metadata_db, "shuyun_ingest"), _runs(metadata_db, "shuyun_transform")
        assert {state for _, _, state in ingest_runs + transform_runs} == {"success"}, tasks
        assert {run_type for _, run_type, _ in transform_runs} == {"asset_triggered"}
        ran = [t for t in tasks if t[4] != "skipped"]
        assert all(t[4] == "success" for t in ran), [t for t in ran if t[4] != "success"]
        mapped = sorted(t[3] for t in ran if t[1] == "celery_chain" and t[2] == "ingest_county")
        assert mapped == [0, 1, 2], "one mapped ingest task per county of the province"
        # and every task instance ran on exactly one of the two workers, and both workers took some
        on = _ran_on(tmp_path)
        for dag_id, run_id, task_id, map_index, _ in ran:
            assert len(on.get((dag_id, run_id, task_id, map_index), [])) == 1, (dag_id, run_id, task_id, map_index)
        per_worker = Counter(worker for workers in on.values() for worker in workers)
        assert set(per_worker) == set(WORKERS), per_worker
        # and the marts hold what the generator says happened on the two days (its oracle counts its faults)
        expected = Counter()
        with (province / "expected" / "circulation_by_county_day.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["date"] in DAYS:
                    expected[(row["county_code"], row["date"], row["event_type"])] += int(row["events"])
        with psycopg.connect(owner.conninfo()) as conn:
            got = Counter({(c, d.isoformat(), k): n for c, d, k, n in conn.execute(
                "select county_code, event_date, event_type, count(*) from marts.fct_circulation_events "
                "group by 1, 2, 3")})
        assert got == expected
        print(f"\ncelery chain: workers ready {ready - began:.0f} s, ingest run {ingested - triggered:.0f} s, "
              f"transform(s) {transformed - ingested:.0f} s, total {time.monotonic() - began:.0f} s; "
              f"task instances per worker {dict(per_worker)}; runs: ingest {len(ingest_runs)}, "
              f"transform {len(transform_runs)}")
    finally:
        procs.stop()


def _runs(metadata, dag_id: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(metadata.conninfo()) as conn:
        return conn.execute("select run_id, run_type, state from dag_run where dag_id = %s order by id",
                            (dag_id,)).fetchall()


def _settled(metadata) -> bool:
    """A transform ran and no run of either DAG is queued or running."""
    runs = _runs(metadata, "shuyun_ingest") + _runs(metadata, "shuyun_transform")
    return any(run_id != "celery_chain" and run_type == "asset_triggered" for run_id, run_type, _ in runs) and all(
        state in ("success", "failed") for _, _, state in runs)
