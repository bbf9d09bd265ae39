"""Feed rules: string rows (from readers) → rows of the raw tables, or quarantine with a rule.

Every feed is a function `(frame of strings with `_line`, Context) -> Split`. A row breaks at most
one rule: the first in the feed's list. Rules are polars expressions, so a batch of 200k rows is
checked in a few vectorised passes.

Quarantine rule names (machine names, stable — dbt and GX read them):
  malformed_row, wrong_encoding, missing_column, missing_value, bad_timestamp, bad_number,
  negative_count, unknown_event_code, unknown_code, unknown_library, reader_barcode_out_of_range,
  item_barcode_out_of_range, event_outside_delivery_interval, bad_range, totals_mismatch
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from ingestion import periods
from ingestion.periods import Period
from ingestion.pseudonym import Pseudonymiser, home_library
from ingestion.sources import Dialect, file_date

RULES = (
    "malformed_row", "wrong_encoding", "missing_column", "missing_value", "bad_timestamp", "bad_number",
    "negative_count", "unknown_event_code", "unknown_code", "unknown_library", "reader_barcode_out_of_range",
    "item_barcode_out_of_range", "event_outside_delivery_interval", "bad_range", "totals_mismatch",
)
LOCAL_OFFSET = "+08:00"  # Asia/Shanghai has no daylight saving time
NOT_APPLICABLE = ("", "不适用", "-", "—", "/", "无")

# delivered CSV headers of the single-format feeds (docs/feeds.md)
HEADERS = {
    "visits": ("device_id", "library_code", "hour_start", "in_count", "out_count"),
    "activities": ("activity_id", "library_code", "activity_date", "activity_type", "title", "participants",
                   "joint_with"),
    "rotations": ("rotation_id", "from_library", "to_library", "shipped_on", "volumes"),
    "libraries": ("library_code", "name_zh", "name_en", "level", "parent_code", "division_code",
                  "population_served", "valid_from", "valid_to", "floor_area_m2", "seats", "children_seats",
                  "networked_pcs", "weekly_open_hours", "staff", "periodicals", "source_system"),
    "barcode_ranges": ("kind", "first_barcode", "last_barcode", "library_code"),
}
ACTIVITY_TYPES = {"讲座": "lecture", "展览": "exhibition", "阅读推广": "reading_promotion", "培训": "training",
                  "其他": "other", "lecture": "lecture", "exhibition": "exhibition",
                  "reading_promotion": "reading_promotion", "training": "training", "other": "other"}
LEVELS = ("province", "prefecture", "county", "branch", "service_point", "mobile", "self_service", "other_system")
ITEM_STATUSES = ("available", "on_loan", "lost", "withdrawn", "in_transit")
FORM_NUMBERS = {  # canonical column -> integer?  (opening hours may have a decimal)
    "visits": True, "registered_readers": True, "active_readers": True, "loans": True, "activities": True,
    "participants": True, "holdings": True, "new_volumes": True, "processing_volume": True,
    "opening_hours": False, "trainings": True,
}


@dataclass
class Context:
    source: str
    county_code: str | None
    feed: str
    file_name: str
    period_start: date | None       # the day (or month) the delivery is for, from the file name
    period_end: date | None         # exclusive end of that period
    now: datetime                   # naive Asia/Shanghai local time
    libraries: frozenset[str]
    reader_ranges: pl.DataFrame
    item_ranges: pl.DataFrame
    pseudo: Pseudonymiser
    dialect: Dialect | None = None
    marc_profile: dict | None = None
    marc_items: dict | None = None  # the source's item field map (tag, subfields, date_format, status_map)
    truncated_line: int | None = None
    period_type: str | None = None  # statistics forms: month | quarter | year (ingestion/periods.py)


@dataclass
class Split:
    good: pl.DataFrame  # raw table columns + _line
    bad: pl.DataFrame   # _line, rule, reason, record (JSON text)


BAD_SCHEMA = {"_line": pl.Int64, "rule": pl.String, "reason": pl.String, "record": pl.String}


# ------------------------------------------------------------------------------------------- helpers

def format_regex(fmt: str) -> str:
    """Strict shape of a strftime format (chrono alone accepts e.g. one-digit seconds)."""
    parts = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}",
             "%:z": r"(?:[+-]\d{2}:\d{2}|Z)", "%z": r"[+-]\d{4}"}
    out, i = "", 0
    while i < len(fmt):
        for token, rx in parts.items():
            if fmt.startswith(token, i):
                out += rx
                i += len(token)
                break
        else:
            out += re.escape(fmt[i])
            i += 1
    return "^" + out + "$"


def blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col) == "")


def parse_datetime(col: str, fmt: str, has_offset: bool = False) -> pl.Expr:
    """Naive Asia/Shanghai local datetime, null when the text does not have the format's shape."""
    text = pl.col(col)
    if has_offset:
        parsed = (text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
                  .dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None))
    else:
        parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    return pl.when(text.str.contains(format_regex(fmt))).then(parsed).otherwise(None)


