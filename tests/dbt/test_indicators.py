"""The indicator marts (issue 8) on the hand-made province of sample_province.py: every indicator of the
county scorecard, the branch compliance and the assessment checked against values worked out by hand.

The arithmetic, from the rows in sample_province.py (after staging drops the duplicate A-0001):
砚山 532622 (population 480,000) in March 2024 — its circulation log covers 03-09 and 03-10 (2 days):
  loans A-0001 (总馆), A-0002 (分馆 001), A-0003 (服务点 101, still 砚山's on 03-09) = 3, of which 2 outside 总馆;
  A-0007 (101 on 03-10) belongs to 西畴. Gate counts 40+35+50 (总馆) + 12 (分馆 001) = 137.
  Items held at the end of March: 总馆's 0001-0004 (0009 withdrawn in February) = 4; 101's item counts where
  101 stood at the month's end (西畴). Lent in March: 0001, 0002, 0004 → 1 of 4 not used (25 %).
  Acquired in March: 0004 (children's) → 1 new volume, 100 % children's. Loans of March returned: A-0002,
  at another library → 100 %. Readers whose home library is in 砚山 who borrowed: rA1, rA2, rB2 = 3.
  One lecture (act-1). Outlets open at the end of March: 分馆 001 and 002 (101 moved away on 03-10).
砚山 in February 2024 — no log reaches February; the corrected form of 101 covers it: loans 120, visits 310,
  registered readers 80; holdings: 总馆 0001-0003 + 101's one item = 4.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from shuyun.transform import run_dbt

pytestmark = pytest.mark.slow  # a `dbt build` of everything upstream of the indicators

YANSHAN, XICHOU, WENSHAN = "532622", "532623", "532600"


@pytest.fixture(scope="module")
def built(province):
    result = run_dbt(["build", "--full-refresh", "--select", "+path:models/marts/indicators",
                      "--indirect-selection", "buildable"])
    assert result.success
    return province


def scorecard(owner, area: str, period_type: str, start: str) -> dict[str, dict]:
    with psycopg.connect(owner.conninfo(), row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute(
            "select * from marts.mart_county_scorecard where area_code = %s and period_type = %s "
            "and period_start = %s", (area, period_type, start)).fetchall()
    return {r["indicator_id"]: r for r in rows}


def d(value) -> Decimal:
    return Decimal(str(value))


MARCH_YANSHAN = {
    # indicator: (value, numerator, denominator, source)
    "loans": (3, 3, None, "logs"),
    "visits": (137, 137, None, "logs"),
    "volumes_held": (4, 4, None, "holdings"),
    "new_volumes": (1, 1, None, "holdings"),
    "reader_activities": (1, 1, None, "logs"),
    "lectures": (1, 1, None, "logs"),
    "exhibitions": (0, 0, None, "logs"),
    "joint_reading_promotions": (0, 0, None, "logs"),
    "outlets": (2, 2, None, "registry"),
    "staff": (18, 18, None, "registry"),
    "visits_per_capita": (round(d(137) / 480000, 6), 137, 480000, "logs"),
    "loans_per_capita": (round(d(3) / 480000, 6), 3, 480000, "logs"),
    "holdings_per_capita": (round(d(4) / 480000, 6), 4, 480000, "holdings"),
    "new_acquisitions_per_capita": (round(d(1) / 480000, 6), 1, 480000, "holdings"),
    "system_new_volumes_per_capita": (round(d(1) / 480000, 6), 1, 480000, "holdings"),
    "active_readers_share": (round(100 * d(3) / 480000, 6), 3, 480000, "logs"),
    "collection_turnover": (d("0.75"), 3, 4, "logs"),
    "stock_unused_share": (d(25), 1, 4, "holdings+logs"),
    "children_new_share": (d(100), 1, 1, "holdings"),
    "branch_circulation_share": (round(100 * d(2) / 3, 6), 2, 3, "logs"),
    "cross_library_return_share": (d(100), 1, 1, "logs"),
    "rotation_service_point_monthly": (None, 0, 0, None),  # 砚山 has no service point at the end of March
}


@pytest.mark.parametrize("indicator", sorted(MARCH_YANSHAN))
def test_county_scorecard_march(built, indicator):
    row = scorecard(built, YANSHAN, "month", "2024-03-01")[indicator]
    value, numerator, denominator, source = MARCH_YANSHAN[indicator]
    assert (row["value"], row["numerator"], row["denominator"], row["value_source"]) == (
        None if value is None else d(value), None if numerator is None else d(numerator),
        None if denominator is None else d(denominator), source)
    assert row["days_covered"] == 2 and row["is_complete_period"] is False


def test_registered_readers_come_only_from_forms(built):
    march = scorecard(built, YANSHAN, "month", "2024-03-01")["registered_readers_share"]
    assert march["value"] is None and "statistics form" in march["not_computable_reason"]
    february = scorecard(built, YANSHAN, "month", "2024-02-01")["registered_readers_share"]
    assert february["value"] == round(100 * d(80) / 480000, 6) and february["value_source"] == "forms"


def test_a_month_no_log_reaches_is_counted_from_the_form(built):
    feb = scorecard(built, YANSHAN, "month", "2024-02-01")
    assert (feb["loans"]["value"], feb["loans"]["value_source"]) == (120, "forms")
    assert (feb["visits"]["value"], feb["visits"]["value_source"]) == (310, "forms")
    assert (feb["volumes_held"]["value"], feb["volumes_held"]["value_source"]) == (4, "holdings")
    assert feb["loans"]["days_covered"] == 29 and feb["loans"]["is_complete_period"] is True


def test_the_year_adds_form_months_to_the_log_days(built):
    year = scorecard(built, YANSHAN, "year", "2024-01-01")
    # logs: 总馆 1 + 分馆 001 1 + 101 (on 03-09) 1; the February form of 101: 120
    assert (year["loans"]["value"], year["loans"]["value_source"]) == (123, "forms+logs")
    # both figures are kept beside the one used
    assert (year["loans"]["value_from_logs"], year["loans"]["value_from_forms"]) == (3, 120)
    assert (year["visits"]["value"], year["visits"]["value_source"]) == (137 + 310, "forms+logs")


def test_not_computable_is_null_with_a_reason_never_zero(built):
    march = scorecard(built, YANSHAN, "month", "2024-03-01")
    village = march["service_point_village_coverage"]
    assert (village["value"], village["status"]) == (None, "not_computable")
    assert "villages" in village["not_computable_reason"]
    assert march["rotation_service_point_monthly"]["status"] == "not_computable"
    assert all(r["value"] is not None or r["not_computable_reason"] for r in march.values())


def test_targets_statuses_and_pro_rata(built):
    march = scorecard(built, YANSHAN, "month", "2024-03-01")
    # annual flows: 6 lectures a year, pro rata to the 2 days covered, judged on_track/behind
    assert march["lectures"]["target"] == round(d(6) * 2 / d("365.0"), 4)
    assert (march["lectures"]["status"], march["exhibitions"]["status"]) == ("on_track", "behind")
    # a stock (the 总馆's staff, ≥ 8) is judged pass/fail whatever the coverage
    assert (march["staff"]["target"], march["staff"]["status"]) == (8, "pass")
    assert march["loans"]["status"] == "no_target"


def test_ranks_percentiles_and_rollups(built):
    yanshan = scorecard(built, YANSHAN, "month", "2024-03-01")["loans_per_capita"]
    xichou = scorecard(built, XICHOU, "month", "2024-03-01")["loans_per_capita"]
    # 3 loans each: 西畴 has the smaller population, so the higher rate
    assert xichou["value"] == round(d(3) / 260000, 6)
    assert (xichou["rank_in_province"], yanshan["rank_in_province"]) == (1, 2)
    assert (xichou["percentile_in_province"], yanshan["percentile_in_province"]) == (100, 50)
    prefecture = scorecard(built, WENSHAN, "month", "2024-03-01")["loans_per_capita"]
    assert (prefecture["numerator"], prefecture["denominator"], prefecture["counties"]) == (6, 740000, 2)
    assert prefecture["value"] == round(d(6) / 740000, 6) and prefecture["rank_in_province"] is None
    province = scorecard(built, "province", "month", "2024-03-01")["loans"]
    assert province["value"] == 6
    # the peers sit on each county's own row (a county director's row-level security keeps only those)
    assert (yanshan["prefecture_value"], yanshan["province_value"]) == (prefecture["value"], prefecture["value"])
    assert yanshan["county_median_value"] == (yanshan["value"] + xichou["value"]) / 2


def test_rotation_coverage_of_branches_per_quarter(built):
    q1 = scorecard(built, YANSHAN, "quarter", "2024-01-01")["rotation_branch_quarterly"]
    # rot-1 reached 分馆 001 in January; 分馆 002 got none: 1 of 2 branch-quarters
    assert (q1["numerator"], q1["denominator"], q1["value"]) == (1, 2, 50)
    assert q1["status"] == "fail" and q1["target"] == 100


def compliance(owner, library: str) -> dict[str, dict]:
    with psycopg.connect(owner.conninfo(), row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("select * from marts.mart_branch_compliance where library_code = %s and year = 2024",
                            (library,)).fetchall()
    return {r["indicator_id"]: r for r in rows}


def test_branch_compliance_against_the_seed_003_standards(built):
    branch = compliance(built, "532622001")
    met = {k for k, r in branch.items() if r["status"] == "pass"}
    assert met == {"floor_area_m2", "networked_pcs", "seats", "children_seats", "periodicals",
                   "weekly_open_hours", "staff"}
    assert branch["volumes_held"]["status"] == "not_computable"  # no holdings file, no form
    assert "statistics form" in branch["staff_trainings"]["not_computable_reason"]
    assert (branch["reader_activities"]["value"], branch["reader_activities"]["status"]) == (0, "behind")


def test_a_moved_service_point_is_judged_once_in_its_new_county(built):
    point = compliance(built, "532622101")
    assert {r["county_code"] for r in point.values()} == {XICHOU}
    held = point["volumes_held"]
    assert (held["value"], held["target"], held["status"], held["gap"], held["gap_text_zh"]) == (
        1, 1500, "fail", 1499, "差 1499 册")
    assert {k: (r["value"], r["status"]) for k, r in point.items()} == {
        "floor_area_m2": (110, "pass"), "networked_pcs": (1, "pass"), "periodicals": (30, "pass"),
        "weekly_open_hours": (35, "pass"), "staff": (1, "pass"),
        "volumes_held": (1, "fail"), "titles_held": (1, "fail"),  # one item of one title, 2023-12-01
        "new_volumes": (0, "behind"), "new_titles": (0, "behind"),  # annual flows over a partial year
        "reader_activities": (1, "on_track"),  # the February form's one activity (no activity log reaches it)
        "staff_trainings": (None, "not_computable"),  # the form leaves trainings blank
    }
    # its acquisitions come from the holdings file (none in 2024), not the February form's 20 new volumes
    assert (point["new_volumes"]["value"], point["new_volumes"]["value_source"]) == (0, "holdings")


def test_assessment_points_grade_and_evidence(built):
    with psycopg.connect(built.conninfo(), row_factory=psycopg.rows.dict_row) as conn:
        rows = {r["indicator_id"]: r for r in conn.execute(
            "select * from marts.mart_assessment where library_code = '532622000' and assessment_year = 2024")}
    assert rows["weekly_open_hours"]["points"] == 10  # 63 h a week: the top step
    assert rows["loans"]["points"] == 0 and rows["loans"]["is_provisional"] is True
    # projected to 2024's 366 days library by library: 总馆 and 分馆 001 one loan each over their 2 days of log,
    # 服务点 101 (砚山) 1 + 120 (the February form) over its 31 days
    projected = d(1) * 366 / 2 + d(1) * 366 / 2 + d(121) * 366 / 31
    assert rows["loans"]["value_for_points"] == projected.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert rows["loans"]["days_covered"] == 2  # the least-covered reporting library
    assert rows["digital_funding"]["points"] is None
    assert "evidence form" in rows["digital_funding"]["not_computable_reason"]
    total = rows["loans"]["total_points"]
    # reader activities: 1 lecture over 2 days + 1 on 101's form over 31 days, projected: 183 + 11.8 ≥ 100 → 10
    assert rows["reader_activities"]["points"] == 10
    assert total == sum(r["points"] or 0 for r in rows.values()) == 20
    assert rows["loans"]["max_points_computable"] == 70 and rows["loans"]["grade"] is None
    assert "logs: 3 rows" in rows["loans"]["evidence"] and "batch-a-0309" in rows["loans"]["evidence_batch_ids"]


# ---------------------------------------------------------------- exports (shuyun report) on the same marts

def test_quarterly_xlsx_rolls_counties_up_and_matches_the_marts(built, tmp_path):
    from openpyxl import load_workbook

    from reports import api
    from reports.periods import parse_period

    path = api.quarterly(tmp_path, parse_period("2024Q1"))
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[3]]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=4, values_only=True)}
    assert sheet["A1"].value.endswith("2024年第1季度")
    assert [code for code in rows] == [YANSHAN, XICHOU, WENSHAN, "province"]  # counties, then their prefecture
    quarter = {area: scorecard(built, area, "quarter", "2024-01-01") for area in rows}
    for area, row in rows.items():
        assert row["外借册次"] == quarter[area]["loans"]["value"]
        assert row["到馆人次"] == (None if quarter[area]["visits"]["value"] is None
                                  else quarter[area]["visits"]["value"])
    # the prefecture row is the sum of its counties, the province row of its prefectures
    assert rows[WENSHAN]["外借册次"] == rows[YANSHAN]["外借册次"] + rows[XICHOU]["外借册次"]
    assert rows["province"]["外借册次"] == rows[WENSHAN]["外借册次"]
    assert load_workbook(path)["说明"]["A1"].value == "指标"


@pytest.mark.browser
def test_scorecard_html_renders_in_chromium_with_the_marts_numbers(built, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from reports import api
    from reports.periods import parse_period

    written = api.scorecards(tmp_path, parse_period("2024-03"), [YANSHAN], pdf=True)
    html = next(p for p in written if p.suffix == ".html")
    pdf = next(p for p in written if p.suffix == ".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1240,1754"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(html.as_uri())
        assert "砚山" in driver.title
        cells = {row.get_attribute("data-indicator"): row.find_elements(By.TAG_NAME, "td")
                 for row in driver.find_elements(By.CSS_SELECTOR, "#indicators tbody tr")}
        march = scorecard(built, YANSHAN, "month", "2024-03-01")
        assert set(cells) == set(march)
        assert cells["loans"][1].text.startswith("3")
        assert cells["visits"][1].text.startswith("137")
        assert "不可计算" in cells["service_point_village_coverage"][1].text
        assert driver.find_element(By.ID, "incomplete").is_displayed()  # 2 of 31 days: said on the page
        branches = driver.find_elements(By.CSS_SELECTOR, "#branches tbody tr")
        assert {b.get_attribute("data-library") for b in branches} == {"532622001", "532622002"}
        shot = tmp_path / "scorecard.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    finally:
        driver.quit()
