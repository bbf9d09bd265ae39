"""`shuyun bench dashboards` without Superset: percentiles, the per-dashboard summary, the RESULT line, and the
chart-data request it builds for every chart of the assets."""

from __future__ import annotations

import json

import pytest
import yaml

from dashboards import bench


@pytest.mark.parametrize(("values", "q", "expected"), [
    pytest.param([5.0], 50, 5.0, id="one value is every percentile"),
    pytest.param([1, 2, 3, 4], 50, 2, id="median of an even count is the lower middle (nearest rank)"),
    pytest.param([3, 1, 2], 50, 2, id="unsorted input"),
    pytest.param(list(range(1, 21)), 95, 19, id="p95 of 20 is the 19th"),
    pytest.param([10, 20, 30, 40, 1000], 95, 1000, id="p95 of 5 samples is the slowest: no interpolation"),
    pytest.param(list(range(1, 101)), 100, 100, id="p100 is the maximum"),
])
def test_nearest_rank_percentile(values, q, expected):
    assert bench.percentile(values, q) == expected


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_refuses_a_q_outside_0_100(q):
    with pytest.raises(ValueError, match="must be in"):
        bench.percentile([1, 2], q)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        bench.percentile([], 50)


def _times():
    return [
        bench.ChartTimes("province-overview", "overview_trend", (100, 110, 120, 130, 140), (20, 20, 20, 20, 20)),
        bench.ChartTimes("province-overview", "overview_flows_sankey", (300, 310, 320, 330, 900), (60,) * 5),
        bench.ChartTimes("county-scorecard", "county_kpi_loans", (50, 55, 60, 65, 70), (10,) * 5),
    ]


def test_summary_per_dashboard_and_overall():
    # given three charts on two dashboards, five timed requests each
    times = _times()
    # when summarized per dashboard / then each dashboard's percentiles cover only its own charts' requests
    overview, scorecard = bench.per_dashboard(times)
    assert (overview.label, overview.charts, overview.requests) == ("province-overview", 2, 10)
    assert (overview.p50_ms, overview.p95_ms) == (140, 900)
    assert overview.worst.chart == "overview_flows_sankey"
    assert overview.over_target == ("overview_flows_sankey",)
    assert bench.summarize(times, "x").over_target == ("overview_flows_sankey",)
    assert (scorecard.p50_ms, scorecard.p95_ms, scorecard.worst.chart) == (60, 70, "county_kpi_loans")
    assert scorecard.over_target == ()
    # and overall: 15 requests, the worst chart is the one with the highest p95, the baseline's median
    overall = bench.summarize(times)
    assert (overall.charts, overall.requests, overall.p50_ms, overall.p95_ms) == (3, 15, 120, 900)
    assert overall.db_p50_ms == 20
    assert bench.result_line(overall) == "RESULT charts=3 p50_ms=120 p95_ms=900 worst_chart=overview_flows_sankey"


def test_the_worst_chart_is_chosen_by_p95_not_by_one_outlier_in_the_median():
    steady = bench.ChartTimes("d", "steady", (400,) * 20)
    spiky = bench.ChartTimes("d", "spiky", (10,) * 19 + (5000,))  # p95 of 20 is the 19th value: 10
    assert bench.summarize([steady, spiky]).worst.chart == "steady"


def test_summary_line_names_the_ratio_to_the_sql_alone():
    line = bench.summary_line(bench.summarize(_times()))
    assert "p50    120 ms" in line and "sql alone p50 20 ms (x6.0)" in line


