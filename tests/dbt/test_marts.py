"""The dbt project end to end on the hand-made province of conftest.py: `dbt build` through run_dbt,
then the marts checked against numbers worked out by hand from the rows in conftest.py."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from shuyun import warehouse as wh
from shuyun.transform import DbtError, run_dbt, target_dir

pytestmark = pytest.mark.slow  # a full `dbt build` takes 30-60 s on two shared cores

D9, D10, D11 = dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)
INCREMENTAL_FACTS = "fct_circulation_events fct_library_daily fct_loans"


@pytest.fixture(scope="module")
def built(province):
    """Given the sample province in raw, when `dbt build` runs, then every model and test passes."""
    result = run_dbt(["build", "--full-refresh"])
    assert result.success
    return province


def rows(owner: wh.Address, query: str) -> list[tuple]:
    with psycopg.connect(owner.conninfo()) as conn:
        return conn.execute(query).fetchall()


def test_events_are_deduplicated_keeping_the_latest_batch(built):
    facts = rows(built, "select event_id, _batch_id from marts.fct_circulation_events order by event_id")
    assert len(facts) == 11  # 12 delivered lines, one of them a re-delivery of A-0001
    assert dict(facts)["c532622:A-0001"] == "batch-a-0310"


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        pytest.param("c532622:A-0003", ("532622101@2020-01-01", "service_point", "532622", "532622101", False, False),
                     id="service-point-before-its-move-counts-for-yanshan"),
        pytest.param("c532622:A-0007", ("532622101@2024-03-10", "service_point", "532623", "532622101", False, False),
                     id="service-point-after-its-move-counts-for-xichou"),
        pytest.param("c532622:A-0002", ("532622001@2020-01-01", "branch", "532622", "532622000", True, False),
                     id="branch-lends-an-item-of-the-main-library"),
        pytest.param("c532623:B-0002", ("532623001@2020-01-01", "branch", "532623", "532622000", True, True),
                     id="xichou-branch-lends-yanshan-item-to-yanshan-reader"),
        pytest.param("c532622:A-0011", ("532622000@2020-01-01", "county", "532622", "532622000", False, False),
                     id="anonymous-return-at-home"),
    ],
)
def test_events_are_attributed_as_of_their_date(built, event_id, expected):
    got = rows(built, f"""
        select library_version_key, library_level, county_code, item_home_library,
               is_cross_library_item, is_cross_library_reader
        from marts.fct_circulation_events where event_id = '{event_id}'""")
    assert got == [expected]


def test_events_carry_class_and_audience_from_holdings(built):
    got = rows(built, """select event_id, clc_top_class, is_children_item from marts.fct_circulation_events
                         where event_id in ('c532622:A-0002', 'c532622:A-0007', 'c532623:B-0001') order by 1""")
    assert got == [("c532622:A-0002", "G", True), ("c532622:A-0007", None, False), ("c532623:B-0001", "R", False)]


def test_library_daily_counts(built):
    got = rows(built, """
        select library_code, date_day, county_code, library_level, loans, returns, renewals, visits, distinct_readers
        from marts.fct_library_daily order by date_day, library_code""")
    assert got == [
        ("532622000", D9, "532622", "county", 1, 1, 0, 75, 1),
        ("532622001", D9, "532622", "branch", 1, 0, 0, 12, 1),
        ("532622101", D9, "532622", "service_point", 1, 0, 0, 0, 1),
        ("532623000", D9, "532623", "county", 1, 0, 0, 20, 1),
        ("532623001", D9, "532623", "branch", 1, 0, 0, 0, 1),
        ("532622000", D10, "532622", "county", 0, 1, 1, 50, 1),
        ("532622002", D10, "532622", "branch", 0, 1, 0, 0, 0),
        ("532622101", D10, "532623", "service_point", 1, 0, 0, 0, 1),
        ("532623000", D10, "532623", "county", 0, 1, 0, 0, 0),
    ]


def test_loans_are_paired_with_renewals_and_returns(built):
    got = rows(built, """
        select loan_id, county_code, due_date, renewals, return_library_code, loan_days, overdue_days,
               is_returned_elsewhere
        from marts.fct_loans order by loan_id""")
    assert got == [
        ("c532622:A-0001", "532622", dt.date(2024, 5, 8), 1, None, None, None, False),
        ("c532622:A-0002", "532622", dt.date(2024, 4, 8), 0, "532622002", 1, 0, True),
        ("c532622:A-0003", "532622", dt.date(2024, 4, 8), 0, None, None, None, False),
        ("c532622:A-0007", "532623", dt.date(2024, 4, 9), 0, None, None, None, False),
        ("c532623:B-0001", "532623", dt.date(2024, 4, 8), 0, "532623000", 1, 0, False),
        ("c532623:B-0002", "532623", dt.date(2024, 4, 8), 0, "532622000", 1, 0, True),
    ]


def test_cross_library_flows(built):
    got = rows(built, """
        select borrow_library_code, return_library_code, item_home_library, reader_home_library, county_code,
               loans, returned_loans
        from marts.fct_cross_library_flows where month_start = '2024-03-01'
        order by borrow_library_code, county_code""")
    assert got == [
        ("532622000", None, "532622000", "532622000", "532622", 1, 0),
        ("532622001", "532622002", "532622000", "532622001", "532622", 1, 1),
        ("532622101", None, "532622101", "532622101", "532622", 1, 0),
        ("532622101", None, "532622101", "532622101", "532623", 1, 0),
        ("532623000", "532623000", "532623000", "532623000", "532623", 1, 1),
        ("532623001", "532622000", "532622000", "532622000", "532623", 1, 1),
    ]


def test_reconciliation_raw_equals_facts_plus_duplicates(built):
    got = rows(built, "select * from marts.mart_reconciliation order by county_code, date_day")
    assert got == [
        ("532622", D9, 5, 1, 1, 4, True),
        ("532622", D10, 4, 0, 0, 4, True),
        ("532623", D9, 2, 0, 0, 2, True),
        ("532623", D10, 1, 0, 0, 1, True),
    ]


@pytest.mark.parametrize(
    ("month", "library", "clc", "audience", "expected"),
    [
        pytest.param("2018-01-01", "532622000", "K", "adult", (1, 0, 0), id="opening-stock-before-history"),
        pytest.param("2024-02-01", "532622000", "K", "adult", (0, 0, 1), id="withdrawn-in-february"),
        pytest.param("2024-03-01", "532622000", "K", "adult", (0, 0, 0), id="stays-withdrawn"),
        pytest.param("2023-05-01", "532622000", "I", "adult", (1, 1, 0), id="acquired-in-may-2023"),
        pytest.param("2024-03-01", "532622000", "I", "children", (1, 1, 0), id="children-item-added-in-march"),
        pytest.param("2024-03-01", "532622000", "G", "children", (1, 0, 0), id="held-since-january"),
    ],
)
def test_holdings_by_month(built, month, library, clc, audience, expected):
    got = rows(built, f"""
        select items_held, items_added, items_withdrawn from marts.fct_holdings_monthly
        where month_start = '{month}' and library_code = '{library}' and clc_top_class = '{clc}'
          and audience = '{audience}'""")
    assert got == [expected]


def test_holdings_history_ends_at_the_latest_snapshot(built):
    assert rows(built, "select max(month_start) from marts.fct_holdings_monthly") == [(dt.date(2024, 3, 1),)]


def test_form_facts(built):
    assert rows(built, """select library_code, county_code, month_start, visits, loans, trainings
                          from marts.fct_monthly_reports""") == [
        ("532622101", "532622", dt.date(2024, 2, 1), 310, 120, None)  # the corrected form wins; blank stays null
    ]
    assert rows(built, """select activity_type_zh, joint_with, is_joint, participants
                          from marts.fct_activities""") == [("讲座", "532622001,532622002", True, 45)]
    assert rows(built, """select from_library_level, to_library_level, month_start, volumes
                          from marts.fct_rotations""") == [("county", "branch", dt.date(2024, 1, 1), 500)]


def test_dim_library_versions_of_the_moved_service_point(built):
    got = rows(built, """
        select library_version_key, parent_code, county_code, county_name_zh, prefecture_name_zh, level_zh,
               valid_to, is_current
        from marts.dim_library where library_code = '532622101' order by valid_from""")
    assert got == [
        ("532622101@2020-01-01", "532622001", "532622", "砚山县", "文山州", "服务点", D10, False),
        ("532622101@2024-03-10", "532623000", "532623", "西畴县", "文山州", "服务点", None, True),
    ]


def test_dim_date_knows_adjusted_workdays(built):
    got = rows(built, """select date_day, is_weekend, is_workday, is_public_holiday, holiday_name_zh
                         from marts.dim_date where date_day in ('2024-02-04', '2024-02-10', '2024-10-01')
                         order by 1""")
    assert got == [
        (dt.date(2024, 2, 4), True, True, False, None),
        (dt.date(2024, 2, 10), True, False, True, "春节"),
        (dt.date(2024, 10, 1), False, False, True, "国庆节"),
    ]


def test_reader_role_reads_marts_only(built):
    with psycopg.connect(wh.address("reader", dbname=built.dbname).conninfo(), autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.fct_loans").fetchone() == (6,)
        assert conn.execute("select count(*) from marts.dim_library").fetchone() == (8,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from staging.stg_raw__circulation_events")


def test_docs_generate_and_descriptions_reach_the_database(built):
    # when the docs are generated, then the catalog lists the marts with their columns
    run_dbt(["docs", "generate"])
    catalog = json.loads((target_dir() / "catalog.json").read_text())
    assert "loan_days" in {c.lower() for c in catalog["nodes"]["model.shuyun.fct_loans"]["columns"]}
    # and the bilingual descriptions are column comments Superset users can read
    assert rows(built, """select col_description('marts.fct_library_daily'::regclass, attnum)
                          from pg_attribute where attrelid = 'marts.fct_library_daily'::regclass
                          and attname = 'loans'""") == [("借阅次数 / number of loans (外借册次)",)]


def test_other_targets_build_into_their_own_schemas(built):
    # given the ci target, when dbt lists where models go, then each layer gets a ci_ schema of its own
    result = run_dbt(["ls", "--select", "stg_raw__libraries int_loans_paired dim_library", "--resource-type", "model",
                      "--output", "json", "--output-keys", "name schema"], extra_env={"SHUYUN_DBT_TARGET": "ci"})
    placed = {json.loads(line)["name"]: json.loads(line)["schema"] for line in result.result}
    assert placed == {"stg_raw__libraries": "ci_staging", "int_loans_paired": "ci_intermediate",
                      "dim_library": "ci_marts"}


def test_a_failing_dbt_command_raises_an_error_that_says_why(built):
    with pytest.raises(DbtError) as failure:
        run_dbt(["show", "--inline", "select * from raw.no_such_table"])
    message = str(failure.value)
    assert message.startswith("`dbt show --inline select * from raw.no_such_table` failed:")
    assert 'relation "raw.no_such_table" does not exist' in message


def _facts(owner: wh.Address) -> dict[str, list[tuple]]:
    return {
        name: rows(owner, f"select * from marts.{name} order by 1, 2, 3")
        for name in INCREMENTAL_FACTS.split()
    }


def _rows_inserted(result, model: str) -> int | None:
    for node_result in result.result.results:
        if node_result.node.name == model:
            return (node_result.adapter_response or {}).get("rows_affected")
    raise AssertionError(f"{model} did not run")


def test_incremental_run_equals_full_refresh(built):
    """Runs last in this module: it adds a day to raw."""
    # given the next day's delivery, with a late event of 03-10 and the return of a loan of 03-09
    from sample_province import add_day_three

    with psycopg.connect(built.conninfo(), autocommit=True) as conn:
        add_day_three(conn)
    versions = "select event_id, xmin::text from marts.fct_circulation_events"
    before = dict(rows(built, versions))

    # when the facts run incrementally with no extra lookback
    result = run_dbt(["run", "--select", INCREMENTAL_FACTS, "--vars", "{late_arrival_days: 0}"])
    incremental = _facts(built)

    # then only the three new events were written: the rows of 03-10, re-opened by the late event, came out
    # unchanged and stayed in place (same row version), as did every other day's
    assert _rows_inserted(result, "fct_circulation_events") == 3
    after = dict(rows(built, versions))
    assert {event_id for event_id, version in after.items() if before.get(event_id) != version} == {
        "c532622:A-0012", "c532622:A-0013", "c532622:A-0014"}
    assert set(before) < set(after)
    # and the loan of 03-09 is closed by the return of 03-11 although its day had no new event
    assert rows(built, """select returned_at is not null, loan_days, renewals, is_returned_elsewhere
                          from marts.fct_loans where loan_id = 'c532622:A-0001'""") == [(True, 2, 1, False)]
    assert rows(built, """select loans, returns, distinct_readers from marts.fct_library_daily
                          where library_code = '532622002' and date_day = '2024-03-10'""") == [(1, 1, 1)]

    # and a full refresh gives exactly the same tables
    run_dbt(["run", "--full-refresh", "--select", INCREMENTAL_FACTS])
    assert _facts(built) == incremental
    assert len(incremental["fct_circulation_events"]) == 14
