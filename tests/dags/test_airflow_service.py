"""Airflow as a service for real: api-server, scheduler, dag-processor and triggerer started in the
background, a run triggered and waited for through the REST API, a failing county reported by name
with its log, and every process gone after stop(). Takes minutes: `slow`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from psycopg import sql

from shuyun import warehouse as wh
from shuyun.orchestration import service

pytestmark = pytest.mark.slow


@pytest.fixture
def own_airflow(tmp_path, monkeypatch, warehouse_env, tiny_province):
    """A SHUYUN_HOME of its own (Airflow home, pid files, port), on the session's PostgreSQL server."""
    owner = wh.address()  # the session's test warehouse, before SHUYUN_HOME moves
    for role in wh.ROLES:  # keep the cluster-wide role passwords: a new home would generate new ones
        monkeypatch.setenv(f"SHUYUN_{role.upper()}_PASSWORD", wh.role_password(role))
    monkeypatch.setenv("SHUYUN_PSEUDONYM_KEY", "test-key-not-a-secret")
    name = f"airflow_svc_{int(time.time())}"
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    monkeypatch.setenv("SHUYUN_WAREHOUSE_URL", owner.url("postgresql"))
    monkeypatch.setenv("SHUYUN_AIRFLOW_DB_URL", wh.address("owner", dbname=name).url("postgresql"))
    monkeypatch.setenv("SHUYUN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHUYUN_AIRFLOW_RETRIES", "0")
    monkeypatch.delenv("SHUYUN_AIRFLOW_PORT", raising=False)
    service._TOKEN.clear()
    yield tmp_path / "home"
    service.stop()
    monkeypatch.undo()
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_start_trigger_wait_fail_and_stop(own_airflow, tiny_province):
    # when Airflow starts in the background / then it is healthy and says where and how to log in
    first = service.start(timeout=400)
    assert first.started and set(first.pids) == set(service.COMPONENTS)
    print(f"\nstart() from cold: {first.seconds:.1f}s")
    assert service.status()["health"]["scheduler"]["status"] == "healthy"
    # and starting again changes nothing
    again = service.start()
    assert not again.started and again.pids == first.pids and again.url == first.url

    # when the ingest DAG is triggered for a period / then the run succeeds
    run_id = service.trigger("shuyun_ingest", conf={"start": "2026-03-01", "end": "2026-03-03"}, downstream=False)
    assert service.wait("shuyun_ingest", run_id, timeout=600, poll=2) == "success"

    # when one county's landing folder disappears / then wait() names its mapped task and shows why
    shutil.rmtree(tiny_province / "landing" / "c532624")
    run_id = service.trigger("shuyun_ingest", conf={"start": "2026-03-01", "end": "2026-03-03"}, downstream=False)
    with pytest.raises(service.RunFailed) as failure:
        service.wait("shuyun_ingest", run_id, timeout=600, poll=2)
    assert "ingest_county[c532624]" in failure.value.failed_tasks
    assert "all_counties_loaded" in failure.value.failed_tasks
    assert not any(t.startswith("ingest_county[c532622") for t in failure.value.failed_tasks)
    assert "landing folder" in failure.value.excerpt

    # when stopped / then every process it started is gone, and stopping again is harmless
    pids = dict(first.pids)
    assert set(service.stop()) == set(service.COMPONENTS)
    assert not any(Path(f"/proc/{pid}").exists() and service._is_ours(pid, c) for c, pid in pids.items())
    assert service.stop() == []
