"""Fixtures of the quality tests: the province of gate_data.py, loaded once, and the three gates run once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from gate_data import (
    MART_CLEAN,
    MART_FAULTS,
    MART_HOLIDAY_DROP,
    STG_CLEAN,
    STG_FAULTS,
    create_transformer_tables,
    load_marts,
    load_raw,
    load_staging,
    raw_events_of,
    set_aside,
)
from warehouse_state import empty_raw_tables

from shuyun import warehouse as wh

# ------------------------------------------------------------------------------------------ the session's gates

@dataclass
class Gates:
    batches: dict[str, str]
    raw: object
    staging: object
    marts: object
    owner: wh.Address

    def outcome(self, gate, check: str, unit: str) -> bool:
        layer_result = getattr(self, gate)
        key = "batch_id" if gate == "raw" else "county_code"
        found = [r for r in layer_result.results if r.expectation == check and getattr(r, key) == unit]
        assert len(found) == 1, f"expected one result of {check} for {unit}, got {found}"
        return found[0].success


@pytest.fixture(scope="session")
def quality_home(tmp_path_factory, monkeypatch_session):
    home = tmp_path_factory.mktemp("quality_home")
    monkeypatch_session.setenv("SHUYUN_QUALITY_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def gates(warehouse_env, quality_home) -> Iterator[Gates]:
    import quality
    from quality.gate import DDL

    db = warehouse_env.dbname
    # This province reuses county codes of other folders' test data (532622): start from empty raw.
    empty_raw_tables(warehouse_env.conninfo())
    with psycopg.connect(wh.address("transformer", dbname=db).conninfo(), autocommit=True) as conn:
        conn.execute(DDL.read_text())
        with conn.cursor() as cur:
            create_transformer_tables(cur)
    with psycopg.connect(wh.address("loader", dbname=db).conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        batches = load_raw(cur)
        for county in [STG_CLEAN, *STG_FAULTS.values(), MART_CLEAN, MART_HOLIDAY_DROP, *MART_FAULTS.values()]:
            raw_events_of(cur, county)
    with psycopg.connect(wh.address("transformer", dbname=db).conninfo(), autocommit=True) as conn:
        with conn.cursor() as cur:
            for county, fault in [(STG_CLEAN, None), *((c, f) for f, c in STG_FAULTS.items())]:
                load_staging(cur, county, fault)
            for county, fault in [(MART_CLEAN, None), (MART_HOLIDAY_DROP, "holiday_drop"),
                                  *((c, f) for f, c in MART_FAULTS.items())]:
                load_marts(cur, county, fault)
    # only this province's deliveries and counties: other tests may share the session database
    raw = quality.run_gate("raw", batch_ids=list(batches.values()))
    staging = quality.run_gate("staging", county_codes=[STG_CLEAN, *STG_FAULTS.values()])
    marts = quality.run_gate("marts", county_codes=[MART_CLEAN, MART_HOLIDAY_DROP, *MART_FAULTS.values()])
    yield Gates(batches=batches, raw=raw, staging=staging, marts=marts, owner=warehouse_env)
    with psycopg.connect(wh.address("transformer", dbname=db).conninfo(), autocommit=True) as conn:
        with conn.cursor() as cur:
            set_aside(cur, back=True)
