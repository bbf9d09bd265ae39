"""A small province with clean data and one injected fault per check, validated once per session.

Raw: county 532622 delivers one clean delivery per feed and one delivery per fault (clean rows plus the fault);
county 532623 delivers clean data only (it must flow while 532622 is blocked). Holdings faults come from county
532699 so they do not replace 532622's holdings snapshot.
Staging and marts: GX validates per county, so every fault lives in a county of its own (533xxx staging,
534xxx marts), each beside a clean county (533100, 534100) built by the same code.
GX context creation and import are slow: the three gates run once, in the session fixture `gates`.
"""

from __future__ import annotations

import datetime as dt

from quality.checks import load_thresholds

A, B, C = "532622", "532623", "532699"
NOW = dt.datetime.now(dt.UTC)
FILE_DAY = "20240305"


# ------------------------------------------------------------------------------------------ raw rows

def registry_rows():
    libs = [
        # code, level, seats, valid_from, valid_to
        (f"{A}000", "county", 100, "2000-01-01", None),
        (f"{A}003", "branch", 10, "2000-01-01", None),
        (f"{A}101", "service_point", 8, "2000-01-01", None),
        (f"{A}102", "service_point", 8, "2000-01-01", None),
        (f"{A}117", "service_point", 8, "2000-01-01", "2024-01-01"),  # closed before the test month
        (f"{A}951", "self_service", 0, "2000-01-01", None),  # a 24h self-service library has no seats
        (f"{B}000", "county", 100, "2000-01-01", None),
        (f"{B}101", "service_point", 8, "2000-01-01", None),
        (f"{B}102", "service_point", 8, "2000-01-01", None),
        (f"{C}000", "county", 100, "2000-01-01", None),
    ]
    ranges = [
        ("item", 2622000000000001, 2622999999999999, f"{A}000"),
        ("item", 2623000000000001, 2623999999999999, f"{B}000"),
        ("item", 2699000000000001, 2699999999999999, f"{C}000"),
    ]
    return libs, ranges


def circ(county=A, n=0, **over):
    row = dict(
        source_event_id=f"ev{n}", county_code=county, library_code=f"{county}000", event_type="loan",
        event_at="2024-03-05 10:00:00+08", item_barcode=f"{county[2:]}000000000001", reader_key="k1",
        reader_home_library=f"{county}000", due_date="2024-04-05", channel="desk",
    )
    row.update(over)
    return row


def clean_rows(feed: str, county: str = A) -> list[dict]:
    c4 = county[2:]
    if feed == "circulation":
        return [circ(county, 1), circ(county, 2, item_barcode=f"{c4}000000000002"),
                circ(county, 3, event_type="return", reader_key=None, reader_home_library=None, due_date=None)]
    if feed == "visits":
        rows = [dict(county_code=county, library_code=f"{county}000", gate_id=g, period_start=f"2024-03-05 {h}:00+08",
                     period_minutes=60, entries=30, exits=28) for g in ("g1", "g2") for h in (9, 10)]
        if county == A:  # the seatless self-service library is judged by the default cap, not by 0 seats
            rows.insert(0, dict(county_code=county, library_code=f"{county}951", gate_id="door",
                                period_start="2024-03-05 23:00+08", period_minutes=60, entries=3, exits=3))
        return rows
    if feed == "holdings":
        return [dict(county_code=county, item_barcode=f"{c4}000000000{i:03d}", owning_library=f"{county}000",
                     current_library=f"{county}003" if i == 4 else f"{county}000", clc_class="I247", is_children=False,
                     acquired_on="2020-01-01", withdrawn_on=None, status="available") for i in range(1, 5)]
    if feed == "monthly_report":
        return [dict(county_code=county, library_code=f"{county}{sub}", period_type="month", period_start="2024-03-01",
                     visits=300, registered_readers=40, active_readers=12, loans=90, holdings=1600, new_volumes=10,
                     processing_volume=10, activities=1, participants=25, opening_hours=140, trainings=0)
                for sub in ("101", "102")]
    if feed == "activities":
        return [dict(county_code=county, activity_id="a1", library_code=f"{county}000", activity_date="2024-03-04",
                     activity_type="lecture", title="t", participants=40, joint_with=None)]
    if feed == "rotations":
        return [dict(county_code=county, rotation_id="r1", from_library=f"{county}000", to_library=f"{county}003",
                     shipped_on="2024-03-02", volumes=300)]
    raise ValueError(feed)


