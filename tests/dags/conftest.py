"""Airflow for the DAG tests: its own AIRFLOW_HOME and metadata database, and a tiny province on disk.

Airflow reads AIRFLOW_HOME and the metadata address when it is first imported, so `airflow_home` sets the
environment before any test imports it and refuses to go on if something imported Airflow earlier.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from shuyun import warehouse as wh
from shuyun.orchestration import service

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
COUNTIES = {"c532622": ("532622", "砚山县"), "c532623": ("532623", "西畴县"), "c532624": ("532624", "麻栗坡县")}
DAYS = ("20260301", "20260302", "20260305")  # the run loads [03-01, 03-03): the 05 file must stay unloaded
LIBRARY_HEADER = ("library_code,name_zh,name_en,level,parent_code,division_code,population_served,valid_from,"
                  "valid_to,floor_area_m2,seats,children_seats,networked_pcs,weekly_open_hours,staff,periodicals,"
                  "source_system")


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, monkeypatch_session, warehouse_env) -> Path:
    """A migrated Airflow metadata database of this session, configured in os.environ; Airflow importable."""
    name = f"airflow_test_{os.getpid()}"
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    home = tmp_path_factory.mktemp("airflow_home")
    url = wh.address("owner", dbname=name).url("postgresql+psycopg2")
    env = service.airflow_env(port_number=18080, sql_alchemy_conn=url, home=home)
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        pytest.fail("Airflow was imported before the DAG tests configured it; run tests/dags in a session of its own")
    for key, value in env.items():
        if key.startswith("AIRFLOW") or key == "PYTHONPATH":
            monkeypatch_session.setenv(key, value)
    service.run_airflow(["db", "migrate"], env=env, timeout=300)
    yield home
    with wh.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.fixture
def tiny_province(tmp_path, monkeypatch, warehouse_env) -> Path:
    """Three county sources delivering hourly gate counts on three days; registry files beside them."""
    root = tmp_path / "province"
    sources = [{"name": name, "county_code": county, "county_name_zh": zh, "library_code": f"{county}000",
                "dialect": "koha", "transport": {"kind": "file_drop", "path": f"landing/{name}"}, "feeds": ["visits"]}
               for name, (county, zh) in COUNTIES.items()]
    root.mkdir()
    (root / "sources.yml").write_text(yaml.safe_dump({"province": {"code": "530000"}, "sources": sources},
                                                     allow_unicode=True), encoding="utf-8")
    (root / "registry").mkdir()
    libraries = [f"{c}000,{zh}图书馆,,county,532600000,{c},480000,2015-01-01,,5200,400,80,40,56,12,200,koha"
                 for c, zh in COUNTIES.values()]
    (root / "registry" / "libraries.csv").write_text("\n".join([LIBRARY_HEADER, *libraries]) + "\n", encoding="utf-8")
    ranges = [f"reader,{c}000000001,{c}000999999,{c}000" for c, _ in COUNTIES.values()]
    (root / "registry" / "barcode_ranges.csv").write_text(
        "\n".join(["kind,first_barcode,last_barcode,library_code", *ranges]) + "\n", encoding="utf-8")
    for name, (county, _) in COUNTIES.items():
        folder = root / "landing" / name / "visits"
        folder.mkdir(parents=True)
        for day in DAYS:
            stamp = f"{day[:4]}-{day[4:6]}-{day[6:]}"
            rows = [f"G1,{county}000,{stamp} {hour:02d}:00,{hour + 10},{hour + 8}" for hour in (9, 10, 11)]
            (folder / f"gate_{day}.csv").write_text("\n".join(["device_id,library_code,hour_start,in_count,out_count",
                                                              *rows]) + "\n", encoding="utf-8")
    monkeypatch.setenv("SHUYUN_SOURCES", str(root / "sources.yml"))
    monkeypatch.setenv("SHUYUN_ARCHIVE_DIR", str(root / "archive"))
    monkeypatch.setenv("SHUYUN_PSEUDONYM_KEY", "test-key-not-a-secret")
    monkeypatch.delenv("SHUYUN_PSEUDONYM_KEY_FILE", raising=False)
    yield root
    _forget_batches(warehouse_env, str(root))


def _forget_batches(owner, prefix: str) -> None:
    """Remove what these tests loaded, so other suites sharing the session database start clean."""
    with psycopg.connect(owner.conninfo(), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "select batch_id from raw.ingest_batches where archived_path like %s", (prefix + "%",))]
        for table in ("raw.visitor_counts", "raw.libraries", "raw.barcode_ranges", "quarantine.rejected_rows"):
            conn.execute(sql.SQL("delete from {} where _batch_id = any(%s)").format(sql.SQL(table)), (ids,))
        conn.execute("delete from raw.ingest_batches where batch_id = any(%s) or archived_path like %s",
                     (ids, prefix + "%"))


# ---------------------------------------------------------------- the Celery tests (test_celery*.py)

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
