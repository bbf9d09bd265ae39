"""The gates as code: every check of every layer, with its severity and its rule in plain words.

A check is one Great Expectations expectation plus what the gate needs around it:

  name       stable machine name (results and blocked batches refer to it)
  layer      raw | staging | marts
  table      the table it reads, `schema.table` (one GX table asset and one suite per table)
  severity   `warn`: recorded, the data flows; `block`: the county's batch is held back
  rule       the rule in plain words, used in every message a data steward reads

Raw tables are validated per delivery (GX batch = one `_batch_id`), staging and marts per county (GX batch =
one `county_code`), so a failure is always attributed to one county and never holds back another.

Split of labour with dbt: dbt tests keys and relationships of every model; these checks own what dbt is
poor at: value ranges and plausibility, volumes, cross-table rules (barcode ranges, library open on the date,
capacity from the registry) and reconciliation across layers. Cross-table rules use GX's
`UnexpectedRowsExpectation`: the query returns the offending rows, `{batch}` is the batch being validated.
Queries select the columns a message needs first (`library_code`, `_file`, `_line` where the table has them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yml")
LAYERS = ("raw", "staging", "marts")
SEVERITIES = ("warn", "block")

# raw table -> the feed name in raw.ingest_batches.feed
RAW_FEEDS = {
    "raw.circulation_events": "circulation",
    "raw.visitor_counts": "visits",
    "raw.holdings_items": "holdings",
    "raw.monthly_reports": "monthly_report",
    "raw.activities": "activities",
    "raw.rotations": "rotations",
}
FEED_TABLES = {feed: table for table, feed in RAW_FEEDS.items()}

META_COLUMNS = ["_batch_id", "_source", "_file", "_line", "_loaded_at"]

# The local day of a timestamp: county systems deliver Asia/Shanghai local time.
LOCAL_DAY = "(({col}) at time zone 'Asia/Shanghai')::date"
# The day (circ_YYYYMMDD.csv) or month (report_YYYYMM.xlsx) a delivery covers, from its ledger row.
BATCH_DAY = (
    "(select to_date(substring(i.file_name from '([0-9]{{8}})[.][A-Za-z0-9]+$'), 'YYYYMMDD')"
    " from raw.ingest_batches i where i.batch_id = b._batch_id)"
)
BATCH_MONTH = (
    "(select to_date(substring(i.file_name from '([0-9]{{6}})[.][A-Za-z0-9]+$'), 'YYYYMM')"
    " from raw.ingest_batches i where i.batch_id = b._batch_id)"
)
# A registry version of the library valid on date {day} (valid_to exclusive, null = still valid).
OPEN_ON = (
    "exists (select 1 from raw.libraries l where l.library_code = b.library_code"
    " and l.valid_from <= {day} and (l.valid_to is null or {day} < l.valid_to))"
)
NOT_BLOCKED = "not exists (select 1 from quality.blocked_batches q where q.batch_id = e._batch_id)"
NOT_SUPERSEDED = (
    "not exists (select 1 from raw.ingest_batches i where i.batch_id = e._batch_id and i.status = 'superseded')"
)


class ThresholdsError(ValueError):
    """thresholds.yml is not what the checks expect (named key, plain words)."""


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, Any]

    def __call__(self, section: str, key: str) -> Any:
        try:
            return self.values[section][key]
        except KeyError:
            raise ThresholdsError(f"{THRESHOLDS_FILE.name}: missing `{section}.{key}`") from None

    def number(self, section: str, key: str) -> float:
        value = self(section, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ThresholdsError(
                f"{THRESHOLDS_FILE.name}: `{section}.{key}` must be a non-negative number, got {value!r}"
            )
        return value

    def table(self, key: str) -> str:
        name = self("tables", key)
        parts = str(name).split(".")
        if len(parts) != 2 or not all(p.replace("_", "").isalnum() for p in parts):
            raise ThresholdsError(f"{THRESHOLDS_FILE.name}: `tables.{key}` must look like schema.table, got {name!r}")
        return name


def load_thresholds(path: Path | None = None) -> Thresholds:
    path = path or THRESHOLDS_FILE
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ThresholdsError(f"{path}: cannot read the gate thresholds: {err}") from err
    thresholds = Thresholds(values)
    caps = thresholds("visits", "library_caps") or {}
    if not isinstance(caps, dict) or not all(
        str(k).isdigit() and isinstance(v, int | float) and v >= 0 for k, v in caps.items()
    ):
        raise ThresholdsError(f"{path.name}: `visits.library_caps` must map library codes to non-negative numbers")
    return thresholds


@dataclass(frozen=True)
class Check:
    name: str
    layer: str
    table: str
    severity: str
    rule: str
    make: Callable[[], Any] = field(repr=False, compare=False)

    def __post_init__(self):
        assert self.layer in LAYERS and self.severity in SEVERITIES, self

    @property
    def suite(self) -> str:
        return f"{self.layer}__{self.table.split('.', 1)[1]}"

    @property
    def feed(self) -> str:
        if self.layer == "raw":
            return RAW_FEEDS[self.table]
        return self.table.split(".", 1)[1]

    def expectation(self):
        exp = self.make()
        exp.meta = {"check": self.name, "severity": self.severity, "layer": self.layer}
        exp.description = f"[{self.severity}] {self.rule}"
        return exp


def caps_relation(caps: dict) -> str:
    """Configured hourly caps as an SQL relation c(library_code, cap); codes are digits (checked on load)."""
    if not caps:
        return "(select null::text as library_code, null::float as cap where false) as c"
    values = ", ".join(f"('{int(code)}', {float(cap)})" for code, cap in caps.items())
    return f"(values {values}) as c(library_code, cap)"


def _rows(query: str):
    """Offending rows by SQL. GX substitutes `{batch}` by `(select ... where <partition>) as subselect`, which takes
    no alias of ours: `from {batch} b` is written here and wrapped once as `from (select * from {batch}) b`."""
    import great_expectations as gx

    query = query.replace("from {batch} b", "from (select * from {batch}) b")
    return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query)


def _gx():
    import great_expectations as gx

    return gx.expectations


def build_checks(t: Thresholds | None = None) -> list[Check]:
    """Every check of every layer, in the order they are validated and reported."""
    t = t or load_thresholds()
    checks: list[Check] = []

    def add(name, table, severity, rule, make, layer="raw"):
        checks.append(Check(name, layer, table, severity, rule, make))

    ev_day = LOCAL_DAY.format(col="b.event_at")
    # ------------------------------------------------------------------ raw.circulation_events
    circ = "raw.circulation_events"
    add("circulation_columns", circ, "block", "the delivery has every column of the circulation feed",
        lambda: _gx().ExpectTableColumnsToMatchSet(
            column_set=["source_event_id", "county_code", "library_code", "event_type", "event_at", "item_barcode",
                        "reader_key", "reader_home_library", "due_date", "channel", *META_COLUMNS],
            exact_match=False))
    add("event_type_known", circ, "block", "event type is loan, return or renew",
        lambda: _gx().ExpectColumnValuesToBeInSet(column="event_type", value_set=["loan", "return", "renew"]))
    add("channel_known", circ, "warn", "channel is desk, self_check or van",
        lambda: _gx().ExpectColumnValuesToBeInSet(column="channel", value_set=["desk", "self_check", "van"]))
    add("event_library_code_format", circ, "block", "library code has 9 digits (county code + sub code)",
        lambda: _gx().ExpectColumnValuesToMatchRegex(column="library_code", regex="^[0-9]{9}$"))
    add("item_barcode_in_registered_range", circ, "block",
        "the item barcode lies inside a registered item barcode range",
        lambda: _rows(
            "select b.library_code, b._file, b._line, b.item_barcode from {batch} b"
            " cross join lateral (select case when b.item_barcode ~ '^[0-9]+$' and length(b.item_barcode) <= 18"
            " then b.item_barcode::bigint end as n) x"
            " where x.n is null or not exists (select 1 from raw.barcode_ranges r"
            " where r.kind = 'item' and x.n between r.first_barcode and r.last_barcode)"))
    add("reader_home_library_known", circ, "warn",
        "an event with a reader has the reader's home library (from the reader barcode ranges)",
        lambda: _rows(
            "select b.library_code, b._file, b._line from {batch} b"
            " where b.reader_key is not null and b.reader_home_library is null"))
    add("event_not_after_file_day", circ, "block", "the event happened on or before the day its file covers",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, b.event_at from {{batch}} b"
            f" where {ev_day} > {BATCH_DAY}"))
    max_back = int(t.number("circulation", "max_backdated_days"))
    add("event_not_long_before_file_day", circ, "warn",
        f"the event happened at most {max_back} days before the day its file covers",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, b.event_at from {{batch}} b"
            f" where {ev_day} < {BATCH_DAY} - {max_back}"))
    add("event_not_in_future", circ, "block", "the event time is not in the future",
        lambda: _rows(
            "select b.library_code, b._file, b._line, b.event_at from {batch} b where b.event_at > now()"))
    add("event_library_open", circ, "warn",
        "the library was open (a valid registry version) on the day of the event",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, {ev_day} as event_day from {{batch}} b"
            f" where not {OPEN_ON.format(day=ev_day)}"))
    ratio = t.number("circulation", "loans_to_holdings_ratio")
    add("loans_within_holdings", circ, "warn",
        "a library lends no more items in a day than it holds (latest holdings snapshot of the county)",
        lambda: _rows(
            "with b as (select * from {batch}),"
            " snap as (select h._batch_id from raw.holdings_items h"
            "  where h.county_code = (select county_code from b limit 1) order by h._loaded_at desc limit 1),"
            " held as (select coalesce(h.current_library, h.owning_library) as library_code, count(*) as items"
            "  from raw.holdings_items h where h._batch_id = (select _batch_id from snap)"
            "  and h.withdrawn_on is null and coalesce(h.status, '') not in ('withdrawn', 'lost') group by 1),"
            f" lent as (select b.library_code, min(b._file) as _file, {ev_day} as event_day,"
            "  count(*) as loans from b where b.event_type = 'loan' group by b.library_code, 3)"
            " select lent.library_code, lent._file, lent.event_day, lent.loans, coalesce(held.items, 0) as items"
            " from lent left join held using (library_code)"
            f" where exists (select 1 from snap) and lent.loans > coalesce(held.items, 0) * {ratio}"))

    # ------------------------------------------------------------------ raw.visitor_counts
    vis = "raw.visitor_counts"
    period_day = LOCAL_DAY.format(col="b.period_start")
    add("visits_columns", vis, "block", "the delivery has every column of the visits feed",
        lambda: _gx().ExpectTableColumnsToMatchSet(
            column_set=["county_code", "library_code", "gate_id", "period_start", "period_minutes", "entries",
                        "exits", *META_COLUMNS],
            exact_match=False))
    add("entries_non_negative", vis, "block", "gate entries are not negative",
        lambda: _gx().ExpectColumnValuesToBeBetween(column="entries", min_value=0))
    add("exits_non_negative", vis, "block", "gate exits are not negative",
        lambda: _gx().ExpectColumnValuesToBeBetween(column="exits", min_value=0))
    add("period_length_plausible", vis, "warn", "a counting period lasts between 1 minute and 1 day",
        lambda: _gx().ExpectColumnValuesToBeBetween(column="period_minutes", min_value=1, max_value=1440))
    per_seat = t.number("visits", "entries_per_seat_per_hour")
    default_cap = t.number("visits", "default_hourly_cap")
    caps = t("visits", "library_caps") or {}
    caps_sql = caps_relation(caps)
    add("hourly_entries_below_capacity", vis, "warn",
        f"hourly entries of a library stay below its capacity (seats x {per_seat:g}, or the configured cap;"
        f" {default_cap:g} when the registry has no seats, e.g. a 24h self-service library)",
        lambda: _rows(
            "with b as (select * from {batch}),"
            " hourly as (select b.library_code, min(b._file) as _file, min(b._line) as _line, b.period_start,"
            "  sum(b.entries * 60.0 / greatest(b.period_minutes, 1)) as entries_per_hour from b"
            "  group by b.library_code, b.period_start),"
            " judged as (select h.*, coalesce(c.cap,"
            f"  (select nullif(l.seats, 0) * {per_seat} from raw.libraries l where l.library_code = h.library_code"
            f"   and l.valid_from <= {LOCAL_DAY.format(col='h.period_start')}"
            f"   and (l.valid_to is null or {LOCAL_DAY.format(col='h.period_start')} < l.valid_to)"
            f"   order by l.valid_from desc limit 1), {default_cap}) as capacity"
            f"  from hourly h left join {caps_sql} on c.library_code = h.library_code)"
            " select library_code, _file, _line, period_start, round(entries_per_hour) as entries_per_hour,"
            " capacity from judged where entries_per_hour > capacity"))
    add("visit_period_not_after_file_day", vis, "block",
        "the counting period lies on or before the day its file covers",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, b.period_start from {{batch}} b"
            f" where {period_day} > {BATCH_DAY}"))
    add("visit_period_not_in_future", vis, "block", "the counting period does not start in the future",
        lambda: _rows(
            "select b.library_code, b._file, b._line, b.period_start from {batch} b where b.period_start > now()"))
    add("visit_library_open", vis, "warn", "the library was open (a valid registry version) on the counting day",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, {period_day} as visit_day from {{batch}} b"
            f" where not {OPEN_ON.format(day=period_day)}"))

    # ------------------------------------------------------------------ raw.holdings_items
    hold = "raw.holdings_items"
    add("holdings_columns", hold, "block", "the delivery has every column of the holdings feed",
        lambda: _gx().ExpectTableColumnsToMatchSet(
            column_set=["county_code", "item_barcode", "owning_library", "current_library", "clc_class",
                        "is_children", "acquired_on", "withdrawn_on", "status", *META_COLUMNS],
            exact_match=False))
    add("holding_barcode_in_registered_range", hold, "block",
        "the item barcode lies inside a registered item barcode range",
        lambda: _rows(
            "select b.owning_library as library_code, b._file, b._line, b.item_barcode from {batch} b"
            " cross join lateral (select case when b.item_barcode ~ '^[0-9]+$' and length(b.item_barcode) <= 18"
            " then b.item_barcode::bigint end as n) x"
            " where x.n is null or not exists (select 1 from raw.barcode_ranges r"
            " where r.kind = 'item' and x.n between r.first_barcode and r.last_barcode)"))
    add("holding_status_known", hold, "warn", "item status is available, on_loan, lost, withdrawn or in_transit",
        lambda: _gx().ExpectColumnValuesToBeInSet(
            column="status", value_set=["available", "on_loan", "lost", "withdrawn", "in_transit"]))
    add("holding_withdrawn_after_acquired", hold, "warn", "an item is withdrawn on or after the day it was acquired",
        lambda: _gx().ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="withdrawn_on", column_B="acquired_on", or_equal=True, ignore_row_if="either_value_is_missing"))
    add("holding_acquired_not_in_future", hold, "warn", "an item's acquisition date is not in the future",
        lambda: _rows(
            "select b.owning_library as library_code, b._file, b._line, b.acquired_on from {batch} b"
            " where b.acquired_on > current_date"))

    # ------------------------------------------------------------------ raw.monthly_reports
    rep = "raw.monthly_reports"
    measures = ["visits", "registered_readers", "active_readers", "loans", "holdings", "new_volumes",
                "processing_volume", "activities", "participants", "opening_hours", "trainings"]
    add("report_columns", rep, "block", "the form has every column of the monthly statistics form",
        lambda: _gx().ExpectTableColumnsToMatchSet(
            column_set=["county_code", "library_code", "period_type", "period_start", *measures, *META_COLUMNS],
            exact_match=False))
    ratio_nn = t.number("monthly_report", "min_non_null_ratio")
    for column in t("monthly_report", "required_columns"):
        if column not in measures:
            raise ThresholdsError(f"{THRESHOLDS_FILE.name}: required column {column!r} is not a column of the form")
        add(f"report_{column}_filled", rep, "warn",
            f"at least {ratio_nn:.0%} of the service points fill in {column}",
            lambda column=column: _gx().ExpectColumnValuesToNotBeNull(column=column, mostly=ratio_nn))
    add("report_figures_non_negative", rep, "block", "no figure of the form is negative",
        lambda: _rows(
            "select b.library_code, b._file, b._line from {batch} b where "
            + " or ".join(f"b.{m} < 0" for m in measures)))
    add("report_active_within_registered", rep, "warn", "active readers do not exceed registered readers",
        lambda: _gx().ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="registered_readers", column_B="active_readers", or_equal=True,
            ignore_row_if="either_value_is_missing"))
    add("report_period_matches_file", rep, "block", "the reported month is the month the form's file covers",
        lambda: _rows(
            f"select b.library_code, b._file, b._line, b.period_start from {{batch}} b"
            f" where b.period_type = 'month' and {BATCH_MONTH} is not null"
            f" and date_trunc('month', b.period_start)::date <> {BATCH_MONTH}"))
    add("report_library_open", rep, "warn", "the service point was open during the reported month",
        lambda: _rows(
            "select b.library_code, b._file, b._line, b.period_start from {batch} b"
            " where not exists (select 1 from raw.libraries l where l.library_code = b.library_code"
            " and l.valid_from < (b.period_start + interval '1 month')::date"
            " and (l.valid_to is null or b.period_start < l.valid_to))"))

    # ------------------------------------------------------------------ raw.activities, raw.rotations
    add("activity_participants_non_negative", "raw.activities", "block", "activity participants are not negative",
        lambda: _gx().ExpectColumnValuesToBeBetween(column="participants", min_value=0))
    add("activity_type_known", "raw.activities", "warn",
        "activity type is lecture, exhibition, reading_promotion, training or other",
        lambda: _gx().ExpectColumnValuesToBeInSet(
            column="activity_type", value_set=["lecture", "exhibition", "reading_promotion", "training", "other"]))
    add("rotation_volumes_positive", "raw.rotations", "block", "a rotation ships at least one volume",
        lambda: _gx().ExpectColumnValuesToBeBetween(column="volumes", min_value=1))
    add("rotation_between_two_libraries", "raw.rotations", "warn", "a rotation goes from one library to another",
        lambda: _rows(
            "select b.from_library as library_code, b._file, b._line from {batch} b"
            " where b.from_library = b.to_library"))

    # ------------------------------------------------------------------ staging (per county)
    stg_circ = t.table("stg_circulation_events")
    stg_vis = t.table("stg_visitor_counts")
    add("stg_event_id_unique", stg_circ, "block", "each staged circulation event appears once (event_id)",
        lambda: _gx().ExpectColumnValuesToBeUnique(column="event_id"), layer="staging")
    add("stg_events_reconcile_with_raw", stg_circ, "block",
        "staged events = distinct raw events of the county's unblocked deliveries (duplicates removed)",
        lambda: _rows(
            "with b as (select * from {batch}), c as (select county_code from b limit 1),"
            " r as (select count(distinct (e._source, e.source_event_id)) as raw_events,"
            "  count(*) as raw_rows from raw.circulation_events e"
            f"  where e.county_code = (select county_code from c) and {NOT_BLOCKED} and {NOT_SUPERSEDED}),"
            " s as (select count(*) as staged from b)"
            " select c.county_code, r.raw_rows, r.raw_rows - r.raw_events as duplicates, s.staged"
            " from c, r, s where r.raw_events <> s.staged"), layer="staging")
    add("stg_no_blocked_batch", stg_circ, "block", "no staged event comes from a delivery the raw gate blocked",
        lambda: _rows(
            "select b._batch_id, count(*) as events from {batch} b"
            " where exists (select 1 from quality.blocked_batches q where q.batch_id = b._batch_id)"
            " group by b._batch_id"), layer="staging")
    add("stg_visits_grain_unique", stg_vis, "block", "one staged gate count per library, gate and period",
        lambda: _gx().ExpectCompoundColumnsToBeUnique(column_list=["library_code", "gate_id", "period_start"]),
        layer="staging")

    # ------------------------------------------------------------------ marts (per county)
    add("dim_library_version_unique", "marts.dim_library", "block",
        "one dim_library row per library and valid_from",
        lambda: _gx().ExpectCompoundColumnsToBeUnique(column_list=["library_code", "valid_from"]), layer="marts")
    add("dim_library_one_current_version", "marts.dim_library", "block",
        "each library has at most one current version",
        lambda: _rows(
            "select b.library_code, count(*) as current_versions from {batch} b where b.is_current"
            " group by b.library_code having count(*) > 1"), layer="marts")
    add("fct_event_id_unique", "marts.fct_circulation_events", "block", "each circulation event appears once",
        lambda: _gx().ExpectColumnValuesToBeUnique(column="event_id"), layer="marts")
    add("fct_event_library_version_known", "marts.fct_circulation_events", "block",
        "every event points at a dim_library version",
        lambda: _rows(
            "select b.library_code, b.event_date, b.library_version_key from {batch} b"
            " where not exists (select 1 from marts.dim_library d"
            " where d.library_version_key = b.library_version_key)"), layer="marts")
    add("fct_events_reconcile_with_raw", "marts.fct_circulation_events", "block",
        "raw events of the county's unblocked deliveries = fact events + duplicates",
        lambda: _rows(
            "with b as (select * from {batch}), c as (select county_code from b limit 1),"
            " r as (select count(*) as raw_rows, count(distinct (e._source, e.source_event_id)) as raw_events"
            "  from raw.circulation_events e"
            f"  where e.county_code = (select county_code from c) and {NOT_BLOCKED} and {NOT_SUPERSEDED}),"
            " f as (select count(*) as fact_events from b)"
            " select c.county_code, r.raw_rows, r.raw_rows - r.raw_events as duplicates, f.fact_events"
            " from c, r, f where r.raw_events <> f.fact_events"), layer="marts")
    add("daily_columns", "marts.fct_library_daily", "block", "fct_library_daily has every column of its contract",
        lambda: _gx().ExpectTableColumnsToMatchSet(
            column_set=["library_code", "date_day", "county_code", "prefecture_code", "library_level", "loans",
                        "returns", "renewals", "visits", "distinct_readers"], exact_match=False), layer="marts")
    add("daily_grain_unique", "marts.fct_library_daily", "block", "one row per library and day",
        lambda: _gx().ExpectCompoundColumnsToBeUnique(column_list=["library_code", "date_day"]), layer="marts")
    add("daily_library_known", "marts.fct_library_daily", "block", "every library of the daily fact is in dim_library",
        lambda: _rows(
            "select b.library_code, b.date_day from {batch} b"
            " where not exists (select 1 from marts.dim_library d where d.library_code = b.library_code)"),
        layer="marts")
    add("daily_measures_non_negative", "marts.fct_library_daily", "block",
        "loans, returns, renewals, visits and readers of a day are not negative",
        lambda: _rows(
            "select b.library_code, b.date_day from {batch} b where b.loans < 0 or b.returns < 0"
            " or b.renewals < 0 or b.visits < 0 or b.distinct_readers < 0"), layer="marts")
    share = t.number("volume", "min_share_of_trailing_mean")
    min_mean = t.number("volume", "min_trailing_mean_loans")
    recent = int(t.number("volume", "recent_days"))
    add("daily_loans_volume_normal", "marts.fct_library_daily", "warn",
        f"a county's daily loans are at least {share:.0%} of the same weekday's mean over the four weeks before"
        f" (judged for the last {recent} days, public holidays of dim_date excepted; counties below {min_mean:g}"
        " loans a day are not judged)",
        lambda: _rows(
            "with b as (select * from {batch}),"
            " daily as (select b.date_day, sum(b.loans) as loans from b group by b.date_day),"
            " last_day as (select max(date_day) as d from marts.fct_library_daily),"
            f" days as (select (l.d - g)::date as date_day from last_day l, generate_series(0, {recent - 1}) g),"
            " judged as (select days.date_day, coalesce(cur.loans, 0) as loans,"
            "  (select coalesce(sum(p.loans), 0) / 4.0 from daily p where p.date_day in"
            "   (days.date_day - 7, days.date_day - 14, days.date_day - 21, days.date_day - 28)) as trailing_mean"
            "  from days left join daily cur on cur.date_day = days.date_day)"
            " select (select county_code from b limit 1) as county_code, date_day, loans,"
            " round(trailing_mean, 1) as trailing_mean from judged"
            f" where trailing_mean >= {min_mean} and loans < trailing_mean * {share}"
            " and not exists (select 1 from marts.dim_date dd where dd.date_day = judged.date_day"
            " and dd.is_public_holiday)"), layer="marts")
    rel = t.number("reconciliation", "monthly_loans_relative_tolerance")
    abs_ = t.number("reconciliation", "monthly_loans_absolute_tolerance")
    add("monthly_loans_match_transactions", "marts.fct_monthly_reports", "warn",
        f"loans on the monthly form are within {rel:.0%} (and {abs_:g} loans) of the loans in the transaction logs"
        " of the same library and month",
        lambda: _rows(
            "with b as (select * from {batch}),"
            " logged as (select d.library_code, date_trunc('month', d.date_day)::date as month_start,"
            "  sum(d.loans) as loans from marts.fct_library_daily d"
            "  where d.county_code = (select county_code from b limit 1) group by 1, 2)"
            " select b.library_code, b.month_start, b.loans as reported_loans, g.loans as logged_loans from b"
            " join logged g on g.library_code = b.library_code and g.month_start = b.month_start"
            " where b.loans is not null"
            f" and abs(b.loans - g.loans) > greatest({abs_}, {rel} * greatest(b.loans, g.loans))"),
        layer="marts")

    # ------------------------------------------------------------------ indicator marts (issue 8)
    add("scorecard_value_or_reason", "marts.mart_county_scorecard", "block",
        "every scorecard indicator has a value or says why it cannot be computed (never a silent blank)",
        lambda: _rows(
            "select b.area_code, b.period_type, b.period_start, b.indicator_id from {batch} b"
            " where b.value is null and coalesce(b.not_computable_reason, '') = ''"), layer="marts")
    add("scorecard_status_consistent", "marts.mart_county_scorecard", "block",
        "status is one of pass/fail/on_track/behind/no_target/not_computable, not_computable exactly when there is"
        " no value, and percentiles lie in 0–100",
        lambda: _rows(
            "select b.area_code, b.period_type, b.period_start, b.indicator_id, b.status from {batch} b"
            " where b.status is null"
            " or b.status not in ('pass', 'fail', 'on_track', 'behind', 'no_target', 'not_computable')"
            " or (b.status = 'not_computable') <> (b.value is null)"
            " or b.percentile_in_province not between 0 and 100"), layer="marts")

    names = [c.name for c in checks]
    assert len(names) == len(set(names)), "check names must be unique"
    return checks


def checks_for(layer: str, t: Thresholds | None = None) -> list[Check]:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}: expected one of {', '.join(LAYERS)}")
    return [c for c in build_checks(t) if c.layer == layer]
