"""Fixtures for the dashboards: the contract's mart tables with a small known dataset, and a Superset of its own.

The marts are created in the session's test database as `shuyun_transformer` (who owns `marts`), exactly as
the contract in the task names them; the numbers are generated here from simple rules so the tests know them.
Superset for tests runs on a free port with its own state folder and metadata database (`superset_test`, kept
between sessions so `db upgrade` + `init` run once per machine), and its database connection points at the
session's test warehouse through the reader role.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from shuyun import settings
from shuyun import warehouse as wh

# (county_code, county_name_zh, prefecture_code, prefecture_name_zh, population)
COUNTIES = [
    ("532622", "砚山县", "532600", "文山壮族苗族自治州", 480_000),
    ("532623", "西畴县", "532600", "文山壮族苗族自治州", 260_000),
    ("530124", "富民县", "530100", "昆明市", 150_000),
]
FIRST_DAY = dt.date(2026, 1, 1)
LAST_DAY = dt.date(2026, 2, 28)
LAGGING = ("530124", dt.date(2026, 2, 25))  # this county's data stops early: 数据滞后
GAP = ("532623", dt.date(2026, 2, 10))  # this county misses one day: 有缺日
DEMO_COUNTY = "532622"
RENAMED = ("532622001", dt.date(2026, 2, 15))  # 砚山县城关分馆 → 砚山县城关镇分馆 in mid-month

LEVEL_ZH = {"county": "总馆", "branch": "分馆", "service_point": "服务点"}


@dataclass(frozen=True)
class Lib:
    code: str
    name_zh: str
    level: str
    county: int  # index into COUNTIES
    floor_area_m2: int
    seats: int
    children_seats: int
    networked_pcs: int
    weekly_open_hours: int
    staff: int
    periodicals: int


def libraries() -> list[Lib]:
    libs = []
    for i, (code, name, *_rest) in enumerate(COUNTIES):
        libs.append(Lib(f"{code}000", f"{name}图书馆", "county", i, 6000 - 1000 * i, 400, 80, 40, 63, 12 - 3 * i, 300))
        # the first county's branch meets every standard; the others fall short on floor area
        libs.append(Lib(f"{code}001", f"{name}城关镇分馆", "branch", i, 200 if i == 0 else 120, 40, 12, 3, 48, 2, 40))
        libs.append(Lib(f"{code}101", f"{name}新村服务点", "service_point", i, 100, 10, 4, 1, 35, 1, 12))
    return libs


def daily_loans(lib_index: int, day: dt.date) -> int:
    return 10 + 3 * lib_index + day.day % 5


def days():
    day = FIRST_DAY
    while day <= LAST_DAY:
        yield day
        day += dt.timedelta(days=1)


def library_daily_rows() -> list[tuple]:
    rows = []
    for li, lib in enumerate(libraries()):
        county = COUNTIES[lib.county]
        for day in days():
            if county[0] == LAGGING[0] and day > LAGGING[1]:
                continue
            if county[0] == GAP[0] and day == GAP[1]:
                continue
            loans = daily_loans(li, day)
            rows.append((lib.code, day, county[0], county[2], lib.level, loans, loans - 1, 1, 2 * loans, loans // 2))
    return rows


MARTS_DDL = """
create table marts.dim_library (
    library_version_key text primary key, library_code text not null, name_zh text, level text, level_zh text,
    parent_code text, county_code text, county_name_zh text, prefecture_code text, prefecture_name_zh text,
    division_code text, population_served integer, floor_area_m2 numeric, seats integer, children_seats integer,
    networked_pcs integer, weekly_open_hours numeric, staff integer, periodicals integer,
    valid_from date not null, valid_to date, is_current boolean not null
);
create table marts.dim_date (
    date_day date primary key, year integer, quarter integer, month integer, month_start date, iso_week integer,
    day_of_week integer, is_weekend boolean, is_public_holiday boolean, holiday_name_zh text, is_workday boolean,
    is_school_vacation boolean
);
create table marts.fct_library_daily (
    library_code text, date_day date, county_code text, prefecture_code text, library_level text,
    loans bigint, returns bigint, renewals bigint, visits bigint, distinct_readers bigint,
    primary key (library_code, date_day)
);
create table marts.fct_circulation_events (
    event_id text primary key, event_type text, event_at timestamptz, event_date date, library_code text,
    library_version_key text, library_level text, county_code text, prefecture_code text, item_barcode text,
    item_home_library text, reader_key text, reader_home_library text, channel text,
    is_cross_library_item boolean, is_cross_library_reader boolean, clc_top_class text, is_children_item boolean,
    _batch_id text
);
create table marts.fct_cross_library_flows (
    month_start date, borrow_library_code text, return_library_code text, item_home_library text,
    reader_home_library text, county_code text, prefecture_code text, loans bigint, returned_loans bigint
);
create table marts.fct_holdings_monthly (
    month_start date, library_code text, county_code text, prefecture_code text, clc_top_class text,
    clc_top_class_zh text, audience text, items_held bigint, items_added bigint, items_withdrawn bigint
);
create table marts.fct_monthly_reports (
    report_key text primary key, county_code text, prefecture_code text, library_code text, library_level text,
    period_type text, month_start date, visits bigint, loans bigint
);
"""

MART_TABLES = ("dim_library", "dim_date", "fct_library_daily", "fct_circulation_events", "fct_cross_library_flows",
               "fct_holdings_monthly", "fct_monthly_reports")

# month, borrow, return, item home, reader home, loans, returned
FLOWS = [
    ("2026-01-01", "532622000", "532622001", "532622000", "532622000", 5, 5),
    ("2026-01-01", "532622001", "532622000", "532622001", "532622001", 3, 2),
    ("2026-01-01", "532623000", "532623000", "532623000", "532623000", 10, 10),
    ("2026-02-01", "530124000", "530124101", "530124000", "530124000", 4, 4),
    ("2026-02-01", "532622000", None, "532623000", "532622000", 2, 0),
    ("2026-02-01", "532622001", "532622000", "532622001", "532622001", 6, 6),  # the month it was renamed
]


def load_marts(conn: psycopg.Connection) -> None:
    for table in MART_TABLES:
        conn.execute(f"drop table if exists marts.{table} cascade")
    conn.execute(MARTS_DDL)
    libs = libraries()
    with conn.cursor() as cur:
        dim = []
        for lib in libs:
            code, cname, pcode, pname, population = COUNTIES[lib.county]
            parent = None if lib.level == "county" else f"{code}000"
            row = [lib.code, lib.name_zh, lib.level, LEVEL_ZH[lib.level], parent, code, cname, pcode, pname, code,
                   population if lib.level == "county" else None, lib.floor_area_m2, lib.seats, lib.children_seats,
                   lib.networked_pcs, lib.weekly_open_hours, lib.staff, lib.periodicals]
            if lib.code == RENAMED[0]:  # renamed in mid-February: two versions (SCD2)
                old = row.copy()
                old[1] = "砚山县城关分馆"
                dim.append([f"{lib.code}@2020-01-01", *old, dt.date(2020, 1, 1), RENAMED[1], False])
                dim.append([f"{lib.code}@{RENAMED[1]}", *row, RENAMED[1], None, True])
            else:
                dim.append([f"{lib.code}@2020-01-01", *row, dt.date(2020, 1, 1), None, True])
        # the prefecture library carries its own division code in county_code: it is not a county
        dim.append(["532600000@2020-01-01", "532600000", "文山州图书馆", "prefecture", "市馆", None, "532600", None,
                    "532600", "文山壮族苗族自治州", "532600", 3_500_000, 9000, 600, 120, 60, 70, 40, 500,
                    dt.date(2020, 1, 1), None, True])
        cur.executemany(
            "insert into marts.dim_library values (" + ", ".join(["%s"] * 22) + ")", dim
        )
        cur.executemany("insert into marts.fct_library_daily values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        library_daily_rows())
        cur.executemany(
            "insert into marts.dim_date (date_day, year, quarter, month, month_start) values (%s, %s, %s, %s, %s)",
            [(d, d.year, (d.month - 1) // 3 + 1, d.month, d.replace(day=1)) for d in days()],
        )
        county_of = {lib.code: COUNTIES[lib.county] for lib in libs}
        cur.executemany(
            "insert into marts.fct_cross_library_flows values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(m, b, r, i, h, county_of[b][0], county_of[b][2], n, k) for m, b, r, i, h, n, k in FLOWS],
        )
        holdings = []
        for lib in libs:
            if lib.level != "county" and lib.code != RENAMED[0]:
                continue
            code, _, pcode, *_ = COUNTIES[lib.county]
            for month, held in (("2026-01-01", 1000), ("2026-02-01", 1100)):
                holdings.append((month, lib.code, code, pcode, "I", "文学", "adult", held, 100, 0))
                holdings.append(
                    (month, lib.code, code, pcode, "G", "文化、科学、教育、体育", "children", held // 2, 50, 5)
                )
        cur.executemany("insert into marts.fct_holdings_monthly values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        holdings)
        events = []
        loans = [("I", "532622000")] * 6 + [("K", "532622001")] * 3 + [("TP", "530124000")] * 2 + [(None, "532623000")]
        for n, (clc, lib_code) in enumerate(loans):
            lib = next(lib for lib in libs if lib.code == lib_code)
            code, _, pcode, *_ = COUNTIES[lib.county]
            version = f"{lib_code}@2020-01-01"  # 3 February: before the rename
            events.append((f"e{n}", "loan", dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC), dt.date(2026, 2, 3), lib_code,
                           version, lib.level, code, pcode, f"item{n}", lib_code, f"r{n}", lib_code, "desk",
                           False, False, clc, clc == "K", "b1"))
        events.append(("e99", "return", dt.datetime(2026, 2, 4, tzinfo=dt.UTC), dt.date(2026, 2, 4), "532622000",
                       "532622000@2020-01-01", "county", "532622", "532600", "item0", "532622000", None, None,
                       "desk", False, False, "I", False, "b1"))
        cur.executemany("insert into marts.fct_circulation_events values (" + ", ".join(["%s"] * 19) + ")", events)
        cur.executemany(
            "insert into marts.fct_monthly_reports values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [("m1", "532622", "532600", "532622101", "service_point", "month", dt.date(2026, 1, 1), 300, 120),
             ("m2", "532623", "532600", "532623101", "service_point", "month", dt.date(2025, 12, 1), 200, 80)],
        )


# ---------------------------------------------------------------- the indicator marts (issue 8)
# Created from their dbt contract (_indicators__models.yml: every column with its data type), so a dataset that
# reads a column the contract lacks fails here. The rows follow the marts' rules on a few hand-checkable numbers.

INDICATOR_CONTRACT = (Path(__file__).resolve().parents[2] / "dbt" / "models" / "marts" / "indicators"
                      / "_indicators__models.yml")
INDICATOR_MARTS = ("dim_indicator", "mart_county_scorecard", "mart_branch_compliance", "mart_assessment")

# (period_type, start, end, days): the last quarter of 2025 is complete, 2026 so far covers January and February
SCORECARD_PERIODS = [
    ("quarter", dt.date(2025, 10, 1), dt.date(2026, 1, 1), 92),
    ("month", dt.date(2026, 1, 1), dt.date(2026, 2, 1), 31),
    ("month", dt.date(2026, 2, 1), dt.date(2026, 3, 1), 28),
    ("quarter", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 90),
    ("year", dt.date(2026, 1, 1), dt.date(2027, 1, 1), 365),
]
LOANS_PER_DAY = {"532622": 400, "532623": 300, "530124": 200}
# (indicator, name, family, unit, annual flow, county target a year or None)
INDICATORS = [
    ("loans", "书刊文献外借册次", "statistic", "册次", True, None),
    ("visits", "总流通人次（到馆人次）", "statistic", "人次", True, None),
    ("loans_per_capita", "人均外借册次", "performance", "册次/人", True, None),
    ("staff", "专职工作人员", "standard", "人", False, 8),
    ("lectures", "讲座次数", "standard", "次", True, 6),
    ("service_point_village_coverage", "服务点村（社区）覆盖率", "performance", "%", False, None),
    ("floor_area_m2", "建筑面积", "standard", "平方米", False, None),
    ("networked_pcs", "联网电脑", "standard", "台", False, None),
    ("new_volumes", "年新增藏量", "standard", "册", True, None),
    ("titles_held", "藏书种数", "standard", "种", False, None),
    ("digital_funding", "数字图书馆经费保障", "digital", "分", False, None),
]
SCORECARD_INDICATORS = [i for i in INDICATORS if i[0] in (
    "loans", "visits", "loans_per_capita", "staff", "lectures", "service_point_village_coverage")]
VILLAGES_REASON = "no feed carries the number of villages/communities (村、社区) of a county"


def days_covered(county_code: str, start: dt.date, end: dt.date) -> int:
    """Days of the period the county's data covers: up to LAST_DAY, or the lagging county's last day."""
    last = LAGGING[1] if county_code == LAGGING[0] else LAST_DAY
    return max(0, (min(end - dt.timedelta(days=1), last) - start).days + 1)


def status(value, target, annual_flow: bool, complete: bool) -> str:
    if value is None:
        return "not_computable"
    if target is None:
        return "no_target"
    judged_whole = complete or not annual_flow
    if value >= target:
        return "pass" if judged_whole else "on_track"
    return "fail" if judged_whole else "behind"


def _rank(rows: list[dict], key: str) -> None:
    """Rank (1 = best) and percentile (cume_dist, 100 = best) among the rows that have a value."""
    valued = [r for r in rows if r["value"] is not None]
    for r in valued:
        r[f"rank_in_{key}"] = 1 + sum(o["value"] > r["value"] for o in valued)
        r[f"percentile_in_{key}"] = round(Decimal(100 * sum(o["value"] <= r["value"] for o in valued))
                                          / len(valued), 1)
        if key == "province":
            r["counties_ranked_in_province"] = len(valued)


def scorecard_rows() -> list[dict]:
    by_code = {lib.code: lib for lib in libraries()}
    rows = []
    for period_type, start, end, period_days in SCORECARD_PERIODS:
        county_rows = []
        for code, name, pcode, pname, population in COUNTIES:
            covered = days_covered(code, start, end)
            loans = LOANS_PER_DAY[code] * covered
            lectures = {"532622": covered // 15, "532623": covered // 30, "530124": 0}[code]
            values = {"loans": (loans, None), "visits": (2 * loans, None), "loans_per_capita": (loans, population),
                      "staff": (by_code[f"{code}000"].staff, None), "lectures": (lectures, None),
                      "service_point_village_coverage": (None, None)}
            for indicator, iname, family, unit, annual_flow, target in SCORECARD_INDICATORS:
                numerator, denominator = values[indicator]
                value = (None if numerator is None else Decimal(numerator) if denominator is None
                         else round(Decimal(numerator) / denominator, 6))
                period_target = (None if target is None else
                                 round(Decimal(target * covered) / 365, 4) if annual_flow else Decimal(target))
                county_rows.append({
                    "area_level": "county", "area_code": code, "area_name_zh": name, "county_code": code,
                    "prefecture_code": pcode, "prefecture_name_zh": pname, "period_type": period_type,
                    "period_start": start, "period_end": end, "period_days": period_days, "days_covered": covered,
                    "is_complete_period": covered >= period_days, "counties": 1, "indicator_id": indicator,
                    "indicator_name_zh": iname, "indicator_family": family, "unit_zh": unit, "value": value,
                    "numerator": numerator, "denominator": denominator,
                    "value_source": None if value is None else "logs",
                    "not_computable_reason": VILLAGES_REASON if value is None else None,
                    "annual_target": target, "target": period_target,
                    "status": status(value, period_target, annual_flow, covered >= period_days)})
        for indicator, *_ in SCORECARD_INDICATORS:
            same = [r for r in county_rows if r["indicator_id"] == indicator]
            _rank(same, "province")
            for pcode in {r["prefecture_code"] for r in same}:
                _rank([r for r in same if r["prefecture_code"] == pcode], "prefecture")
        rows += county_rows
        # the prefecture and province roll-ups: sums of the counties, ratios of the sums; no target, no county_code
        areas = [("prefecture", c[2], c[3]) for c in COUNTIES] + [("province", "province", "全省")]
        for level, code, name in dict.fromkeys(areas):
            for indicator, *_ in SCORECARD_INDICATORS:
                members = [r for r in county_rows if r["indicator_id"] == indicator
                           and (level == "province" or r["prefecture_code"] == code)]
                first = members[0]
                numerator = sum(r["numerator"] for r in members) if first["numerator"] is not None else None
                denominator = sum(r["denominator"] for r in members) if first["denominator"] is not None else None
                value = (None if numerator is None else Decimal(numerator) if denominator is None
                         else round(Decimal(numerator) / denominator, 6))
                rows.append({**{k: first[k] for k in ("period_type", "period_start", "period_end", "period_days",
                                                      "indicator_id", "indicator_name_zh", "indicator_family",
                                                      "unit_zh", "value_source", "not_computable_reason")},
                             "area_level": level, "area_code": code, "area_name_zh": name,
                             "prefecture_code": code if level == "prefecture" else None,
                             "prefecture_name_zh": name if level == "prefecture" else None,
                             "days_covered": max(r["days_covered"] for r in members),
                             "is_complete_period": all(r["is_complete_period"] for r in members),
                             "counties": len(members), "value": value, "numerator": numerator,
                             "denominator": denominator, "status": "not_computable" if value is None else "no_target"})
    # the peers the mart puts on every row: its prefecture's and the province's values, the median over counties
    by_key = {(r["area_level"], r["area_code"], r["period_type"], r["period_start"], r["indicator_id"]): r
              for r in rows}
    for r in rows:
        key = (r["period_type"], r["period_start"], r["indicator_id"])
        prefecture = by_key.get(("prefecture", r["prefecture_code"], *key))
        r["prefecture_value"] = prefecture["value"] if prefecture else None
        r["province_value"] = by_key[("province", "province", *key)]["value"]
        counties = [c["value"] for c in rows if c["area_level"] == "county" and c["value"] is not None
                    and (c["period_type"], c["period_start"], c["indicator_id"]) == key]
        r["county_median_value"] = statistics.median(counties) if counties else None
    for r in rows:
        r["scorecard_key"] = "|".join(str(r[k]) for k in ("area_level", "area_code", "period_type", "period_start",
                                                           "indicator_id"))
    return rows


# (indicator, target per level) of the seed-003 standards the compliance rows use; new_volumes is an annual flow
BRANCH_STANDARDS = [("floor_area_m2", {"branch": 150, "service_point": 100}),
                    ("networked_pcs", {"branch": 2, "service_point": 1}),
                    ("new_volumes", {"branch": 2000, "service_point": 100}),
                    ("titles_held", {"service_point": 1200})]
COMPLIANCE_YEARS = [(2025, 365), (2026, (LAST_DAY - FIRST_DAY).days + 1)]


def branch_compliance_rows() -> list[dict]:
    names = {i[0]: i for i in INDICATORS}
    rows = []
    for lib in libraries():
        if lib.level == "county":
            continue
        code, cname, pcode, *_ = COUNTIES[lib.county]
        for year, covered in COMPLIANCE_YEARS:
            if year == 2025 and lib.code != RENAMED[0]:
                continue  # one library has a complete earlier year: not the latest
            new_volumes = 400 if code == DEMO_COUNTY and lib.level == "branch" else 200 if lib.level == "branch" else 10
            values = {"floor_area_m2": lib.floor_area_m2, "networked_pcs": lib.networked_pcs,
                      "new_volumes": new_volumes * covered // 59, "titles_held": None}
            for indicator, targets in BRANCH_STANDARDS:
                if lib.level not in targets:
                    continue
                _, iname, _, unit, annual_flow, _ = names[indicator]
                value = None if values[indicator] is None else Decimal(values[indicator])
                target = (round(Decimal(targets[lib.level] * covered) / 365, 4) if annual_flow
                          else Decimal(targets[lib.level]))
                gap = round(target - value, 2) if value is not None and value < target else None
                rows.append({
                    "compliance_key": f"{lib.code}|{year}|{indicator}", "library_code": lib.code,
                    "library_version_key": f"{lib.code}@2020-01-01", "library_name_zh": lib.name_zh,
                    "library_level": lib.level, "library_level_zh": LEVEL_ZH[lib.level],
                    "parent_code": f"{code}000", "county_code": code, "county_name_zh": cname,
                    "prefecture_code": pcode, "year": year, "days_covered": covered,
                    "is_complete_year": covered >= 365, "indicator_id": indicator, "indicator_name_zh": iname,
                    "unit_zh": unit, "value": value, "value_source": None if value is None else "registry",
                    "not_computable_reason": "titles need item-level holdings" if value is None else None,
                    "annual_target": targets[lib.level], "target": target,
                    "status": status(value, target, annual_flow, covered >= 365), "gap": gap,
                    "gap_text_zh": None if value is None else f"差 {gap.normalize():f} {unit}" if gap else "达标"})
    return rows


# the assessment's points: loans by annualised value (>= 120,000: 10, >= 80,000: 6, else 3); staff >= 8: 10
# grades by the share of the computable maximum: >= 90 % 一级, >= 75 % 二级, >= 60 % 三级, else none
GRADES = [(Decimal("0.9"), 1, "一级"), (Decimal("0.75"), 2, "二级"), (Decimal("0.6"), 3, "三级")]


def assessment_rows() -> list[dict]:
    names = {i[0]: i for i in INDICATORS}
    by_code = {lib.code: lib for lib in libraries()}
    rows = []
    for code, cname, pcode, *_ in COUNTIES:
        covered = days_covered(code, dt.date(2026, 1, 1), dt.date(2027, 1, 1))
        loans = Decimal(LOANS_PER_DAY[code] * covered)
        annualised = round(loans * 365 / covered, 6)
        staff = Decimal(by_code[f"{code}000"].staff)
        scored = [
            ("loans", loans, annualised, 10 if annualised >= 120_000 else 6 if annualised >= 80_000 else 3, 10,
             "logs", f"logs: {covered} rows in 1 batches", "b1"),
            ("staff", staff, staff, 10 if staff >= 8 else 0, 10, "registry",
             "registry: the county library's current version", None),
            ("digital_funding", None, None, None, None, None, None, None),
        ]
        total = sum(s[3] for s in scored if s[3] is not None)
        most = sum(s[4] for s in scored if s[3] is not None)
        grade = next(((g, zh) for share, g, zh in GRADES if total >= share * most), (None, None))
        for indicator, value, for_points, points, max_points, source, evidence, batches in scored:
            _, iname, family, unit, *_ = names[indicator]
            rows.append({
                "assessment_key": f"{code}000|2026|{indicator}", "assessment_round": "demo-R7",
                "library_code": f"{code}000", "library_name_zh": f"{cname}图书馆", "county_code": code,
                "county_name_zh": cname, "prefecture_code": pcode, "assessment_year": 2026, "days_covered": covered,
                "is_provisional": covered < 365, "indicator_id": indicator, "indicator_name_zh": iname,
                "indicator_family": family, "unit_zh": unit, "value": value, "value_for_points": for_points,
                "value_source": source,
                "not_computable_reason": None if value is not None else
                "no feed carries it: scored from the assessment evidence form (评估自评材料)",
                "points": points, "max_points": max_points, "total_points": total, "max_points_computable": most,
                "indicators_computable": sum(s[1] is not None for s in scored), "indicators_listed": len(scored),
                "grade": grade[0], "grade_zh": grade[1], "evidence": evidence, "evidence_batch_ids": batches})
    return rows


def dim_indicator_rows() -> list[dict]:
    return [{"indicator_id": i, "family": family, "name_zh": name, "unit_zh": unit, "is_annual_flow": flow,
             "direction": "higher", "formula_zh": f"{name}（计算方法）",
             "targets_zh": None if target is None else f"总馆 ≥ {target}", "standard": "seed 003"}
            for i, name, family, unit, flow, target in INDICATORS]


def load_indicator_marts(conn: psycopg.Connection) -> None:
    """The four indicator marts, created from their dbt contract, with the rows above."""
    models = {m["name"]: m for m in yaml.safe_load(INDICATOR_CONTRACT.read_text(encoding="utf-8"))["models"]}
    contents = {"dim_indicator": dim_indicator_rows(), "mart_county_scorecard": scorecard_rows(),
                "mart_branch_compliance": branch_compliance_rows(), "mart_assessment": assessment_rows()}
    for table in INDICATOR_MARTS:
        columns = [(c["name"], c["data_type"]) for c in models[table]["columns"]]
        conn.execute(f"drop table if exists marts.{table} cascade")
        conn.execute(f"create table marts.{table} ({', '.join(f'{n} {t}' for n, t in columns)})")
        names = [n for n, _ in columns]
        for row in contents[table]:
            unknown = set(row) - set(names)
            assert not unknown, f"{table}: the contract has no column {sorted(unknown)}"
        with conn.cursor() as cur:
            cur.executemany(f"insert into marts.{table} ({', '.join(names)}) values ({', '.join(['%s'] * len(names))})",
                            [[row.get(n) for n in names] for row in contents[table]])


def load_dashboard_views(conn: psycopg.Connection) -> None:
    """The datasets' views (dbt/models/marts/dashboards/, as dbt builds them) over the marts above."""
    from dashboards import publish

    pending = {doc["table_name"] for doc in publish.load_assets().of("datasets").values() if not doc.get("sql")}
    sql = {name: publish.view_sql(name) for name in pending}
    # dbt's own tests in the same session may have built some of them as tables: start from none
    for name, kind in conn.execute("select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = "
                                   "c.relnamespace where n.nspname = 'marts' and c.relname = any(%s)",
                                   (sorted(pending),)).fetchall():
        conn.execute(f"drop {'view' if kind == 'v' else 'table'} if exists marts.{name} cascade")
    while pending:  # a model that reads another of the folder comes after it (dbt's ref order)
        ready = sorted(n for n in pending if not any(f"marts.{other} " in sql[n] or f"marts.{other}\n" in sql[n]
                                                     for other in pending - {n}))
        assert ready, f"the dashboards' models refer to each other in a cycle: {sorted(pending)}"
        for name in ready:
            conn.execute(f"create or replace view marts.{name} as {sql[name]}")
        pending -= set(ready)


