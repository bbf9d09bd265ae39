"""Pull transports: an ILS database (SQL), a gate-counter HTTP JSON API, and object storage (S3 and the like).

A pull never loads rows directly: it writes what it fetched as a delivery file in the source's
dialect (under `<archive dir>/../pulls/<source>/<feed>/`) and hands that file to the same loader as
a file drop. So a pulled batch has a checksum, an archive copy, a ledger row, rules and quarantine
like any other. The HTTP pull names its file by day, so pulling a day again is `already_loaded` when
nothing changed and a corrected re-delivery (replacing the day) when the counter's figures changed.

sources.yml:
    transport: {kind: sql, url_env: KOHA_DB_URL, watermark_column: datetime, initial_watermark: "2026-01-01 00:00:00",
                query: "select datetime, branch, type, barcode, cardnumber, date_due, other
                        from statistics_export where datetime >= :watermark order by datetime"}
    transport: {kind: http_json, url: "http://counter.example/api/counts?date={date}", feeds: [visits]}

SQL: the query gets `:watermark` (the highest value of `watermark_column` loaded so far, from the
ledger; `initial_watermark` the first time) and must return the dialect's columns in its header's
order. The new watermark is written to the ledger only when the batch commits, so a failed pull
resumes where the last good one ended.

The query should select `>= :watermark`, not `>`: ILS statistics tables have second resolution and no
key, so a row committed after a pull with exactly the watermark's timestamp would never be fetched by
`>`. With `>=` the rows at the watermark come back on every pull; the ones already delivered are dropped
before the file is written — they are read back from the archived files of the batches that ended at
this watermark (the archive keeps every delivery unchanged) and matched as whole rows, counted as a
multiset, so two identical rows in the table stay two rows and nothing is loaded twice. A query that
still says `> :watermark` works as before (the edge stays open) and the result says so.

HTTP: one GET per day of the interval; the body is a JSON list of objects with the visits columns
(device_id, library_code, hour_start, in_count, out_count); it becomes gate_YYYYMMDD.csv.

Object storage: a file drop in a bucket instead of a folder, laid out alike (`<url>/<feed>/<file>`):
    transport: {kind: object_store, url: "s3://shuyun-landing/c532622", options_env: C532622_S3}
fsspec opens the URL (s3:// through s3fs: AWS, MinIO, Ceph, or any S3-compatible store of a provincial
cloud). `options_env` names the environment variable holding its storage options as JSON, e.g.
{"key": "...", "secret": "...", "endpoint_url": "https://oss.example.gov.cn"}; without it fsspec's own
credential chain applies (AWS_* variables, instance profile). The registry never holds a credential.
Each object of the run's interval is copied into the pull folder and loaded as a file drop: checksum,
archive, ledger, idempotence (the same object twice is `already_loaded`, a corrected one replaces its batch).
"""

from __future__ import annotations

import csv
import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from ingestion import feeds as F
from ingestion.loader import BatchResult, Delivery, archive_dir, ingest_delivery
from ingestion.sources import Source, get_dialect
from shuyun import warehouse

STRICT_WATERMARK = re.compile(r">\s*:watermark\b")  # '>' but not '>='


def pull_dir(src: Source, feed: str) -> Path:
    path = archive_dir().parent / "pulls" / src.name / feed
    path.mkdir(parents=True, exist_ok=True)
    return path


def last_watermark(source: str, feed: str) -> str | None:
    with warehouse.connect("loader", autocommit=True) as conn:
        row = conn.execute("select max(watermark) from raw.ingest_batches where source = %s and feed = %s "
                           "and status in ('loaded', 'rejected')", (source, feed)).fetchone()
    return row[0] if row else None


class PullError(RuntimeError):
    """A pull cannot go on for a reason outside the source database (said in plain words)."""


