"""Every dataset's SQL, run as the read-only reader role on the known test marts (real PostgreSQL, no Superset)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

import pytest

from dashboards import publish
from tests.dashboards.conftest import COUNTIES, FLOWS, RENAMED, library_daily_rows


def dataset_sql(key: str) -> str:
    assets = publish.load_assets()
    return assets.files[f"datasets/shuyun_marts/{key}.yaml"]["sql"]


def rows(reader, key: str, where: str = "true", params=()) -> list[dict]:
    with reader.cursor() as cur:
        cur.execute(f"select * from ({dataset_sql(key)}) as ds where {where}", params)
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


def test_county_scorecard_puts_each_county_beside_the_province_median(reader):
    # given January's loans per county from the generator
    jan = defaultdict(int)
    for _library, day, county, _prefecture, _level, loans, *_measures in library_daily_rows():
        if day.month == 1:
            jan[county] += loans
    per_1k = {c[0]: jan[c[0]] * 1000 / c[4] for c in COUNTIES}
    # when the scorecard is read for January
    result = {r["county_code"]: r for r in rows(reader, "county_scorecard", "month_start = %s", (dt.date(2026, 1, 1),))}
    # then per-capita values, the median over the three counties and the ranks match
    for code, value in per_1k.items():
        assert float(result[code]["loans_per_1k"]) == pytest.approx(value)
        assert result[code]["province_median_loans_per_1k"] == pytest.approx(statistics.median(per_1k.values()))
    ranking = sorted(per_1k, key=per_1k.get, reverse=True)
    assert [result[c]["province_rank_loans_per_1k"] for c in ranking] == [1, 2, 3]


def test_county_scorecard_median_survives_a_county_filter(reader):
    # the RLS clause filters the outer query: a director's single row still carries the all-county median
    all_rows = rows(reader, "county_scorecard", "month_start = %s", (dt.date(2026, 1, 1),))
    one = rows(reader, "county_scorecard", "month_start = %s and county_code = '532622'", (dt.date(2026, 1, 1),))
    assert len(one) == 1
    assert one[0]["province_median_loans_per_1k"] == all_rows[0]["province_median_loans_per_1k"]


@pytest.mark.parametrize(("library", "standard", "shortfalls"), [
    pytest.param("532622001", "达标", None, id="branch-meets-standard"),
    pytest.param("532623001", "未达标", "面积<150㎡", id="branch-too-small"),
    pytest.param("532622101", "达标", None, id="service-point-meets-standard"),
    pytest.param("532622000", "不适用", None, id="county-main-library"),
])
def test_branch_scorecard_checks_facility_standards(reader, library, standard, shortfalls):
    result = rows(reader, "branch_scorecard", "library_code = %s", (library,))
    assert {r["month_start"] for r in result} == {dt.date(2026, 1, 1), dt.date(2026, 2, 1)}
    assert {(r["facility_standard_zh"], r["shortfalls_zh"]) for r in result} == {(standard, shortfalls)}


def test_branch_scorecard_keeps_a_library_without_activity_as_zero(reader, marts):
    with reader.cursor() as cur:
        cur.execute(dataset_sql("branch_scorecard"))
        count = cur.rowcount
    assert count == 9 * 2  # nine current libraries x two months, activity or not


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


def test_assessment_points_and_grade(reader):
    result = rows(reader, "assessment_indicators", "year = 2026")
    total = {r["county_code"]: r["total_points"] for r in result}
    assert total == {"532622": 45, "532623": 45, "530124": 0}
    assert {r["grade_zh"] for r in result} == {"未达级"}
    area = {r["county_code"]: r["status_zh"] for r in result if r["indicator_zh"] == "总馆建筑面积"}
    assert area == {"532622": "达标", "532623": "达标", "530124": "未达标"}


def test_data_quality_status_per_county(reader):
    result = {r["county_code"]: r for r in rows(reader, "county_data_quality")}
    status = {c: r["status_zh"] for c, r in result.items()}
    assert status == {"532622": "正常", "532623": "有缺日", "530124": "数据滞后"}
    assert result["530124"]["days_behind"] == 3
    assert result["532622"]["forms_last_month"] == 1


def test_director_roles_go_to_counties_only(marts):
    # the prefecture library's own code in county_code gets no county-director role
    assert publish.county_codes() == sorted(c[0] for c in COUNTIES)
