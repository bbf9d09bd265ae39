"""The gates: every check fails on its injected fault and passes on clean data; one county's block never holds
back another; results are written in plain words; Data Docs are built."""

from __future__ import annotations

import psycopg
import pytest
from gate_data import MART_CLEAN, MART_FAULTS, RAW_FAULTS, STG_CLEAN, STG_FAULTS, A, B

from quality.checks import build_checks

pytestmark = pytest.mark.slow  # Great Expectations' import alone takes ~10 s

CHECKS = {c.name: c for c in build_checks()}


def test_every_check_has_an_injected_fault():
    # given the checks as code, when we list the faults of this suite, then none is left untested
    # (the *_columns schema checks are tested by renaming a column, below)
    tested = set(RAW_FAULTS) | set(STG_FAULTS) | set(MART_FAULTS) | set(SCHEMA_DRIFTS) | {"daily_columns"}
    untested = set(CHECKS) - tested
    assert not untested


@pytest.mark.parametrize("check", [pytest.param(c, id=c) for c in RAW_FAULTS])
def test_raw_check_fails_on_its_fault_and_passes_on_clean_data(gates, check):
    # given a clean delivery of the feed and a delivery carrying the fault
    feed, county, _, _ = RAW_FAULTS[check]
    clean = gates.batches[f"clean:{feed}:{county}"]
    faulty = gates.batches[f"fault:{check}"]
    # when the raw gate validated both, then the check passed on the clean one and failed on the faulty one
    assert gates.outcome("raw", check, clean) is True
    assert gates.outcome("raw", check, faulty) is False


@pytest.mark.parametrize("check", [pytest.param(c, id=c) for c in STG_FAULTS])
def test_staging_check_fails_on_its_fault_and_passes_on_clean_data(gates, check):
    assert gates.outcome("staging", check, STG_CLEAN) is True
    assert gates.outcome("staging", check, STG_FAULTS[check]) is False


@pytest.mark.parametrize("check", [pytest.param(c, id=c) for c in MART_FAULTS])
def test_marts_check_fails_on_its_fault_and_passes_on_clean_data(gates, check):
    assert gates.outcome("marts", check, MART_CLEAN) is True
    assert gates.outcome("marts", check, MART_FAULTS[check]) is False


def test_a_drop_on_a_public_holiday_is_not_an_outage(gates):
    # given a county whose loans fell to a tenth on a day dim_date marks as a public holiday
    from gate_data import MART_HOLIDAY_DROP

    # then the volume check does not call it a silent outage (the same drop on a normal day does, above)
    assert gates.outcome("marts", "daily_loans_volume_normal", MART_HOLIDAY_DROP) is True


def test_clean_data_passes_every_check(gates):
    clean = [b for label, b in gates.batches.items() if label.startswith("clean:")]
    failures = [r.message for r in gates.raw.results if r.batch_id in clean and not r.success]
    failures += [r.message for r in gates.staging.results if r.county_code == STG_CLEAN and not r.success]
    failures += [r.message for r in gates.marts.results if r.county_code == MART_CLEAN and not r.success]
    assert failures == []
    assert set(clean) <= set(gates.raw.passed)
    assert STG_CLEAN in gates.staging.passed and MART_CLEAN in gates.marts.passed


def test_a_blocked_county_does_not_block_another(gates):
    # given county A delivered faulty batches and county B only clean ones
    with psycopg.connect(gates.owner.conninfo()) as conn:
        blocked = conn.execute(
            "select batch_id, county_code from quality.blocked_batches"
            " where layer = 'raw' and (batch_id like 'clean-%' or batch_id like 'fault-%')"
        ).fetchall()
    # then A's faulty deliveries with a failed block check are held, B's and A's clean deliveries are not
    assert A in gates.raw.blocked_counties and B not in gates.raw.blocked_counties
    assert ("fault-item_barcode_in_registered_range", A) in blocked
    assert not [b for b, county in blocked if county == B or b.startswith("clean-")]
    # and a warn-only fault lets its delivery flow
    assert "fault-channel_known" in gates.raw.warned
    assert "fault-channel_known" not in {b for b, _ in blocked}
    # and in marts only the faulty counties are held, the clean one flows
    assert MART_CLEAN in gates.marts.passed and MART_FAULTS["daily_grain_unique"] in gates.marts.blocked_counties


def test_results_are_written_with_readable_messages(gates):
    with psycopg.connect(gates.owner.conninfo()) as conn:
        row = conn.execute(
            "select severity, success, unexpected_count, message, county_code, feed from quality.validation_results"
            " where batch_id = 'fault-item_barcode_in_registered_range'"
            " and expectation = 'item_barcode_in_registered_range'"
        ).fetchone()
        total = conn.execute("select count(*) from quality.validation_results").fetchone()[0]
        reason = conn.execute(
            "select reason from quality.blocked_batches where batch_id = 'fault-item_barcode_in_registered_range'"
        ).fetchone()[0]
    severity, success, unexpected, message, county, feed = row
    assert (severity, success, unexpected, county, feed) == ("block", False, 1, A, "circulation")
    # names the county, the file, the library, the line and the rule
    for words in (A, "circ_20240305.csv", f"library {A}000", "line 3", "registered item barcode range"):
        assert words in message
    assert "item barcode" in reason
    assert total >= gates.raw.results_count + gates.staging.results_count + gates.marts.results_count
    assert "blocked" in gates.raw.summary()
    import json

    digest = json.loads(json.dumps(gates.raw.to_dict()))
    assert digest["ok"] is False and A in digest["blocked_counties"]