def delivered_at_watermark(source: str, feed: str, watermark: str, position: int, encoding: str) -> Counter:
    """The rows already delivered whose watermark column (at `position`) equals `watermark`, as a multiset of
    text tuples: read back from the archived pull files of the batches that ended at this watermark (only
    those can hold such rows: a batch's watermark is the highest value it delivered)."""
    with warehouse.connect("loader", autocommit=True) as conn:
        paths = [r[0] for r in conn.execute(
            "select archived_path from raw.ingest_batches where source = %s and feed = %s and watermark = %s "
            "and status in ('loaded', 'rejected') order by started_at", (source, feed, watermark))]
    seen: Counter = Counter()
    for path in paths:
        try:
            with open(path, encoding=encoding, newline="") as fh:
                rows = csv.reader(fh)
                next(rows, None)  # header
                seen.update(tuple(r) for r in rows if len(r) > position and r[position] == watermark)
        except (OSError, TypeError, UnicodeDecodeError) as err:
            raise PullError(f"cannot read the archived pull {path} to skip the rows already loaded at watermark "
                            f"{watermark}: {err}") from None
    return seen


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
    strict = STRICT_WATERMARK.search(t.get("query", "")) is not None
    tmp = None
    try:
        stored = last_watermark(src.name, feed)
        since = stored or str(t.get("initial_watermark", "1970-01-01 00:00:00"))
        engine = create_engine(url, pool_pre_ping=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
        path = pull_dir(src, feed) / f"pull_{stamp}.csv"
        tmp = path.with_suffix(".part")
        newest, count, skipped = since, 0, 0
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
                seen = delivered_at_watermark(src.name, feed, since, at, src.encoding) if stored else Counter()
                for row in rows:
                    values = [_text(v) for v in row]
                    if values[at] == since and seen[key := tuple(values)] > 0:
                        seen[key] -= 1  # delivered by an earlier pull that ended at this watermark
                        skipped += 1
                        continue
                    writer.writerow(values)
                    newest = max(newest, values[at])
                    count += 1
        finally:
            engine.dispose()
    except Exception as err:  # unreachable server, bad query, bad credentials, archive gone
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        return BatchResult("", src.name, feed, "(sql pull)", status="failed",
                           message=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    note = (f"; the query selects '> :watermark': rows committed later with timestamp {since} are never fetched, "
            "use '>='" if strict else "")
    if count == 0:
        tmp.unlink(missing_ok=True)
        already = f" ({skipped:,} row(s) at the watermark already loaded)" if skipped else ""
        return BatchResult("", src.name, feed, "(sql pull)", status="already_loaded",
                           message=f"nothing newer than watermark {since}{already}{note}")
    tmp.replace(path)
    result = ingest_delivery(Delivery(path, feed, src.name, src.county_code, src), watermark=newest)
    if skipped or note:
        extra = f"skipped {skipped:,} row(s) at watermark {since} already loaded" if skipped else note.lstrip("; ")
        result.message = f"{result.message}; {extra}" if result.message else extra
    return result


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


def _storage_options(src: Source) -> dict:
    env = src.transport.get("options_env") or src.credentials_env
    if not env:
        return {}
    text = os.environ.get(env)
    if text is None:
        raise PullError(f"source {src.name}: set ${env} to the object store's options as JSON "
                        "(transport.options_env), e.g. {\"key\": ..., \"secret\": ..., \"endpoint_url\": ...}")
    try:
        options = json.loads(text)
    except json.JSONDecodeError as err:
        raise PullError(f"source {src.name}: ${env} is not JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(options, dict):
        raise PullError(f"source {src.name}: ${env} must be a JSON object of storage options")
    return options


def fetch_objects(src: Source, feed: str, wanted: Callable[[str], bool]) -> list[Path]:
    """Copy the objects under `<url>/<feed>/` whose name `wanted` accepts into the source's pull folder; return
    the local copies (unsorted). Raises PullError, in plain words, when the store cannot be listed or read."""
    import fsspec

    url = src.transport.get("url")
    if not url:
        raise PullError(f"source {src.name}: transport object_store needs a url (e.g. s3://bucket/prefix)")
    prefix = f"{url.rstrip('/')}/{feed}"
    try:
        fs, root = fsspec.core.url_to_fs(prefix, **_storage_options(src))
        try:
            entries = fs.ls(root, detail=True)
        except FileNotFoundError:
            # nothing delivered for this feed yet; but nothing at all under the url is a wrong bucket or prefix
            try:
                fs.ls(root.rsplit("/", 1)[0], detail=False)
            except FileNotFoundError:
                raise PullError(f"source {src.name}: nothing at {url} (no such bucket, or nothing delivered "
                                "under this prefix)") from None
            return []
        objects = [e["name"] for e in entries if e.get("type") == "file" and wanted(e["name"].rsplit("/", 1)[-1])]
        local = []
        for name in objects:
            path = pull_dir(src, feed) / name.rsplit("/", 1)[-1]
            tmp = path.with_suffix(path.suffix + ".part")
            fs.get_file(name, str(tmp))
            tmp.replace(path)
            local.append(path)
        return local
    except PullError:
        raise
    except Exception as err:  # connection refused, access denied, no such bucket, unknown protocol...
        raise PullError(f"source {src.name}: cannot read {prefix}: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else 'no detail'}") from None
