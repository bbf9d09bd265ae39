"""A data steward releases a held delivery: the hold goes, the decision stays on record. No GX needed."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from quality.cli import quality as quality_cli
from quality.gate import DDL, GateError, release
from shuyun import warehouse as wh


@pytest.fixture
def held(warehouse_env):
    with psycopg.connect(wh.address("transformer", dbname=warehouse_env.dbname).conninfo(), autocommit=True) as conn:
        conn.execute(DDL.read_text())
        conn.execute("delete from quality.blocked_batches where batch_id = 'held-1'")
        conn.execute(
            "insert into quality.blocked_batches (batch_id, county_code, feed, reason, layer, run_id)"
            " values ('held-1', '532622', 'circulation', 'item barcode outside every range', 'raw', 'r0')"
        )
    return warehouse_env


def test_release_removes_the_hold_and_keeps_an_audit_row(held):
    # given a held delivery, when the steward releases it with a reason
    out = CliRunner().invoke(quality_cli, ["release", "held-1", "--reason", "range registered late", "--by", "li"])
    # then it is no longer held and the decision is recorded in plain words
    assert out.exit_code == 0, out.output
    with psycopg.connect(held.conninfo()) as conn:
        assert conn.execute("select count(*) from quality.blocked_batches where batch_id = 'held-1'").fetchone() == (0,)
        message = conn.execute(
            "select message from quality.validation_results where batch_id = 'held-1'"
            " and expectation = 'manual_release'"
        ).fetchone()[0]
    assert "released by li" in message and "range registered late" in message and "532622" in message


@pytest.mark.parametrize(
    "batch_id, reason, words",
    [
        pytest.param("not-held", "because", "not held", id="unknown-id"),
        pytest.param("held-1", "  ", "needs a reason", id="empty-reason"),
    ],
)
def test_release_refuses_what_it_cannot_do(held, batch_id, reason, words):
    with pytest.raises(GateError, match=words):
        release(batch_id, reason=reason, released_by="li")