@pytest.fixture(scope="session")
def marts(warehouse_env) -> wh.Address:
    """The contract's marts with the known dataset above, and the dashboards' views over them, owned by
    shuyun_transformer, readable by the reader."""
    with wh.connect("transformer", autocommit=True) as conn:
        load_marts(conn)
        load_indicator_marts(conn)
        load_dashboard_views(conn)
    return warehouse_env


@pytest.fixture
def reader(marts):
    """A connection as shuyun_reader, the role Superset uses."""
    with wh.connect("reader", autocommit=True) as conn:
        yield conn


def _free_port(start: int) -> int:
    for port in range(start, start + 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="session")
def superset_instance(marts, monkeypatch_session):
    """A running Superset for tests, published against the session's marts; stopped at the end."""
    from dashboards import publish, service

    monkeypatch_session.setenv("SHUYUN_SUPERSET_HOME", str(settings.home() / "superset-test"))
    monkeypatch_session.setenv("SHUYUN_SUPERSET_PORT", str(_free_port(18088)))
    owner = wh.address("owner", dbname="superset_test")
    monkeypatch_session.setenv("SHUYUN_SUPERSET_DB_URL", owner.url("postgresql"))
    inst = service.instance()
    service.stop(inst)  # a leftover from an interrupted session
    status = service.start(inst)
    result = publish.publish(inst, demo_county=DEMO_COUNTY)
    yield inst, status, result
    service.stop(inst)


@pytest.fixture(scope="session")
def superset_logins(superset_instance):
    from dashboards import publish, service

    return {
        "admin": service.admin_password(),
        publish.DEMO_ANALYST: publish.user_password(publish.DEMO_ANALYST),
        publish.demo_director(DEMO_COUNTY): publish.user_password(publish.demo_director(DEMO_COUNTY)),
    }


def pytest_collection_modifyitems(config, items):
    # browser tests need Debian's chromium; skip them with a reason instead of failing where it is absent
    if os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver"):
        return
    skip = pytest.mark.skip(reason="needs /usr/bin/chromium and /usr/bin/chromedriver (`shuyun test` installs them)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
