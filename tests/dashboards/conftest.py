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
from dataclasses import dataclass

import psycopg
import pytest

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


@pytest.fixture(scope="session")
def marts(warehouse_env) -> wh.Address:
    """The contract's marts with the known dataset above, owned by shuyun_transformer, readable by the reader."""
    with wh.connect("transformer", autocommit=True) as conn:
        load_marts(conn)
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
