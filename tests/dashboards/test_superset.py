"""Superset itself: publish is idempotent, roles and row-level security hold through the chart-data API."""

from __future__ import annotations

import psycopg
import pytest

from dashboards import publish
from dashboards.api import SupersetApiError, SupersetClient
from tests.dashboards.conftest import COUNTIES, DEMO_COUNTY

pytestmark = pytest.mark.slow

DS_LIBRARY_DAILY = "datasets/shuyun_marts/library_daily.yaml"
DS_COUNTY_SCORECARD = "datasets/shuyun_marts/county_scorecard.yaml"


def dataset_id(result, rel: str) -> int:
    uid = str(publish.load_assets().files[rel]["uuid"])
    return result.datasets[uid]


def client(status, logins, username) -> SupersetClient:
    return SupersetClient(status.url, username, logins[username]).login()


def metadata_counts(inst) -> dict:
    with psycopg.connect(inst.metadata.conninfo()) as conn:
        return {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("dashboards", "slices", "tables", "table_columns", "sql_metrics", "dbs",
                          "row_level_security_filters", "rls_filter_tables", "ab_role", "ab_user",
                          "ab_permission_view_role")
        }


def test_publish_twice_changes_nothing(superset_instance):
    # given a published Superset
    inst, _status, first = superset_instance
    before = metadata_counts(inst)
    # when the dashboards are published again
    second = publish.publish(inst, demo_county=DEMO_COUNTY)
    # then the same objects keep the same ids and no row is added anywhere
    assert second.dashboards == first.dashboards
    assert second.charts == first.charts and second.datasets == first.datasets
    assert metadata_counts(inst) == before
    assert before["dashboards"] >= 3 and before["slices"] >= len(first.charts)


def test_roles_cover_every_county(superset_instance):
    _inst, _status, result = superset_instance
    assert set(result.roles) == {"analyst", "bureau"} | {f"county_director_{c[0]}" for c in COUNTIES}


def test_county_director_gets_only_their_county_through_the_chart_data_api(superset_instance, superset_logins, pg):
    # given the demo director of 砚山县 and the analyst
    _inst, status, result = superset_instance
    ds = dataset_id(result, DS_LIBRARY_DAILY)
    director = client(status, superset_logins, publish.demo_director(DEMO_COUNTY))
    analyst = client(status, superset_logins, publish.DEMO_ANALYST)
    # when both ask for loans by county
    mine = director.chart_data(ds, ["county_code"], ["loans"])
    everyone = analyst.chart_data(ds, ["county_code"], ["loans"])
    # then the director sees one county, the analyst all three, each matching the marts
    truth = dict(pg.execute("select county_code, sum(loans) from marts.fct_library_daily group by 1").fetchall())
    assert {r["county_code"]: r["loans"] for r in mine} == {DEMO_COUNTY: truth[DEMO_COUNTY]}
    assert {r["county_code"]: r["loans"] for r in everyone} == truth


def test_county_director_cannot_filter_their_way_out(superset_instance, superset_logins):
    # an explicit filter on another county returns nothing: the RLS clause is ANDed, not replaced
    _inst, status, result = superset_instance
    director = client(status, superset_logins, publish.demo_director(DEMO_COUNTY))
    rows = director.chart_data(dataset_id(result, DS_LIBRARY_DAILY), ["county_code"], ["loans"],
                               filters=[{"col": "county_code", "op": "==", "val": "530124"}])
    assert rows == []


def test_county_director_sees_peer_comparison_but_not_peers(superset_instance, superset_logins, pg):
    # given 砚山县's director / when they ask for every indicator of the latest quarter with its peer columns
    _inst, status, result = superset_instance
    director = client(status, superset_logins, publish.demo_director(DEMO_COUNTY))
    rows = director.chart_data(dataset_id(result, DS_COUNTY_SCORECARD), ["county_code", "indicator_id"],
                               ["province_median_value", "province_value"],
                               filters=[{"col": "period_type", "op": "==", "val": "quarter"},
                                        {"col": "is_latest_period", "op": "==", "val": True}])
    # then only their county's rows come back, each carrying the median over all counties and the province's value
    assert {r["county_code"] for r in rows} == {DEMO_COUNTY}
    truth = dict(pg.execute(
        "select indicator_id, percentile_cont(0.5) within group (order by value) from marts.mart_county_scorecard"
        " where area_level = 'county' and period_type = 'quarter' and period_start = '2025-10-01'"
        " and value is not null group by 1").fetchall())
    median = {r["indicator_id"]: r["province_median_value"] for r in rows if r["province_median_value"] is not None}
    assert median == pytest.approx(truth)
    province = pg.execute(
        "select value from marts.mart_county_scorecard where area_level = 'province' and period_type = 'quarter'"
        " and period_start = '2025-10-01' and indicator_id = 'loans'").fetchone()[0]
    assert next(r for r in rows if r["indicator_id"] == "loans")["province_value"] == province


def test_wrong_password_is_refused(superset_instance):
    _inst, status, _result = superset_instance
    with pytest.raises(SupersetApiError, match="login as analyst_demo failed"):
        SupersetClient(status.url, publish.DEMO_ANALYST, "not-the-password").login()
