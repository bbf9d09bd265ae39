"""Shared fixtures: a real PostgreSQL for every test that needs one.

The embedded server (or the one SHUYUN_WAREHOUSE_URL names) is started once; each test session gets a
fresh, bootstrapped database of its own, so tests never touch the demo's `shuyun` database.
"""

from __future__ import annotations

import os

import psycopg
import pytest
from warehouse_state import empty_raw_tables

from shuyun import warehouse as wh


@pytest.fixture(scope="session")
def warehouse_db() -> wh.Address:
    """Owner address of a fresh warehouse database (schemas, roles, raw tables, grants) for this session."""
    wh.up()
    name = f"shuyun_test_{os.getpid()}"
    owner = wh.create_database(name)
    yield owner
    wh.drop_database(name)


@pytest.fixture(scope="session")
def warehouse_env(warehouse_db, monkeypatch_session) -> wh.Address:
    """Point everything that reads the environment (dbt profiles, ingestion, quality) at the test database."""
    monkeypatch_session.setenv("SHUYUN_WAREHOUSE_DB", warehouse_db.dbname)
    return warehouse_db


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture
def pg(warehouse_db) -> psycopg.Connection:
    """An owner connection to the session's test database (autocommit)."""
    with psycopg.connect(warehouse_db.conninfo(), autocommit=True) as conn:
        yield conn



@pytest.fixture
def empty_raw(warehouse_env):
    """The session database with raw, quarantine and the quality holds emptied: for tests whose oracle is
    'exactly these deliveries and nothing else' (the whole suite shares one database per session)."""
    empty_raw_tables(warehouse_env.conninfo())
    return warehouse_env