FILES = {
    "circulation": f"circ_{FILE_DAY}.csv", "visits": f"gate_{FILE_DAY}.csv", "holdings": f"holdings_{FILE_DAY}.mrc",
    "monthly_report": "report_202403.xlsx", "activities": "activities_202403.csv", "rotations": "rotations_202403.csv",
}
TABLES = {
    "circulation": "raw.circulation_events", "visits": "raw.visitor_counts", "holdings": "raw.holdings_items",
    "monthly_report": "raw.monthly_reports", "activities": "raw.activities", "rotations": "raw.rotations",
}

# check -> (feed, county, how the clean rows are spoiled). `last`: overrides on the last row; `all`: on every row;
# `add`: extra rows.
FUTURE = (NOW + dt.timedelta(days=3)).isoformat()
RAW_FAULTS = {
    "event_type_known": ("circulation", A, "last", dict(event_type="borrow")),
    "channel_known": ("circulation", A, "last", dict(channel="kiosk")),
    "event_library_code_format": ("circulation", A, "last", dict(library_code="53262")),
    "item_barcode_in_registered_range": ("circulation", A, "last", dict(item_barcode="9999000000000001")),
    "reader_home_library_known": ("circulation", A, "last", dict(reader_key="k9", reader_home_library=None)),
    "event_not_after_file_day": ("circulation", A, "last", dict(event_at="2024-03-06 09:00:00+08")),
    "event_not_long_before_file_day": ("circulation", A, "last", dict(event_at="2024-02-01 10:00:00+08")),
    "event_not_in_future": ("circulation", A, "last", dict(event_at=FUTURE)),
    "event_library_open": ("circulation", A, "last", dict(library_code=f"{A}117")),
    # 532622003 holds one item (the snapshot's item 4) and lends two in a day
    "loans_within_holdings": ("circulation", A, "all", dict(library_code=f"{A}003")),
    "entries_non_negative": ("visits", A, "last", dict(entries=-3)),
    "exits_non_negative": ("visits", A, "last", dict(exits=-1)),
    "period_length_plausible": ("visits", A, "last", dict(period_minutes=0)),
    # 532622003 has 10 seats: 4 x 10 = 40 entries an hour at most
    "hourly_entries_below_capacity": ("visits", A, "last", dict(library_code=f"{A}003", entries=500)),
    "visit_period_not_after_file_day": ("visits", A, "last", dict(period_start="2024-03-06 09:00+08")),
    "visit_period_not_in_future": ("visits", A, "last", dict(period_start=FUTURE)),
    "visit_library_open": ("visits", A, "last", dict(library_code=f"{A}117")),
    "holding_barcode_in_registered_range": ("holdings", C, "last", dict(item_barcode="12345")),
    "holding_status_known": ("holdings", C, "last", dict(status="missing")),
    "holding_withdrawn_after_acquired": ("holdings", C, "last", dict(acquired_on="2024-01-10",
                                                                      withdrawn_on="2023-01-01")),
    "holding_acquired_not_in_future": ("holdings", C, "last", dict(acquired_on="2099-01-01")),
    "report_visits_filled": ("monthly_report", A, "all", dict(visits=None)),
    "report_loans_filled": ("monthly_report", A, "all", dict(loans=None)),
    "report_holdings_filled": ("monthly_report", A, "all", dict(holdings=None)),
    "report_opening_hours_filled": ("monthly_report", A, "all", dict(opening_hours=None)),
    "report_figures_non_negative": ("monthly_report", A, "last", dict(loans=-5)),
    "report_active_within_registered": ("monthly_report", A, "last", dict(active_readers=50, registered_readers=10)),
    "report_period_matches_file": ("monthly_report", A, "last", dict(period_start="2024-02-01")),
    "report_library_open": ("monthly_report", A, "last", dict(library_code=f"{A}117")),
    "activity_participants_non_negative": ("activities", A, "last", dict(participants=-1)),
    "activity_type_known": ("activities", A, "last", dict(activity_type="party")),
    "rotation_volumes_positive": ("rotations", A, "last", dict(volumes=0)),
    "rotation_between_two_libraries": ("rotations", A, "last", dict(to_library=f"{A}000")),
}