def parse_date(col: str, fmt: str) -> pl.Expr:
    text = pl.col(col)
    return pl.when(text.str.contains(format_regex(fmt))).then(
        text.str.strptime(pl.Date, fmt, strict=False)).otherwise(None)


def number_text(col: str) -> pl.Expr:
    """The cell as text, null when blank or 不适用 (never 0)."""
    text = pl.col(col).str.strip_chars()
    return pl.when(text.is_in(list(NOT_APPLICABLE)) | text.is_null()).then(None).otherwise(text).alias(col)


def number(col: str) -> pl.Expr:
    return number_text(col).str.replace_all(",", "").cast(pl.Float64, strict=False)


def bad_number(col: str, integer: bool = True) -> pl.Expr:
    value = number(col)
    bad = number_text(col).is_not_null() & value.is_null()
    if integer:
        bad = bad | (value.is_not_null() & (value != value.floor()))
    return bad


def integer(col: str) -> pl.Expr:
    return number(col).cast(pl.Int64, strict=False)


def ts_text(expr: pl.Expr) -> pl.Expr:
    return expr.dt.strftime("%Y-%m-%d %H:%M:%S" + LOCAL_OFFSET)


def classify(df: pl.DataFrame, rules: list[tuple[str, pl.Expr, pl.Expr | str]], ctx: Context) -> pl.DataFrame:
    """Add `_rule` and `_reason`: the first rule (in order) whose condition holds, else null.

    Conditions are evaluated for every row; reasons (string formatting) only for the rows that broke a
    rule, which are few."""
    if not rules:
        return df.with_columns(_rule=pl.lit(None, pl.String), _reason=pl.lit(None, pl.String))
    index = None
    for i, (_, cond, _) in enumerate(rules):
        cond = cond.fill_null(False)
        index = pl.when(cond).then(pl.lit(i, pl.Int32)) if index is None else index.when(cond).then(
            pl.lit(i, pl.Int32))
    df = df.with_columns(_rule_index=index.otherwise(None))
    ok = df.filter(pl.col("_rule_index").is_null()).with_columns(
        _rule=pl.lit(None, pl.String), _reason=pl.lit(None, pl.String))
    ko = df.filter(pl.col("_rule_index").is_not_null())
    if ko.height:
        rule_expr = reason_expr = None
        for i, (name, _, reason) in enumerate(rules):
            hit = pl.col("_rule_index") == i
            reason = pl.lit(reason) if isinstance(reason, str) else reason
            if rule_expr is None:
                rule_expr, reason_expr = pl.when(hit).then(pl.lit(name)), pl.when(hit).then(reason)
            else:
                rule_expr, reason_expr = rule_expr.when(hit).then(pl.lit(name)), reason_expr.when(hit).then(reason)
        ko = ko.with_columns(_rule=rule_expr.otherwise(None), _reason=reason_expr.otherwise(None).cast(pl.String))
        ko = ko.with_columns(_reason=pl.coalesce("_reason", pl.concat_str(pl.col("_rule"), pl.lit(" (no detail)"))))
        if ctx.truncated_line is not None:
            cut = pl.col("_line") == ctx.truncated_line
            ko = ko.with_columns(
                _reason=pl.when(cut).then(pl.format("last line is cut off (no line end): {}", pl.col("_reason")))
                .otherwise(pl.col("_reason")),
                _rule=pl.when(cut).then(pl.lit("malformed_row")).otherwise(pl.col("_rule")),
            )
        return pl.concat([ok, ko], how="vertical")
    return ok


