"""Fixtures of the dbt tests: the hand-made province of sample_province.py loaded into raw."""

from __future__ import annotations

import psycopg
import pytest
from sample_province import RAW_TABLES, load_first_two_days


@pytest.fixture(scope="session", autouse=True)
def dbt_paths_of_our_own(monkeypatch_session, tmp_path_factory):
    """dbt's target and log folders per test session, so a concurrent `shuyun dbt` or Airflow run
    never shares partial-parse state or compiled SQL with the tests."""
    base = tmp_path_factory.mktemp("dbt")
    monkeypatch_session.setenv("DBT_TARGET_PATH", str(base / "target"))
    monkeypatch_session.setenv("DBT_LOG_PATH", str(base / "logs"))


@pytest.fixture(scope="module")
def province(warehouse_env):
    """raw.* holding the first two days of the sample province (and nothing else)."""
    with psycopg.connect(warehouse_env.conninfo(), autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_TABLES))
        load_first_two_days(conn)
    return warehouse_env
