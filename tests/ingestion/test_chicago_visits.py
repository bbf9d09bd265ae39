"""The real Chicago Public Library 2017 visitors by location as a monthly visits feed: the CPL system and its
branches in the registry, one statistics form per month. Expected figures come from the CSV itself."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ingestion.adapters import chicago

VISITS = Path("/work/shared/realdata/visits/chicago_2017_visitors_by_location.csv")

pytestmark = pytest.mark.skipif(not VISITS.exists(), reason="the Chicago file is not in /work/shared/realdata")


def _csv_rows() -> list[dict]:
    with open(VISITS, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def loaded(province):
    return chicago.load(VISITS)


def test_per_month_totals_equal_the_csv_column_sums(loaded, pg):
    assert loaded["failed"] == 0, [b.ledger_line() for b in loaded["batches"]]
    rows = _csv_rows()
    want = {f"2017-{m:02d}-01": sum(int(r[month]) for r in rows) for m, month in enumerate(chicago.MONTHS, 1)}
    got = dict(pg.execute("select period_start::text, sum(visits) from raw.monthly_reports "
                          "where _source = 'chicago_cpl' and period_type = 'month' group by period_start").fetchall())
    assert got == want
    assert sum(want.values()) == sum(int(r["YTD"]) for r in rows)  # the file's own row totals agree
    assert loaded["findings"][-1].startswith(f"{sum('*' in r['LOCATION'] for r in rows)} locations carry")


def test_every_branch_row_is_accounted_for_once_a_month(loaded, pg):
    n = len(_csv_rows())
    assert loaded["branches"] == n == 79
    assert pg.execute("select count(*) from raw.libraries where _source = 'chicago_cpl' and level = 'branch' "
                      "and parent_code = 'CPL'").fetchone()[0] == n
    per_month = pg.execute("select count(*), count(distinct library_code) from raw.monthly_reports "
                           "where _source = 'chicago_cpl' group by period_start").fetchall()
    assert per_month == [(n, n)] * 12
    assert pg.execute("select count(*) from quarantine.rejected_rows where _source = 'chicago_cpl'").fetchone()[0] == 0
    for b in loaded["batches"]:
        assert b.rows_read == b.rows_loaded + b.rows_quarantined, b.ledger_line()


def test_padded_names_are_trimmed_and_codes_follow_from_them(loaded, pg):
    libs = dict(pg.execute("select library_code, name_en from raw.libraries where _source = 'chicago_cpl'"))
    assert libs["CPL"] == "Chicago Public Library"
    assert libs["CPL-ALBANY-PARK"] == "Albany Park"  # delivered as 'Albany Park  '
    assert libs["CPL-TOMAN"] == "Toman"  # delivered as 'Toman* '
    assert libs["CPL-DALEY-RICHARD-J-BRIDGEPORT"] == "Daley, Richard J.-Bridgeport"
    assert libs["CPL-WHITNEY-M-YOUNG-JR"] == "Whitney M. Young, Jr."
    assert all(name == name.strip() and "*" not in name for name in libs.values())
    assert sorted(c for c in libs if c != "CPL") == sorted(chicago.branch_code(r["LOCATION"]) for r in _csv_rows())


def test_a_month_reported_as_zero_stays_zero_and_a_branch_row_equals_its_csv_row(loaded, pg):
    austin = next(r for r in _csv_rows() if r["LOCATION"].strip() == "Austin")
    got = pg.execute("select visits, loans from raw.monthly_reports where library_code = 'CPL-AUSTIN' "
                     "order by period_start").fetchall()
    assert got == [(int(austin[m]), None) for m in chicago.MONTHS]
    assert got[-1] == (0, None)  # closed in December: 0 as delivered, loans not reported: null


def test_loading_it_again_changes_nothing(loaded, pg):
    again = chicago.load(VISITS)
    assert {b.status for b in again["batches"]} == {"already_loaded"}