def _insert(cur, table: str, rows: list[dict], batch_id: str, source: str, file: str, loaded_at=None):
    for line, row in enumerate(rows, start=1):
        row = {**row, "_batch_id": batch_id, "_source": source, "_file": file, "_line": line,
               "_loaded_at": loaded_at or NOW}
        cols = ", ".join(row)
        cur.execute(f"insert into {table} ({cols}) values ({', '.join(['%s'] * len(row))})", list(row.values()))


def deliver(cur, batch_id: str, feed: str, county: str, rows: list[dict], loaded_at=None):
    source = f"c{county}"
    file = f"landing/{source}/{feed}/{FILES[feed]}"
    cur.execute(
        "insert into raw.ingest_batches (batch_id, source, feed, county_code, file_name, file_sha256, rows_read,"
        " rows_loaded, rows_quarantined, status, started_at, finished_at)"
        " values (%s, %s, %s, %s, %s, 'x', %s, %s, 0, 'loaded', now(), now())",
        (batch_id, source, feed, county, file, len(rows), len(rows)),
    )
    _insert(cur, TABLES[feed], rows, batch_id, source, FILES[feed], loaded_at)


def spoil(rows: list[dict], how: str, over: dict) -> list[dict]:
    rows = [dict(r) for r in rows]
    targets = rows if how == "all" else rows[-1:]
    for r in targets:
        r.update(over)
    return rows


def load_raw(cur) -> dict[str, str]:
    """Insert the registry, clean deliveries and one faulty delivery per check; return {label: batch_id}."""
    libs, ranges = registry_rows()
    _insert(cur, "raw.libraries", [
        dict(library_code=code, name_zh=code, level=level, division_code=code[:6], valid_from=vf, valid_to=vt,
             seats=seats) for code, level, seats, vf, vt in libs], "reg", "registry", "libraries.csv")
    _insert(cur, "raw.barcode_ranges", [
        dict(kind=k, first_barcode=f, last_barcode=last, library_code=lib) for k, f, last, lib in ranges],
        "reg", "registry", "barcode_ranges.csv")
    for batch_id, feed, status in (("reg", "libraries", "loaded"), ("rejected-gbk", "circulation", "rejected")):
        cur.execute(
            "insert into raw.ingest_batches (batch_id, source, feed, county_code, file_name, file_sha256, status,"
            " started_at) values (%s, 'registry', %s, %s, 'f.csv', 'x', %s, now())", (batch_id, feed, A, status))
    batches = {}
    for feed in FILES:
        for county in (A, B):
            batches[f"clean:{feed}:{county}"] = bid = f"clean-{feed}-{county}"
            # the clean holdings snapshot is the newest of its county
            deliver(cur, bid, feed, county, clean_rows(feed, county),
                    NOW + dt.timedelta(minutes=5) if feed == "holdings" else None)
    deliver(cur, "clean-holdings-c", "holdings", C, clean_rows("holdings", C))
    batches[f"clean:holdings:{C}"] = "clean-holdings-c"
    for check, (feed, county, how, over) in RAW_FAULTS.items():
        batches[f"fault:{check}"] = bid = f"fault-{check}"
        deliver(cur, bid, feed, county, spoil(clean_rows(feed, county), how, over))
    return batches


# ------------------------------------------------------------------------------------------ staging and marts

