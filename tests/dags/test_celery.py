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

import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shuyun import settings
from shuyun import warehouse as wh
from shuyun.orchestration import service

pytestmark = pytest.mark.slow

CELERY_ENV = settings.PROJECT_ROOT / "infra" / "airflow" / "celery.env"
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


def _free_port(start: int | None = None) -> int:
    candidates = range(start, start + 200) if start else [0]
    for candidate in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port from {start}")


def _celery_env_file() -> dict[str, str]:
    values = {}
    for line in CELERY_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


class Processes:
    """Processes started by the test, each in its own session; stop() ends exactly those groups."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=str(self.logs))
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            pytest.fail(f"processes exited early: {dead}\n{self.tails(dead)}")

    def tails(self, names=None, chars: int = 1500) -> str:
        parts = []
        for name in names or self.procs:
            path = self.logs / f"{name}.out"
            text = path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
            parts.append(f"--- {name}\n{text}")
        return "\n".join(parts)

    def stop(self, timeout: float = 20) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)


def _wait_for(what: str, check, timeout: float, procs: Processes, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        procs.check_alive()
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{procs.tails()}")


@pytest.fixture
def redis_server() -> str:
    """The redis-server binary; the test skips (installing nothing) without it, before any database is made."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not on PATH (Debian package redis-server); nothing is installed by the test")
    # Asked of the package metadata, not by importing: importing Airflow in this process would configure it
    # before tests/dags/conftest.py does (the dag.test() tests need their own AIRFLOW_HOME).
    try:
        importlib.metadata.version("apache-airflow-providers-celery")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("apache-airflow-providers-celery is not installed")
    return binary


@pytest.fixture
def metadata_db(redis_server, warehouse_env):
    name = f"airflow_celery_{os.getpid()}"
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield wh.address("owner", dbname=name)
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_a_mapped_dag_runs_on_two_celery_workers(tmp_path, redis_server, metadata_db):
    # given a Redis of our own, a fresh metadata database and the Celery settings of infra/airflow/celery.env
    redis = redis_server
    began = time.monotonic()
    home, dags, out = tmp_path / "airflow", tmp_path / "dags", tmp_path / "out"
    for folder in (home, dags, out):
        folder.mkdir()
    redis_port = _free_port()
    api_port = _free_port(18300)
    env = service.airflow_env(port_number=api_port, sql_alchemy_conn=metadata_db.url("postgresql+psycopg2"),
                              home=home)
    env.update(_celery_env_file())
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
        _wait_for("both Celery workers", lambda: all(
            "ready." in (tmp_path / f"{w}.out").read_text(errors="replace") for w in ("w1", "w2")), 150, procs)
        workers_ready = time.monotonic()

        # when the mapped DAG appears (unpaused, triggered once the dag-processor has serialized it)
        (dags / f"{DAG_ID}.py").write_text(DAG_SOURCE)
        with psycopg.connect(metadata_db.conninfo(), autocommit=True) as conn:
            _wait_for("the DAG to be serialized", lambda: conn.execute(
                "select 1 from serialized_dag where dag_id = %s", (DAG_ID,)).fetchone(), 90, procs)
            service.run_airflow(["dags", "trigger", DAG_ID, "--run-id", "celery_probe"], env=env, timeout=120)
            triggered = time.monotonic()
            state = _wait_for("the run to finish", lambda: (row := conn.execute(
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