def split(df: pl.DataFrame, good: list[pl.Expr], record_cols: list[str]) -> Split:
    ok = df.filter(pl.col("_rule").is_null())
    ko = df.filter(pl.col("_rule").is_not_null())
    return Split(
        good=ok.select([*good, pl.col("_line").cast(pl.Int64)]),
        bad=ko.select(
            pl.col("_line").cast(pl.Int64),
            pl.col("_rule").alias("rule"),
            pl.col("_reason").alias("reason"),
            pl.struct(record_cols).struct.json_encode().alias("record"),
        ),
    )


def _after_period(ts: pl.Expr, ctx: Context, what: str, text_col: str, is_date: bool = False) -> list:
    rules = []
    if ctx.period_end is not None:
        end = ctx.period_end if is_date else datetime.combine(ctx.period_end, datetime.min.time())
        period = ctx.period_start.isoformat() if ctx.period_start else "?"
        rules.append(("event_outside_delivery_interval", ts >= pl.lit(end),
                      pl.format(f"{what} {{}} is after the period this delivery is for ({period}, file {{}})",
                                pl.col(text_col), pl.lit(ctx.file_name))))
    now = ctx.now.date() if is_date else ctx.now
    rules.append(("event_outside_delivery_interval", ts > pl.lit(now),
                  pl.format(f"{what} {{}} is in the future", pl.col(text_col))))
    return rules


def _unknown_library(col: str, ctx: Context, what: str = "library code") -> tuple:
    return ("unknown_library", ~blank(col) & ~pl.col(col).is_in(list(ctx.libraries)),
            pl.format(f"{what} {{}} is not in the library registry", pl.col(col)))


def _missing(col: str, what: str) -> tuple:
    return ("missing_value", blank(col), f"{what} is blank")


def nullable(col: str) -> pl.Expr:
    """The text, null when blank."""
    return pl.when(blank(col)).then(None).otherwise(pl.col(col)).alias(col)


def _strip_all(df: pl.DataFrame) -> pl.DataFrame:
    """Trim every text cell; a missing cell becomes "" (blank), so every rule sees one kind of nothing."""
    return df.with_columns(pl.col(c).str.strip_chars().fill_null("") for c in df.columns if df.schema[c] == pl.String)


# ------------------------------------------------------------------------------------------- circulation

def circulation(df: pl.DataFrame, ctx: Context, chunk=None) -> Split:
    """`chunk` (readers.Chunk) gives the delivered lines for dialects that hash them into an event id."""
    d = ctx.dialect
    cols = [pl.col(src).alias(canon) if src else pl.lit("").alias(canon) for canon, src in d.columns.items()]
    df = _strip_all(df.select(*cols, "_line"))
    if d.event_id_from_line_hash:
        texts = chunk.texts if chunk is not None else []
        lines = texts.to_list() if isinstance(texts, pl.Series) else list(texts)
        ids = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in lines]
        df = df.with_columns(source_event_id=pl.Series(ids, dtype=pl.String))
    df = df.with_columns(
        _event=pl.col("event_type").replace_strict(d.event_codes, default=None, return_dtype=pl.String),
        _at=parse_datetime("event_at", d.timestamp_format, d.timestamp_has_offset),
        _due=parse_date("due_date", d.date_format),
        _channel=pl.col("channel").replace_strict(d.channels, default=None, return_dtype=pl.String),
        reader_key=ctx.pseudo.series(df["reader_barcode"]),
        reader_home_library=home_library(df["reader_barcode"], ctx.reader_ranges),
        _item_home=home_library(df["item_barcode"], ctx.item_ranges),
    )
    codes = "/".join(d.event_codes)
    channels = "/".join(k or "(blank)" for k in d.channels)
    rules = [
        _missing("source_event_id", "event id"),
        _missing("event_type", "event code"),
        _missing("event_at", "event time"),
        _missing("library_code", "library code"),
        _missing("item_barcode", "item barcode"),
        ("unknown_event_code", pl.col("_event").is_null(),
         pl.format(f"event code {{}} is not one of {codes} ({d.name})", pl.col("event_type"))),
        ("bad_timestamp", pl.col("_at").is_null(),
         pl.format(f"event time {{}} does not match {d.timestamp_format}", pl.col("event_at"))),
        ("bad_timestamp", ~blank("due_date") & pl.col("_due").is_null(),
         pl.format(f"due date {{}} does not match {d.date_format}", pl.col("due_date"))),
        ("unknown_code", pl.col("_channel").is_null(),
         pl.format(f"channel {{}} is not one of {channels} ({d.name})", pl.col("channel"))),
        _unknown_library("library_code", ctx),
        *_after_period(pl.col("_at"), ctx, "event time", "event_at"),
        ("missing_value", pl.col("_event").is_in(["loan", "renew"]) & blank("reader_barcode"),
         "reader barcode is blank on a loan or renewal"),
        ("reader_barcode_out_of_range", ~blank("reader_barcode") & pl.col("reader_home_library").is_null(),
         pl.format("reader card (pseudonym {}) lies outside every registered reader barcode range",
                   pl.col("reader_key"))),
        ("item_barcode_out_of_range", pl.col("_item_home").is_null(),
         pl.format("item barcode {} lies outside every registered item barcode range", pl.col("item_barcode"))),
    ]
    df = classify(df, rules, ctx)
    good = [
        pl.col("source_event_id"), pl.lit(ctx.county_code).alias("county_code"), pl.col("library_code"),
        pl.col("_event").alias("event_type"), ts_text(pl.col("_at")).alias("event_at"), pl.col("item_barcode"),
        pl.col("reader_key"), pl.col("reader_home_library"), pl.col("_due").cast(pl.String).alias("due_date"),
        pl.col("_channel").alias("channel"),
    ]
    record = ["source_event_id", "event_type", "event_at", "library_code", "item_barcode", "reader_key",
              "due_date", "channel"]
    return split(df, good, record)


