"""Pull transports: an ILS database (SQL) and a gate-counter HTTP JSON API.

A pull never loads rows directly: it writes what it fetched as a delivery file in the source's
dialect (under `<archive dir>/../pulls/<source>/<feed>/`) and hands that file to the same loader as
a file drop. So a pulled batch has a checksum, an archive copy, a ledger row, rules and quarantine
like any other. The HTTP pull names its file by day, so pulling a day again is `already_loaded` when
nothing changed and a corrected re-delivery (replacing the day) when the counter's figures changed.

sources.yml:
    transport: {kind: sql, url_env: KOHA_DB_URL, watermark_column: datetime, initial_watermark: "2026-01-01 00:00:00",
                query: "select datetime, branch, type, barcode, cardnumber, date_due, other
                        from statistics_export where datetime > :watermark order by datetime"}
    transport: {kind: http_json, url: "http://counter.example/api/counts?date={date}", feeds: [visits]}

SQL: the query gets `:watermark` (the highest value of `watermark_column` loaded so far, from the
ledger; `initial_watermark` the first time) and must return the dialect's columns in its header's
order. The new watermark is written to the ledger only when the batch commits, so a failed pull
resumes where the last good one ended. Rows that share the watermark's exact timestamp but arrive
after the pull are not fetched (`>`): ILS statistics tables are append-only with second resolution,
so counties should pull after the day closes.

HTTP: one GET per day of the interval; the body is a JSON list of objects with the visits columns
(device_id, library_code, hour_start, in_count, out_count); it becomes gate_YYYYMMDD.csv.
"""

from __future__ import annotations

import csv
import json
import os
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

from ingestion import feeds as F
from ingestion.loader import BatchResult, Delivery, archive_dir, ingest_delivery
from ingestion.sources import Source, get_dialect
from shuyun import warehouse


def pull_dir(src: Source, feed: str) -> Path:
    path = archive_dir().parent / "pulls" / src.name / feed
    path.mkdir(parents=True, exist_ok=True)
    return path


def last_watermark(source: str, feed: str) -> str | None:
    with warehouse.connect("loader", autocommit=True) as conn:
        row = conn.execute("select max(watermark) from raw.ingest_batches where source = %s and feed = %s "
                           "and status in ('loaded', 'rejected')", (source, feed)).fetchone()
    return row[0] if row else None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def pull_sql(src: Source, feed: str = "circulation") -> BatchResult:
    """Fetch rows newer than the watermark from the source's database and load them as one batch."""
    from sqlalchemy import create_engine, text

    t = src.transport
    env = t.get("url_env") or src.credentials_env
    url = os.environ.get(env or "", t.get("url"))
    if not url:
        return BatchResult("", src.name, feed, "(sql pull)", status="failed",
                           message=f"source {src.name}: set ${env} to the database URL (transport.url_env)")
    dialect = get_dialect(src.dialect)
    column = t.get("watermark_column", "datetime")
    try:
        since = last_watermark(src.name, feed) or str(t.get("initial_watermark", "1970-01-01 00:00:00"))
        engine = create_engine(url, pool_pre_ping=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
        path = pull_dir(src, feed) / f"pull_{stamp}.csv"
        tmp = path.with_suffix(".part")
        newest, count = since, 0
        try:
            with engine.connect() as conn, open(tmp, "w", encoding=src.encoding, newline="") as fh:
                rows = conn.execution_options(stream_results=True, yield_per=10_000).execute(
                    text(t["query"]), {"watermark": since})
                names = list(rows.keys())
                if column not in names:
                    raise ValueError(f"the query does not return the watermark column {column!r}")
                writer = csv.writer(fh, lineterminator="\r\n")
                writer.writerow(dialect.header)
                at = names.index(column)
                for row in rows:
                    writer.writerow([_text(v) for v in row])
                    newest = max(newest, _text(row[at]))
                    count += 1
        finally:
            engine.dispose()
    except Exception as err:  # unreachable server, bad query, bad credentials
        return BatchResult("", src.name, feed, "(sql pull)", status="failed",
                           message=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    if count == 0:
        tmp.unlink(missing_ok=True)
        return BatchResult("", src.name, feed, "(sql pull)", status="already_loaded",
                           message=f"nothing newer than watermark {since}")
    tmp.replace(path)
    return ingest_delivery(Delivery(path, feed, src.name, src.county_code, src), watermark=newest)


def pull_http(src: Source, day: date, feed: str = "visits", timeout: float = 30) -> BatchResult:
    """GET one day of gate counts and load them as gate_YYYYMMDD.csv."""
    url = src.transport["url"].format(date=day.isoformat(), yyyymmdd=day.strftime("%Y%m%d"))
    name = f"gate_{day:%Y%m%d}.csv"
    headers = {"Accept": "application/json"}
    token_env = src.credentials_env
    if token_env and os.environ.get(token_env):
        headers["Authorization"] = f"Bearer {os.environ[token_env]}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            body = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as err:
        return BatchResult("", src.name, feed, name, status="failed", message=f"GET {url}: {err}")
    if not isinstance(body, list):
        body = body.get("counts") if isinstance(body, dict) else None
        if not isinstance(body, list):
            return BatchResult("", src.name, feed, name, status="failed",
                               message=f"GET {url}: expected a JSON list of gate counts")
    columns = F.HEADERS[feed]
    path = pull_dir(src, feed) / name
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for item in body:
            item = item if isinstance(item, dict) else {}
            writer.writerow([_text(item.get(c)) for c in columns])
    tmp.replace(path)
    return ingest_delivery(Delivery(path, feed, src.name, src.county_code, src))


def days(interval: tuple[date, date] | None) -> list[date]:
    """Days of [start, end); without an interval: yesterday (Asia/Shanghai days close at midnight)."""
    if interval is None:
        return [date.today() - timedelta(days=1)]
    start, end = interval
    return [start + timedelta(days=i) for i in range((end - start).days)]