STG_CLEAN = "533100"
STG_FAULTS = {
    "stg_event_id_unique": "533101",
    "stg_events_reconcile_with_raw": "533102",
    "stg_no_blocked_batch": "533103",
    "stg_visits_grain_unique": "533104",
}
MART_CLEAN = "534100"
MART_FAULTS = {
    "dim_library_version_unique": "534101",
    "dim_library_one_current_version": "534102",
    "fct_event_id_unique": "534103",
    "fct_event_library_version_known": "534104",
    "fct_events_reconcile_with_raw": "534105",
    "daily_grain_unique": "534106",
    "daily_library_known": "534107",
    "daily_measures_non_negative": "534108",
    "daily_loans_volume_normal": "534109",
    "monthly_loans_match_transactions": "534110",
    "scorecard_value_or_reason": "534112",
    "scorecard_status_consistent": "534113",
}
# A county whose loans drop on a public holiday: not an outage.
MART_HOLIDAY_DROP = "534111"
LAST_DAY = dt.date(2024, 3, 31)
HOLIDAY = LAST_DAY - dt.timedelta(days=1)


def raw_events_of(cur, county: str):
    """Three raw rows, one an exact duplicate: two distinct events (not in the ledger, so the raw gate skips them)."""
    rows = [circ(county, 1), circ(county, 2), circ(county, 2)]
    _insert(cur, "raw.circulation_events", rows, f"t-{county}", f"c{county}", "circ_20240305.csv")


STG_EVENTS = load_thresholds().table("stg_circulation_events")
STG_VISITS = load_thresholds().table("stg_visitor_counts")
# Small versions of the tables dbt builds; dbt's own tables (if its tests ran first in this session database)
# are set aside meanwhile and put back afterwards.
TRANSFORMER_TABLES = [STG_EVENTS, STG_VISITS, "marts.dim_library", "marts.fct_circulation_events",
                      "marts.fct_library_daily", "marts.fct_monthly_reports", "marts.dim_date",
                      "marts.mart_county_scorecard"]


def set_aside(cur, back: bool = False):
    for table in TRANSFORMER_TABLES:
        schema, name = table.split(".")
        aside = f"{name}__before_quality_tests"
        if back:
            cur.execute(f"drop table if exists {table}")
            if cur.execute("select to_regclass(%s)", (f"{schema}.{aside}",)).fetchone()[0]:
                cur.execute(f"alter table {schema}.{aside} rename to {name}")
        elif cur.execute("select to_regclass(%s)", (table,)).fetchone()[0]:
            kind = cur.execute("select relkind from pg_class where oid = %s::regclass", (table,)).fetchone()[0]
            cur.execute(f"alter {'view' if kind == 'v' else 'table'} {table} rename to {aside}")


def create_transformer_tables(cur):
    set_aside(cur)
    cur.execute(f"""
        create table {STG_EVENTS} (event_id text, county_code text, library_code text,
            event_at timestamptz, _batch_id text);
        create table {STG_VISITS} (county_code text, library_code text, gate_id text,
            period_start timestamptz, entries int);
        create table marts.dim_library (library_version_key text, library_code text, county_code text,
            prefecture_code text, level text, valid_from date, valid_to date, is_current boolean);
        create table marts.fct_circulation_events (event_id text, event_date date, library_code text,
            library_version_key text, county_code text, prefecture_code text, _batch_id text);
        create table marts.fct_library_daily (library_code text, date_day date, county_code text,
            prefecture_code text, library_level text, loans int, returns int, renewals int, visits int,
            distinct_readers int);
        create table marts.fct_monthly_reports (county_code text, prefecture_code text, library_code text,
            month_start date, loans int, visits int);
        create table marts.dim_date (date_day date, is_public_holiday boolean, holiday_name_zh text);
        create table marts.mart_county_scorecard (area_code text, county_code text, period_type text,
            period_start date, indicator_id text, value numeric, not_computable_reason text, status text,
            percentile_in_province numeric);
    """)
    cur.execute(
        "insert into marts.dim_date select d::date, d::date = %(h)s, case when d::date = %(h)s then '测试假日' end"
        " from generate_series('2024-01-01'::date, '2024-12-31'::date, interval '1 day') d", {"h": HOLIDAY})


def _rows(cur, table, rows):
    for row in rows:
        cur.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})",
                    list(row.values()))