# ------------------------------------------------------------------------------------------- visits

def visits(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df).with_columns(_at=parse_datetime("hour_start", "%Y-%m-%d %H:%M"))
    rules = [
        _missing("device_id", "gate/device id"), _missing("library_code", "library code"),
        _missing("hour_start", "hour_start"), _missing("in_count", "in_count"),
        ("bad_timestamp", pl.col("_at").is_null(),
         pl.format("hour_start {} does not match YYYY-MM-DD HH:00", pl.col("hour_start"))),
        ("bad_number", bad_number("in_count"), pl.format("in_count {} is not a whole number", pl.col("in_count"))),
        ("bad_number", bad_number("out_count"),
         pl.format("out_count {} is not a whole number", pl.col("out_count"))),
        ("negative_count", (number("in_count") < 0) | (number("out_count") < 0),
         pl.format("negative gate count (in {}, out {})", pl.col("in_count"), pl.col("out_count"))),
        _unknown_library("library_code", ctx),
        *_after_period(pl.col("_at"), ctx, "hour_start", "hour_start"),
    ]
    df = classify(df, rules, ctx)
    good = [pl.lit(ctx.county_code).alias("county_code"), pl.col("library_code"), pl.col("device_id").alias("gate_id"),
            ts_text(pl.col("_at")).alias("period_start"), pl.lit(60).alias("period_minutes"),
            integer("in_count").alias("entries"), integer("out_count").alias("exits")]
    return split(df, good, list(HEADERS["visits"]))


# ------------------------------------------------------------------------------------------- activities, rotations

def activities(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df).with_columns(
        _date=parse_date("activity_date", "%Y-%m-%d"),
        _type=pl.col("activity_type").replace_strict(ACTIVITY_TYPES, default=None, return_dtype=pl.String),
    )
    rules = [
        _missing("activity_id", "activity id"), _missing("library_code", "library code"),
        _missing("activity_date", "activity date"), _missing("activity_type", "activity type"),
        ("bad_timestamp", pl.col("_date").is_null(),
         pl.format("activity date {} does not match YYYY-MM-DD", pl.col("activity_date"))),
        ("unknown_code", pl.col("_type").is_null(),
         pl.format("activity type {} is not one of 讲座/展览/阅读推广/培训/其他", pl.col("activity_type"))),
        ("bad_number", bad_number("participants"),
         pl.format("participants {} is not a whole number", pl.col("participants"))),
        ("negative_count", number("participants") < 0,
         pl.format("participants {} is negative", pl.col("participants"))),
        _unknown_library("library_code", ctx),
        *_after_period(pl.col("_date"), ctx, "activity date", "activity_date", is_date=True),
    ]
    df = classify(df, rules, ctx)
    joint = pl.col("joint_with").str.replace_all(r"\s*[;；,，]\s*", ",")
    good = [pl.lit(ctx.county_code).alias("county_code"), pl.col("activity_id"), pl.col("library_code"),
            pl.col("_date").cast(pl.String).alias("activity_date"), pl.col("_type").alias("activity_type"),
            pl.col("title"), integer("participants").alias("participants"),
            pl.when(blank("joint_with")).then(None).otherwise(joint).alias("joint_with")]
    return split(df, good, list(HEADERS["activities"]))