def test_column_map_failures_name_the_offending_values(gates):
    [r] = [r for r in gates.raw.results
           if r.expectation == "entries_non_negative" and r.batch_id == "fault-entries_non_negative"]
    assert r.unexpected_count == 1 and "-3" in r.message and "gate_20240305.csv" in r.message


def test_data_docs_index_is_built(gates, quality_home):
    import quality

    index = quality.build_data_docs()
    assert index == quality_home / "data_docs" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "raw__circulation_events" in html
    pages = list((quality_home / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) >= len(gates.raw.passed + gates.raw.warned + gates.raw.blocked)
    # when the window is zero days, then old results leave the site (they stay in quality.validation_results)
    quality.build_data_docs(keep_days=0)
    assert not list((quality_home / "data_docs" / "validations").rglob("*.html"))


def test_unknown_delivery_is_a_plain_error_not_a_traceback(gates):
    from click.testing import CliRunner

    from quality.cli import quality as quality_cli
    from quality.gate import GateError, run_gate

    # given a delivery id the ledger does not know, when the gate is asked to validate it, then it says so
    with pytest.raises(GateError, match="no-such-delivery"):
        run_gate("raw", batch_ids=["no-such-delivery"])
    with pytest.raises(GateError, match="unknown layer 'bronze'"):
        run_gate("bronze")
    out = CliRunner().invoke(quality_cli, ["run", "--layer", "raw", "--batch", "no-such-delivery", "--no-docs"])
    assert out.exit_code == 1 and "no-such-delivery" in out.output and "Traceback" not in out.output


def test_registry_and_rejected_deliveries_are_skipped_with_a_reason(gates):
    import quality

    # given Airflow passes every delivery of its run, including a registry file and a rejected file
    result = quality.run_gate("raw", batch_ids=["reg", "rejected-gbk"])
    # then neither is validated nor an error, and the summary says why
    assert result.results_count == 0 and result.ok
    assert "registry" in result.skipped["reg"] and "rejected" in result.skipped["rejected-gbk"]
    assert "skipped rejected-gbk" in result.summary()


def test_default_raw_gate_skips_deliveries_already_validated(gates):
    import quality

    # given every delivery of county C was validated by the session's gate, when the gate runs with defaults
    again = quality.run_gate("raw", county_codes=["532699"])
    # then there is nothing new to validate
    assert again.results_count == 0 and again.ok


def _rename(owner, table, old, new, role="owner"):
    from shuyun import warehouse as wh

    addr = owner if role == "owner" else wh.address(role, dbname=owner.dbname)
    with psycopg.connect(addr.conninfo(), autocommit=True) as conn:
        conn.execute(f"alter table {table} rename column {old} to {new}")


SCHEMA_DRIFTS = {
    # check: (feed, raw table, column the drifted loader lost, a check that reads that column)
    "circulation_columns": ("circulation", "raw.circulation_events", "event_type", "event_type_known"),
    "visits_columns": ("visits", "raw.visitor_counts", "exits", "exits_non_negative"),
    "holdings_columns": ("holdings", "raw.holdings_items", "status", "holding_status_known"),
    "report_columns": ("monthly_report", "raw.monthly_reports", "loans", "report_loans_filled"),
}


@pytest.mark.parametrize("check", [pytest.param(c, id=c) for c in SCHEMA_DRIFTS])
def test_schema_drift_blocks_the_delivery_and_a_fixed_delivery_is_released(gates, check):
    import quality

    feed, table, column, reader = SCHEMA_DRIFTS[check]
    batch = gates.batches[f"clean:{feed}:{B}"]
    # given the raw table lost a column (a drifted loader)
    _rename(gates.owner, table, column, f"{column}_gone")
    try:
        drifted = quality.run_gate("raw", batch_ids=[batch])
    finally:
        _rename(gates.owner, table, f"{column}_gone", column)
    # then the schema check fails, a check reading the column counts as failed (never as passed),
    # and the delivery is held
    failed = {r.expectation for r in drifted.failures()}
    assert {check, reader} <= failed
    assert drifted.blocked_batches == [batch]
    assert any("could not be evaluated" in r.message for r in drifted.failures())
    # when the table is fixed and the delivery validated again, then it passes and is released
    fixed = quality.run_gate("raw", batch_ids=[batch])
    assert fixed.passed == [batch] and fixed.blocked_batches == []
    with psycopg.connect(gates.owner.conninfo()) as conn:
        held = conn.execute("select count(*) from quality.blocked_batches where batch_id = %s", (batch,)).fetchone()
    assert held == (0,)


def test_mart_contract_drift_fails_the_column_check(gates):
    from gate_data import MART_CLEAN

    import quality

    _rename(gates.owner, "marts.fct_library_daily", "distinct_readers", "readers", role="transformer")
    try:
        drifted = quality.run_gate("marts", county_codes=[MART_CLEAN])
    finally:
        _rename(gates.owner, "marts.fct_library_daily", "readers", "distinct_readers", role="transformer")
    assert "daily_columns" in {r.expectation for r in drifted.failures("block")}
    assert drifted.blocked_counties == [MART_CLEAN]
    assert quality.run_gate("marts", county_codes=[MART_CLEAN]).passed == [MART_CLEAN]
