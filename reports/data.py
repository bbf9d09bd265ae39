"""What the reports read from the marts (reader role: the same access the dashboards have)."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg.rows import dict_row

from reports.periods import Period
from shuyun import warehouse as wh


class ReportError(Exception):
    """A report cannot be made (no data for the period, unknown county…); the message says why."""


def connect() -> psycopg.Connection:
    return wh.connect("reader", row_factory=dict_row)


def latest_period(conn: psycopg.Connection, period_type: str) -> Period:
    """The latest period of this type the counties' data covers completely, else the latest with any data."""
    row = conn.execute(
        "select period_start, bool_or(is_complete_period) as complete from marts.mart_county_scorecard "
        "where area_level = 'county' and period_type = %s group by period_start "
        "order by bool_or(is_complete_period) desc, period_start desc limit 1", (period_type,)).fetchone()
    if row is None:
        raise ReportError(f"the scorecard mart has no {period_type} periods yet (run the chain first)")
    return Period(period_type, row["period_start"])


def counties(conn: psycopg.Connection, period: Period) -> list[dict]:
    return conn.execute(
        "select distinct area_code as county_code, area_name_zh as county_name_zh, prefecture_code, "
        "prefecture_name_zh from marts.mart_county_scorecard where area_level = 'county' and period_type = %s "
        "and period_start = %s order by prefecture_code, area_code", (period.period_type, period.start)).fetchall()


def province_name(conn: psycopg.Connection) -> str:
    row = conn.execute("select name_zh from marts.dim_library where level = 'province' and is_current "
                       "order by library_code limit 1").fetchone()
    return row["name_zh"].removesuffix("图书馆") if row else "全省"


def scorecard(conn: psycopg.Connection, county_code: str, period: Period) -> list[dict]:
    """The county's indicators for the period, with the dictionary's wording and its prefecture's and the
    province's values beside each."""
    rows = conn.execute(
        """
        select s.*, d.formula_zh, d.standard, d.targets_zh, d.direction,
               p.value as prefecture_value, v.value as province_value
        from marts.mart_county_scorecard as s
        join marts.dim_indicator as d on d.indicator_id = s.indicator_id
        left join marts.mart_county_scorecard as p
            on p.area_level = 'prefecture' and p.area_code = s.prefecture_code
            and p.period_type = s.period_type and p.period_start = s.period_start and p.indicator_id = s.indicator_id
        left join marts.mart_county_scorecard as v
            on v.area_level = 'province'
            and v.period_type = s.period_type and v.period_start = s.period_start and v.indicator_id = s.indicator_id
        where s.area_level = 'county' and s.area_code = %s and s.period_type = %s and s.period_start = %s
        order by case d.family when 'statistic' then 1 when 'performance' then 2 else 3 end, s.indicator_id
        """, (county_code, period.period_type, period.start)).fetchall()
    if not rows:
        raise ReportError(f"no scorecard for county {county_code} in {period.label} "
                          "(unknown county, or no data delivered for that period)")
    return rows


def branch_compliance(conn: psycopg.Connection, county_code: str, year: int) -> list[dict]:
    return conn.execute(
        "select * from marts.mart_branch_compliance where county_code = %s and year = %s "
        "order by library_level, library_code, indicator_id", (county_code, year)).fetchall()


# the statistics items of the quarterly report, in the template's column order
QUARTERLY_ITEMS = (
    ("visits", "到馆人次"), ("loans", "外借册次"), ("volumes_held", "期末馆藏（册）"),
    ("new_volumes", "新增藏量（册）"),
    ("reader_activities", "读者活动（次）"), ("outlets", "分馆和服务点（个）"), ("visits_per_capita", "人均到馆次数"),
    ("loans_per_capita", "人均外借册次"), ("collection_turnover", "藏书周转率"),
    ("cross_library_return_share", "异地归还比例（%）"),
)


def quarterly(conn: psycopg.Connection, quarter_start: date) -> list[dict]:
    """One row per area (county, prefecture, province) with the quarterly items as columns."""
    ids = [item for item, _ in QUARTERLY_ITEMS]
    rows = conn.execute(
        """
        select area_level, area_code, area_name_zh, prefecture_code, prefecture_name_zh, days_covered,
               period_days, counties, indicator_id, value, value_source
        from marts.mart_county_scorecard
        where period_type = 'quarter' and period_start = %s and indicator_id = any(%s)
        """, (quarter_start, ids)).fetchall()
    areas: dict[tuple[str, str], dict] = {}
    for r in rows:
        area = areas.setdefault((r["area_level"], r["area_code"]), {
            k: r[k] for k in ("area_level", "area_code", "area_name_zh", "prefecture_code", "prefecture_name_zh",
                              "days_covered", "period_days", "counties")} | {"sources": set()})
        area[r["indicator_id"]] = r["value"]
        if r["value_source"]:
            area["sources"].update(r["value_source"].split("+"))
    return list(areas.values())