def rotations(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df).with_columns(_date=parse_date("shipped_on", "%Y-%m-%d"))
    rules = [
        _missing("rotation_id", "rotation id"), _missing("from_library", "from_library"),
        _missing("to_library", "to_library"), _missing("shipped_on", "shipped_on"), _missing("volumes", "volumes"),
        ("bad_timestamp", pl.col("_date").is_null(),
         pl.format("shipped_on {} does not match YYYY-MM-DD", pl.col("shipped_on"))),
        ("bad_number", bad_number("volumes"), pl.format("volumes {} is not a whole number", pl.col("volumes"))),
        ("negative_count", number("volumes") < 0, pl.format("volumes {} is negative", pl.col("volumes"))),
        _unknown_library("from_library", ctx, "from_library"),
        _unknown_library("to_library", ctx, "to_library"),
        *_after_period(pl.col("_date"), ctx, "shipped_on", "shipped_on", is_date=True),
    ]
    df = classify(df, rules, ctx)
    good = [pl.lit(ctx.county_code).alias("county_code"), pl.col("rotation_id"), pl.col("from_library"),
            pl.col("to_library"), pl.col("_date").cast(pl.String).alias("shipped_on"),
            integer("volumes").alias("volumes")]
    return split(df, good, list(HEADERS["rotations"]))


# ------------------------------------------------------------------------------------------- registry

LIBRARY_NUMBERS = {"population_served": True, "floor_area_m2": False, "seats": True, "children_seats": True,
                   "networked_pcs": True, "weekly_open_hours": False, "staff": True, "periodicals": True}


def libraries(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df).with_columns(_from=parse_date("valid_from", "%Y-%m-%d"),
                                     _to=parse_date("valid_to", "%Y-%m-%d"))
    rules = [
        _missing("library_code", "library_code"), _missing("name_zh", "name_zh"), _missing("level", "level"),
        _missing("division_code", "division_code"), _missing("valid_from", "valid_from"),
        ("unknown_code", ~pl.col("level").is_in(list(LEVELS)),
         pl.format(f"level {{}} is not one of {'/'.join(LEVELS)}", pl.col("level"))),
        ("bad_timestamp", pl.col("_from").is_null(),
         pl.format("valid_from {} does not match YYYY-MM-DD", pl.col("valid_from"))),
        ("bad_timestamp", ~blank("valid_to") & pl.col("_to").is_null(),
         pl.format("valid_to {} does not match YYYY-MM-DD", pl.col("valid_to"))),
        ("bad_range", pl.col("_to") <= pl.col("_from"),
         pl.format("valid_to {} is not after valid_from {}", pl.col("valid_to"), pl.col("valid_from"))),
    ]
    for col, is_int in LIBRARY_NUMBERS.items():
        rules.append(("bad_number", bad_number(col, is_int), pl.format(f"{col} {{}} is not a number", pl.col(col))))
        rules.append(("negative_count", number(col) < 0, pl.format(f"{col} {{}} is negative", pl.col(col))))
    df = classify(df, rules, ctx)
    good = [
        pl.col("library_code"), pl.col("name_zh"), nullable("name_en"),
        pl.col("level"), nullable("parent_code"),
        pl.col("division_code"), integer("population_served"),
        pl.col("_from").cast(pl.String).alias("valid_from"), pl.col("_to").cast(pl.String).alias("valid_to"),
        number("floor_area_m2"), integer("seats"), integer("children_seats"), integer("networked_pcs"),
        number("weekly_open_hours"), integer("staff"), integer("periodicals"),
        nullable("source_system"),
    ]
    return split(df, good, list(HEADERS["libraries"]))