@pytest.mark.parametrize("path", sorted(bench.CHARTS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_chart_of_the_assets_gets_a_chart_data_request(path):
    # given a chart's saved params as Superset returns them in /api/v1/dashboard/<id>/charts
    chart = yaml.safe_load(path.read_text(encoding="utf-8"))
    form_data = {**chart["params"], "slice_id": 7, "viz_type": chart["viz_type"], "datasource": "12__table"}
    # when the benchmark builds its request
    body = bench.query_context(form_data)
    # then it asks dataset 12 for fresh, full results of one query with the chart's metrics and filters
    assert body["datasource"] == {"id": 12, "type": "table"}
    assert body["force"] is True and body["result_type"] == "full"
    query, *more = body["queries"]
    assert len(more) == (1 if chart["params"].get("server_pagination") else 0)
    assert query["columns"] or query["metrics"], "a query with neither columns nor metrics asks for nothing"
    if chart["params"].get("query_mode") == "raw":
        assert "metrics" not in query, "raw tables select rows; any metrics key (even []) makes Superset group"
    subjects = {f["col"] for f in query["filters"]}
    assert subjects == {f["subject"] for f in chart["params"].get("adhoc_filters", []) if f.get("subject")}


def test_sql_filters_are_anded_into_where_and_an_unknown_viz_type_is_named():
    form_data = {"viz_type": "pie", "datasource": "3__table", "metric": "loans", "groupby": ["county_code"],
                 "adhoc_filters": [{"expressionType": "SQL", "clause": "WHERE", "sqlExpression": "a > 1"},
                                   {"expressionType": "SQL", "clause": "WHERE", "sqlExpression": "b < 2"}]}
    assert bench.query_context(form_data)["queries"][0]["extras"]["where"] == "(a > 1) AND (b < 2)"
    with pytest.raises(bench.BenchError, match="chart 9: viz type 'word_cloud' is not known"):
        bench.query_context({"viz_type": "word_cloud", "datasource": "3__table", "slice_id": 9})


def test_every_chart_asset_has_a_unique_short_name():
    names = bench.chart_names()
    assert len(names) == len(list(bench.CHARTS_DIR.glob("*.yaml")))
    assert len(set(names.values())) == len(names)


def test_a_server_paginated_table_asks_for_its_first_page_and_the_row_count():
    # given the scorecard's indicator table (raw rows, server pagination, 25 a page, at most 5,000 rows) on a
    # dashboard whose 期别 filter defaults to 季度
    chart = yaml.safe_load((bench.CHARTS_DIR / "county_indicator_table.yaml").read_text(encoding="utf-8"))
    period = {"col": "period_type_zh", "op": "IN", "val": ["季度"]}
    form_data = {**chart["params"], "slice_id": 19, "datasource": "4__table", "extra_form_data": {"filters": [period]}}
    # when the benchmark builds its request
    page, count = bench.query_context(form_data)["queries"]
    # then, as Superset 6.1's table buildQuery: page 1 (25 rows from offset 0) and the count of every row under
    # the row limit, with the same columns, order and filters (the latest period, the default 季度)
    assert (page["row_limit"], page["row_offset"], page.get("is_rowcount")) == (25, 0, None)
    assert (count["row_limit"], count["row_offset"], count["is_rowcount"]) == (5000, 0, True)
    assert page["columns"] == count["columns"] == chart["params"]["all_columns"]
    assert "metrics" not in page and "metrics" not in count
    assert page["filters"] == count["filters"] == [period]
    assert page["extras"]["where"] == "(is_latest_period)"
    assert page["orderby"][0] == ["county_name_zh", True]


@pytest.mark.parametrize(("chart_id", "expected"), [
    pytest.param(19, [{"col": "period_type_zh", "op": "IN", "val": ["季度"]}], id="in-scope"),
    pytest.param(18, [], id="excluded"),
])
def test_native_filter_defaults_reach_the_charts_in_their_scope(chart_id, expected):
    # given a dashboard's json_metadata as Superset returns it after import (excluded ids mapped, chartsInScope not)
    meta = json.dumps({"native_filter_configuration": [
        {"defaultDataMask": {"extraFormData": {"filters": [{"col": "period_type_zh", "op": "IN", "val": ["季度"]}]}},
         "scope": {"rootPath": ["ROOT_ID"], "excluded": [18]}, "chartsInScope": [1, 2]},
        {"defaultDataMask": {"extraFormData": {}}, "scope": {"rootPath": ["ROOT_ID"], "excluded": []}},
    ]})
    assert bench.default_filters(meta, chart_id) == expected
