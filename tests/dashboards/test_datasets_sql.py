"""Every dataset's view (dbt/models/marts/dashboards/), read as the read-only reader role on the known test marts
(real PostgreSQL, no Superset)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pytest

from dashboards import publish
from shuyun import warehouse as wh
from tests.dashboards.conftest import COUNTIES, FLOWS, LOANS_PER_DAY, RENAMED, library_daily_rows


def dataset_table(key: str) -> str:
    """The relation a dataset reads: its view in marts (physical datasets), or its SQL (a virtual one)."""
    doc = publish.load_assets().files[f"datasets/shuyun_marts/{key}.yaml"]
    return f"({doc['sql']})" if doc.get("sql") else f"marts.{doc['table_name']}"


def rows(reader, key: str, where: str = "true", params=()) -> list[dict]:
    with reader.cursor() as cur:
        cur.execute(f"select * from {dataset_table(key)} as ds where {where}", params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


DATASET_KEYS = sorted(p.stem for p in (publish.ASSETS / "datasets" / "shuyun_marts").glob("*.yaml"))


@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in DATASET_KEYS])
def test_every_dataset_runs_as_reader_and_declares_its_columns(reader, key):
    # given a dataset / when its SQL runs as shuyun_reader
    result = rows(reader, key)
    # then it returns rows, and the columns it returns are exactly the ones the YAML declares
    assert result, f"{key} returned no rows on the test marts"
    declared = [c["column_name"] for c in publish.load_assets().files[f"datasets/shuyun_marts/{key}.yaml"]["columns"]]
    assert sorted(result[0]) == sorted(declared)


def test_library_daily_keeps_every_loan_and_names_the_version_valid_that_day(reader):
    result = rows(reader, "library_daily")
    assert sum(r["loans"] for r in result) == sum(r[5] for r in library_daily_rows())
    names = {(r["date_day"] >= RENAMED[1], r["library_name_zh"]) for r in result if r["library_code"] == RENAMED[0]}
    assert names == {(False, "砚山县城关分馆"), (True, "砚山县城关镇分馆")}


@pytest.mark.parametrize(("key", "mart", "measure"), [
    pytest.param("holdings_monthly", "fct_holdings_monthly", "items_held", id="holdings"),
    pytest.param("cross_library_flows", "fct_cross_library_flows", "loans", id="flows"),
    pytest.param("library_daily", "fct_library_daily", "loans", id="daily"),
])
def test_naming_a_library_renamed_mid_month_duplicates_no_row(reader, key, mart, measure):
    # given a library with two versions in February / when its monthly rows get names
    result = rows(reader, key)
    # then every mart row appears once, and the month shows the name valid at its end
    total, count = reader.execute(f"select sum({measure}), count(*) from marts.{mart}").fetchone()
    assert (sum(r[measure] for r in result), len(result)) == (total, count)
    if key != "library_daily":
        feb = {r.get("library_name_zh") or r.get("borrow_library_zh") for r in result
               if r["month_start"] == dt.date(2026, 2, 1) and RENAMED[0] in (r.get("library_code"),
                                                                             r.get("borrow_library_code"))}
        assert {name.removeprefix("借 · ") for name in feb} == {"砚山县城关镇分馆"}


def test_cross_library_flows_count_returns_elsewhere(reader):
    result = rows(reader, "cross_library_flows", "is_returned_elsewhere")
    assert sum(r["returned_loans"] for r in result) == sum(f[6] for f in FLOWS if f[2] and f[1] != f[2])
    assert all(r["borrow_library_zh"].startswith("借 · ") and r["return_library_zh"].startswith("还 · ")
               for r in result)


def test_loans_by_class_labels_clc_classes_and_drops_returns(reader):
    result = rows(reader, "loans_by_class")
    by_class = Counter()
    for r in result:
        by_class[r["clc_class_zh"]] += r["loans"]
    assert by_class == {"I 文学": 6, "K 历史、地理": 3, "T 工业技术": 2, "未分类": 1}


# ---------------------------------------------------------------- scorecard, branch compliance, assessment:
# the marts judge; the datasets must carry their statuses, ranks, points and grades through unchanged, label them
# in Chinese, and keep peer comparison on the county's own row (a county director's RLS drops every other row).

INDICATOR_DATASETS = ("county_scorecard", "branch_scorecard", "assessment_indicators")


def test_scorecard_latest_period_is_the_latest_the_counties_cover_completely(reader):
    # given a complete 2025 Q4, an incomplete 2026 Q1, February complete for two counties, an incomplete 2026
    latest = {(r["period_type"], r["period_start"], r["period_label"])
              for r in rows(reader, "county_scorecard", "is_latest_period")}
    # then the latest quarter is the complete one; a month one county covers completely counts; a year with no
    # complete county falls back to the latest with data
    assert latest == {("quarter", dt.date(2025, 10, 1), "2025年第4季度"), ("month", dt.date(2026, 2, 1), "2026年2月"),
                      ("year", dt.date(2026, 1, 1), "2026年")}


def test_scorecard_carries_the_marts_statuses_and_ranks(reader):
    # when the latest quarter is read
    result = {(r["county_code"], r["indicator_id"]): r
              for r in rows(reader, "county_scorecard", "is_latest_period and period_type = 'quarter'")}
    # then status and rank per county and indicator are the mart's (hand-checked: 富民县 has 6 staff < 8,
    # no lecture in Q4; its loans per capita are the highest though its loans are the lowest)
    got = {key: (r["status_zh"], r["rank_in_province_zh"], r["rank_in_prefecture"]) for key, r in result.items()
           if key[1] in ("loans", "loans_per_capita", "staff", "lectures")}
    assert got == {
        ("532622", "loans"): ("无达标线", "1 / 3", 1), ("532623", "loans"): ("无达标线", "2 / 3", 2),
        ("530124", "loans"): ("无达标线", "3 / 3", 1),
        ("532622", "loans_per_capita"): ("无达标线", "3 / 3", 2),
        ("532623", "loans_per_capita"): ("无达标线", "2 / 3", 1),
        ("530124", "loans_per_capita"): ("无达标线", "1 / 3", 1),
        ("532622", "staff"): ("达标", "1 / 3", 1), ("532623", "staff"): ("达标", "2 / 3", 2),
        ("530124", "staff"): ("未达标", "3 / 3", 1),
        ("532622", "lectures"): ("达标", "1 / 3", 1), ("532623", "lectures"): ("达标", "2 / 3", 2),
        ("530124", "lectures"): ("未达标", "3 / 3", 1),
    }
    assert float(result["530124", "lectures"]["target"]) == pytest.approx(6 * 92 / 365, abs=1e-4)
    village = result["532622", "service_point_village_coverage"]
    assert (village["value"], village["status_zh"], village["rank_in_province_zh"]) == (None, "不可计算", None)
    assert "村、社区" in village["not_computable_reason"]
    assert result["532622", "staff"]["targets_zh"] == "总馆 ≥ 8"  # the dictionary's wording


def test_scorecard_incomplete_year_judges_annual_flows_on_progress(reader):
    result = {r["county_code"]: r["status_zh"] for r in rows(
        reader, "county_scorecard", "period_type = 'year' and indicator_id = 'lectures'")}
    assert result == {"532622": "进度达标", "532623": "进度达标", "530124": "进度落后"}


def test_county_director_sees_only_their_county_with_peer_values_beside_it(reader):
    # given the RLS clause of 砚山县's director on the outer query
    mine = rows(reader, "county_scorecard", "county_code = '532622' and is_latest_period and period_type = 'quarter'")
    # then only 砚山县's rows, and on them the median over all three counties and the roll-ups of its prefecture
    # (砚山县 + 西畴县) and of the province
    assert {r["county_code"] for r in mine} == {"532622"}
    per_capita = next(r for r in mine if r["indicator_id"] == "loans_per_capita")
    values = {code: LOANS_PER_DAY[code] * 92 / pop for code, _n, _p, _pn, pop in COUNTIES}
    assert float(per_capita["province_median_value"]) == pytest.approx(statistics.median(values.values()), rel=1e-5)
    assert float(per_capita["prefecture_value"]) == pytest.approx((400 + 300) * 92 / (480_000 + 260_000), rel=1e-5)
    assert float(per_capita["province_value"]) == pytest.approx(900 * 92 / 890_000, rel=1e-5)
    assert float(per_capita["percentile_in_province"]) == pytest.approx(33.3)


@pytest.mark.parametrize("key", INDICATOR_DATASETS)
def test_every_indicator_row_belongs_to_a_county(reader, key):
    # a row without county_code would be invisible to every director: the prefecture and province rows of the
    # scorecard mart must reach the dashboards only as columns of county rows
    assert rows(reader, key, "county_code is null") == []


@pytest.mark.parametrize(("library", "compliance", "met", "not_computable", "shortfalls"), [
    pytest.param("532622001", "达标", 3, 0, None, id="branch-meets-all-on-progress"),
    pytest.param("532623001", "未达标", 1, 0, "建筑面积 差 30 平方米；年新增藏量 差 123.29 册（按进度）",
                 id="branch-too-small-and-behind"),
    pytest.param("532622101", "进度落后", 2, 1, "年新增藏量 差 6.16 册（按进度）", id="service-point-behind"),
])
def test_branch_compliance_rolls_up_each_library(reader, library, compliance, met, not_computable, shortfalls):
    result = rows(reader, "branch_scorecard", "library_code = %s and is_latest_year", (library,))
    assert {r["year"] for r in result} == {2026}
    assert {(r["compliance_zh"], r["standards_met"], r["standards_not_computable"], r["shortfalls_zh"])
            for r in result} == {(compliance, met, not_computable, shortfalls)}


def test_branch_compliance_keeps_earlier_years_and_the_marts_gaps(reader):
    result = rows(reader, "branch_scorecard", "library_code = %s", (RENAMED[0],))
    assert {(r["year"], r["is_latest_year"]) for r in result} == {(2025, False), (2026, True)}
    titles = rows(reader, "branch_scorecard", "indicator_id = 'titles_held'")
    assert {(r["status_zh"], r["gap_text_zh"]) for r in titles} == {("不可计算", None)}
    assert all(r["not_computable_reason"] for r in titles)


def test_assessment_carries_points_total_grade_and_evidence(reader):
    result = rows(reader, "assessment_indicators", "assessment_year = 2026")
    by_county = {r["county_code"]: r for r in result}
    assert {c: (r["total_points"], r["max_points_computable"], r["grade_zh"]) for c, r in by_county.items()} == {
        "532622": (20, 20, "一级"), "532623": (16, 20, "二级"), "530124": (3, 20, "未达级")}
    assert all(r["is_provisional"] and r["provisional_zh"].startswith("暂定") for r in result)
    status = {(r["county_code"], r["indicator_id"]): r["points_status_zh"] for r in result}
    assert (status["532623", "loans"], status["530124", "staff"], status["532622", "digital_funding"]) == (
        "部分得分", "未得分", "不可计算")
    loans = next(r for r in result if (r["county_code"], r["indicator_id"]) == ("532622", "loans"))
    assert (loans["evidence"], loans["evidence_batch_ids"]) == ("logs: 59 rows in 1 batches", "b1")
    digital = next(r for r in result if r["indicator_id"] == "digital_funding")
    assert digital["value"] is None and "评估自评材料" in digital["not_computable_reason"]
    assert {r["prefecture_name_zh"] for r in result} == {c[3] for c in COUNTIES}




def test_data_quality_status_per_county(reader):
    result = {r["county_code"]: r for r in rows(reader, "county_data_quality")}
    status = {c: r["status_zh"] for c, r in result.items()}
    assert status == {"532622": "正常", "532623": "有缺日", "530124": "数据滞后"}
    assert result["530124"]["days_behind"] == 3
    assert result["532622"]["forms_last_month"] == 1


def test_director_roles_go_to_counties_only(marts):
    # the prefecture library's own code in county_code gets no county-director role
    assert publish.county_codes() == sorted(c[0] for c in COUNTIES)


def test_sankey_pairs_keep_the_top_pairs_and_fold_the_rest_with_exact_totals(reader):
    # given every pair that returned elsewhere (the unfolded table) and the Sankey's folded one
    unfolded = rows(reader, "cross_library_pairs")
    folded = rows(reader, "cross_library_pairs_top")

    # then per month, county and level the loans and returns are the unfolded ones, and each pair is counted once
    def totals(result):
        sums = Counter()
        for r in result:
            key = (r["month_start"], r["county_code"], r["level_zh"])
            sums[key + ("loans",)] += r["loans"]
            sums[key + ("returned",)] += r["returned_loans"]
            sums[key + ("pairs",)] += r.get("pairs", 1)
        return sums

    assert totals(folded) == totals(unfolded)
    # and no Sankey node is both a source and a target (no cycles)
    assert not {r["borrow_library_zh"] for r in folded} & {r["return_library_zh"] for r in folded}


def test_sankey_pairs_fold_all_but_the_ten_biggest_pairs_of_a_county_month(marts):
    # given a county-month with 13 pairs returned elsewhere (loans 1..13) in a scratch schema of its own
    sql = publish.view_sql("mart_cross_library_pairs_top_monthly").replace(
        "marts.mart_cross_library_pairs_monthly", "pairs_in")
    with wh.connect("transformer") as conn:  # rolled back at the end: nothing stays
        conn.execute("create temporary table pairs_in as select * from marts.mart_cross_library_pairs_monthly limit 0")
        conn.execute(
            "insert into pairs_in (month_start, borrow_library_code, borrow_library_zh, return_library_code,"
            " return_library_zh, level_zh, county_code, county_name_zh, prefecture_code, prefecture_name_zh, loans,"
            " returned_loans) select date '2026-01-01', 'B' || n, '借 · B' || n, 'R' || n, '还 · R' || n,"
            " case when n % 2 = 0 then '分馆' else '服务点' end, '532622', '砚山县', '532600', '文山州', n, n"
            " from generate_series(1, 13) as n")
        result = conn.execute(f"select borrow_library_zh, return_library_zh, pair_rank, pairs, loans from ({sql}) t"
                              " order by pair_rank nulls last, borrow_library_zh").fetchall()
        conn.rollback()
    # then the ten biggest stay with their rank, the three smallest fold into one 其他馆 row per level
    assert [r[2] for r in result[:10]] == list(range(1, 11)) and [r[4] for r in result[:10]] == list(range(13, 3, -1))
    assert result[10:] == [("借 · 其他馆（分馆）", "还 · 其他馆", None, 1, 2),
                           ("借 · 其他馆（服务点）", "还 · 其他馆", None, 2, 1 + 3)]