def barcode_ranges(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df)
    digits = r"^[0-9]{1,18}$"
    rules = [
        _missing("kind", "kind"), _missing("first_barcode", "first_barcode"), _missing("last_barcode", "last_barcode"),
        _missing("library_code", "library_code"),
        ("unknown_code", ~pl.col("kind").is_in(["reader", "item"]),
         pl.format("kind {} is not reader or item", pl.col("kind"))),
        ("bad_number", ~pl.col("first_barcode").str.contains(digits) | ~pl.col("last_barcode").str.contains(digits),
         pl.format("barcodes {}–{} are not numbers of at most 18 digits", pl.col("first_barcode"),
                   pl.col("last_barcode"))),
        ("bad_range", pl.col("first_barcode").cast(pl.Int64, strict=False)
         > pl.col("last_barcode").cast(pl.Int64, strict=False),
         pl.format("first barcode {} is greater than last barcode {}", pl.col("first_barcode"),
                   pl.col("last_barcode"))),
        _unknown_library("library_code", ctx),
    ]
    df = classify(df, rules, ctx)
    good = [pl.col("kind"), pl.col("first_barcode").cast(pl.Int64), pl.col("last_barcode").cast(pl.Int64),
            pl.col("library_code")]
    return split(df, good, list(HEADERS["barcode_ranges"]))


# ------------------------------------------------------------------------------------------- monthly report