def load_staging(cur, county: str, fault: str | None):
    events = [dict(event_id=f"{county}-ev{i}", county_code=county, library_code=f"{county}000",
                   event_at="2024-03-05 10:00+08", _batch_id=f"t-{county}") for i in (1, 2)]
    visits = [dict(county_code=county, library_code=f"{county}000", gate_id="g1", period_start=f"2024-03-05 {h}:00+08",
                   entries=10) for h in (9, 10)]
    if fault == "stg_event_id_unique":
        events[1]["event_id"] = events[0]["event_id"]
    elif fault == "stg_events_reconcile_with_raw":
        events = events[:1]
    elif fault == "stg_no_blocked_batch":
        events[1]["_batch_id"] = f"blocked-{county}"
        cur.execute(
            "insert into quality.blocked_batches (batch_id, county_code, feed, reason, layer, run_id)"
            " values (%s, %s, 'circulation', 'test', 'raw', 'test')", (f"blocked-{county}", county))
    elif fault == "stg_visits_grain_unique":
        visits[1]["period_start"] = visits[0]["period_start"]
    _rows(cur, STG_EVENTS, events)
    _rows(cur, STG_VISITS, visits)


def load_marts(cur, county: str, fault: str | None):
    lib = f"{county}000"
    dim = [dict(library_version_key=f"{lib}@2000", library_code=lib, county_code=county, prefecture_code=county[:4],
                level="county", valid_from="2000-01-01", valid_to=None, is_current=True)]
    events = [dict(event_id=f"{county}-ev{i}", event_date="2024-03-05", library_code=lib,
                   library_version_key=f"{lib}@2000", county_code=county, prefecture_code=county[:4],
                   _batch_id=f"t-{county}") for i in (1, 2)]
    days = [LAST_DAY - dt.timedelta(days=i) for i in range(35)]
    daily = [dict(library_code=lib, date_day=d, county_code=county, prefecture_code=county[:4],
                  library_level="county", loans=100, returns=90, renewals=5, visits=400, distinct_readers=80)
             for d in days]
    monthly = [dict(county_code=county, prefecture_code=county[:4], library_code=lib, month_start="2024-03-01",
                    loans=3100, visits=12000)]
    scorecard = [
        dict(area_code=county, county_code=county, period_type="month", period_start="2024-03-01",
             indicator_id="loans", value=3100, not_computable_reason=None, status="no_target",
             percentile_in_province=50),
        dict(area_code=county, county_code=county, period_type="month", period_start="2024-03-01",
             indicator_id="service_point_village_coverage", value=None,
             not_computable_reason="no feed carries the number of villages", status="not_computable",
             percentile_in_province=None),
    ]
    if fault == "dim_library_version_unique":
        dim.append({**dim[0], "library_version_key": f"{lib}@2000b", "is_current": False})
    elif fault == "dim_library_one_current_version":
        dim.append({**dim[0], "library_version_key": f"{lib}@2020", "valid_from": "2020-01-01"})
    elif fault == "fct_event_id_unique":
        events[1]["event_id"] = events[0]["event_id"]
    elif fault == "fct_event_library_version_known":
        events[1]["library_version_key"] = "nowhere@1999"
    elif fault == "fct_events_reconcile_with_raw":
        events.append({**events[0], "event_id": f"{county}-ev3"})
    elif fault == "daily_grain_unique":
        daily.append(dict(daily[0]))
    elif fault == "daily_library_known":
        daily[0]["library_code"] = f"{county}999"
    elif fault == "daily_measures_non_negative":
        daily[0]["returns"] = -2
    elif fault == "daily_loans_volume_normal":
        daily[0]["loans"] = 10  # the last day, against four Sundays of 100
    elif fault == "monthly_loans_match_transactions":
        monthly[0]["loans"] = 9000
    elif fault == "scorecard_value_or_reason":
        scorecard[1]["not_computable_reason"] = None
    elif fault == "scorecard_status_consistent":
        scorecard[0]["status"] = "not_computable"  # but it has a value
    elif fault == "holiday_drop":
        daily[1]["loans"] = 10  # the day before the last day, a public holiday in dim_date
    _rows(cur, "marts.dim_library", dim)
    _rows(cur, "marts.fct_circulation_events", events)
    _rows(cur, "marts.fct_library_daily", daily)
    _rows(cur, "marts.fct_monthly_reports", monthly)
    _rows(cur, "marts.mart_county_scorecard", scorecard)


