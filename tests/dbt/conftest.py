"""Fixtures of the dbt tests: the hand-made province of sample_province.py loaded into raw."""

from __future__ import annotations

import psycopg
import pytest
from sample_province import RAW_TABLES, load_first_two_days


@pytest.fixture(scope="module")
def province(warehouse_env):
    """raw.* holding the first two days of the sample province (and nothing else)."""
    with psycopg.connect(warehouse_env.conninfo(), autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_TABLES))
        load_first_two_days(conn)
    return warehouse_env