def monthly_report(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    df = _strip_all(df)
    rules = [_missing("library_code", "服务点代码 (library code)"), _unknown_library("library_code", ctx, "服务点代码")]
    for col, is_int in FORM_NUMBERS.items():
        rules.append(("bad_number", bad_number(col, is_int),
                      pl.format(f"{col} {{}} is not a {'whole ' if is_int else ''}number (blank or 不适用 if none)",
                                pl.col(col))))
        rules.append(("negative_count", number(col) < 0, pl.format(f"{col} {{}} is negative", pl.col(col))))
    df = classify(df, rules, ctx)
    good = [pl.lit(ctx.county_code).alias("county_code"), pl.col("library_code"),
            pl.lit(ctx.period_type or "month").alias("period_type"),
            pl.lit(ctx.period_start.isoformat() if ctx.period_start else None).alias("period_start")]
    good += [(integer(c) if is_int else number(c)).alias(c) for c, is_int in FORM_NUMBERS.items()]
    record = [c for c in df.columns if not c.startswith("_")]
    return split(df, good, record)


def check_totals(rows: pl.DataFrame, totals: list[str], columns: list[str]) -> list[str]:
    """Columns whose 合计 differs from the sum of the data rows (blank/不适用 count as nothing)."""
    wrong = []
    for col in FORM_NUMBERS:
        if col not in columns:
            continue
        total = totals[columns.index(col)].strip()
        if total in NOT_APPLICABLE:
            continue
        try:
            expected = float(total.replace(",", ""))
        except ValueError:
            wrong.append(f"{col}: 合计 {total!r} is not a number")
            continue
        got = rows.select(number(col).sum()).item() or 0.0
        if abs(got - expected) > 0.05:
            wrong.append(f"{col}: 合计 {total} but the rows add up to {got:g}")
    return wrong


# ------------------------------------------------------------------------------------------- holdings (MARC)

HOLDINGS_COLUMNS = ("item_barcode", "owning_library", "current_library", "bib_id", "isbn", "title", "clc_class",
                    "audience", "acquired", "withdrawn", "status")


def marc_value(record, spec: str) -> str:
    """'020a' → first $a of the first 020; '008/22' → character 22 of 008 (or of $a for a data field)."""
    if "/" in spec:
        tag, pos = spec.split("/")
        for f in record.get_fields(tag):
            data = f.data if f.is_control_field() else (f.get("a") or "")
            char = data[int(pos)] if data and len(data) > int(pos) else ""
            return "#" if char == " " else char  # MARC writes a blank position as '#'; keep it visible
        return ""
    tag, code = spec[:3], spec[3:]
    for f in record.get_fields(tag):
        if f.is_control_field():
            return (f.data or "").strip()
        value = f.get(code)
        if value:
            return value.strip()
    return ""


def marc_items(record, items: dict, profile: dict) -> list[list[str]]:
    isbn = marc_value(record, profile["isbn"]).split(" ")[0]
    title = marc_value(record, profile["title"]).rstrip(" /:;,.=")
    bib = [marc_value(record, profile["bib_id"]), isbn, title, marc_value(record, profile["clc_class"]),
           marc_value(record, profile["audience"])]
    rows = []
    for f in record.get_fields(items["tag"]):
        def sub(key, f=f):
            code = items.get(key)
            return ((f.get(code) or "").strip()) if code else ""
        rows.append([sub("barcode"), sub("owning"), sub("current"), *bib, sub("acquired"), sub("withdrawn"),
                     sub("status")])
    return rows


def holdings(df: pl.DataFrame, ctx: Context, texts=None) -> Split:
    items = ctx.marc_items or {}
    date_format = items.get("date_format", "%Y%m%d")  # Koha 952$d: %Y-%m-%d
    status_map = {str(k): v for k, v in (items.get("status_map") or {}).items()}
    df = _strip_all(df).with_columns(
        _acq=parse_date("acquired", date_format),
        _wd=parse_date("withdrawn", date_format),
        _item_home=home_library(df["item_barcode"], ctx.item_ranges),
    )
    if status_map:
        df = df.with_columns(status=pl.col("status").replace(status_map))
    children = (ctx.marc_profile or {}).get("children_codes", ["j"])
    rules = [
        _missing("item_barcode", "item barcode"), _missing("owning_library", "owning library"),
        ("bad_timestamp", ~blank("acquired") & pl.col("_acq").is_null(),
         pl.format(f"acquired date {{}} does not match {date_format}", pl.col("acquired"))),
        ("bad_timestamp", ~blank("withdrawn") & pl.col("_wd").is_null(),
         pl.format(f"withdrawn date {{}} does not match {date_format}", pl.col("withdrawn"))),
        ("unknown_code", ~blank("status") & ~pl.col("status").is_in(list(ITEM_STATUSES)),
         pl.format(f"item status {{}} is not one of {'/'.join(ITEM_STATUSES)}", pl.col("status"))),
        _unknown_library("owning_library", ctx, "owning library"),
        _unknown_library("current_library", ctx, "current library"),
        ("item_barcode_out_of_range", pl.col("_item_home").is_null(),
         pl.format("item barcode {} lies outside every registered item barcode range", pl.col("item_barcode"))),
    ]
    df = classify(df, rules, ctx)
    texts = [nullable(c) for c in ("current_library", "bib_id", "isbn", "title", "clc_class")]
    good = [pl.lit(ctx.county_code).alias("county_code"), pl.col("item_barcode"), pl.col("owning_library"), *texts,
            pl.when(blank("audience")).then(None).otherwise(pl.col("audience").is_in(children)).alias("is_children"),
            pl.col("_acq").cast(pl.String).alias("acquired_on"), pl.col("_wd").cast(pl.String).alias("withdrawn_on"),
            nullable("status")]
    return split(df, good, list(HOLDINGS_COLUMNS))


TRANSFORMS = {
    "circulation": circulation, "visits": visits, "activities": activities, "rotations": rotations,
    "libraries": libraries, "barcode_ranges": barcode_ranges, "monthly_report": monthly_report,
    "holdings": holdings,
}
TABLES = {
    "circulation": "raw.circulation_events", "visits": "raw.visitor_counts", "activities": "raw.activities",
    "rotations": "raw.rotations", "libraries": "raw.libraries", "barcode_ranges": "raw.barcode_ranges",
    "monthly_report": "raw.monthly_reports", "holdings": "raw.holdings_items",
}


def period_of(feed: str, start: date | None, kind: str = "month") -> tuple[date | None, date | None]:
    """[start, end) of the period a delivery dated `start` is for; `kind` matters for statistics forms only."""
    if start is None:
        return None, None
    if feed == "monthly_report":
        period = Period(kind, start)
        return period.start, period.end
    if feed in ("activities", "rotations"):
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return start.replace(day=1), nxt
    if feed in ("circulation", "visits"):
        return start, start + timedelta(days=1)
    return start, None


def delivery_period(feed: str, file_name: str) -> tuple[date | None, date | None, str | None]:
    """(start, exclusive end, period type) of the delivery, from its file name; the type only for forms."""
    if feed == "monthly_report":
        period = periods.from_file_name(file_name)
        return (period.start, period.end, period.kind) if period else (None, None, None)
    start, end = period_of(feed, file_date(feed, file_name))
    return start, end, None
