"""One delivery → one batch: archive, ledger, rules, COPY into raw and quarantine, in ONE transaction.

Per batch the loader
1. hashes the file (sha256) and archives it unchanged under
   `$SHUYUN_ARCHIVE_DIR` (default `$SHUYUN_HOME/archive`) `/<source>/<feed>/<sha256>_<name>`;
2. opens a transaction as the loader role and takes an advisory lock on (source, feed, file name),
   so two workers never load the same delivery at once;
3. batch_id = sha256(source, feed, file name, file sha256)[:32]: a ledger row already `loaded` or
   `rejected` → nothing happens (`already_loaded`);
4. reads the file in bounded batches, applies the feed's rules (ingestion/feeds.py), and COPYs good
   rows into raw.<table> and rejected rows into quarantine.rejected_rows (a thread prepares the next
   batch while the server COPYs the previous one);
5. an earlier batch of the same file name with another checksum (a corrected re-delivery; for the
   registry feeds: any earlier batch of the feed) → its raw and quarantine rows are deleted and its
   ledger row marked `superseded` (superseded_by = the new batch) — unless the new file was refused
   as a whole (`rejected`: wrong encoding, form without a required column), which keeps the old one;
6. writes rows_read = rows_loaded + rows_quarantined into the ledger (checked by the table) and commits.
Any error rolls the whole batch back and leaves a `failed` ledger row with the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import psycopg

from ingestion import feeds as F
from ingestion import periods, readers
from ingestion.pseudonym import Pseudonymiser, ranges_frame
from ingestion.sources import Source, get_dialect, marc_profiles
from shuyun import settings, warehouse

log = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Shanghai")
REGISTRY_SOURCE = "registry"
QUARANTINE_COLUMNS = ("_batch_id", "_source", "feed", "_file", "_line", "rule", "reason", "record")  # + _loaded_at


@dataclass
class BatchResult:
    batch_id: str
    source: str
    feed: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    status: str = "failed"  # loaded | already_loaded | rejected | failed
    message: str = ""
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def ledger_line(self) -> str:
        line = (f"{self.status:<14} {self.source}/{self.feed}/{self.file}  batch {self.batch_id[:12] or '-'}  "
                f"read {self.rows_read:,}  loaded {self.rows_loaded:,}  quarantined {self.rows_quarantined:,}")
        return f"{line}  — {self.message}" if self.message else line


class LoadError(RuntimeError):
    """A batch cannot be loaded for a reason that is not the data's fault (registry missing, DB down…)."""


def archive_dir() -> Path:
    return Path(os.environ.get("SHUYUN_ARCHIVE_DIR") or settings.home() / "archive").resolve()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def batch_id_for(source: str, feed: str, file_name: str, sha: str) -> str:
    return hashlib.sha256("\x1f".join((source, feed, file_name, sha)).encode()).hexdigest()[:32]


def archive(path: Path, source: str, feed: str, sha: str) -> Path:
    target = archive_dir() / source / feed / f"{sha}_{path.name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target


# ------------------------------------------------------------------------------------------- reading

@dataclass
class Delivery:
    """What the loader needs to know about one delivered file."""

    path: Path
    feed: str
    source: str
    county_code: str | None
    src: Source | None = None  # None for registry feeds


def _frame(columns: list[str], lines, rows: list[list] | None = None, data: bytes | None = None) -> pl.DataFrame:
    """A batch as a frame of strings: from checked CSV lines (UTF-8 bytes, parsed by polars) or from rows."""
    schema = {c: pl.String for c in columns}
    if data:
        df = pl.read_csv(io.BytesIO(data), has_header=False, schema=schema, quote_char='"', infer_schema=False)
        if df.height != len(lines):
            raise LoadError(f"internal: polars split {len(lines)} checked lines into {df.height} rows")
    elif rows:
        df = pl.DataFrame(rows, schema=schema, orient="row")
    else:
        df = pl.DataFrame(schema=schema)
    return df.with_columns(_line=pl.Series(lines, dtype=pl.Int64))


def _chunks(d: Delivery, ctx: F.Context) -> Iterator[readers.Chunk]:
    if d.feed == "circulation":
        dialect = get_dialect(d.src.dialect)
        yield from readers.read_csv(d.path, d.src.encoding, dialect.header)
    elif d.feed in F.HEADERS:
        yield from readers.read_csv(d.path, "utf-8-sig", F.HEADERS[d.feed])
    elif d.feed == "holdings":
        yield from _marc_chunks(d)
    elif d.feed == "monthly_report":
        yield from _form_chunks(d, ctx)
    else:
        raise LoadError(f"unknown feed {d.feed!r}")


def _marc_chunks(d: Delivery) -> Iterator[readers.Chunk]:
    src = d.src
    profile = marc_profiles()[src.marc_flavour]
    columns = list(F.HOLDINGS_COLUMNS)
    chunk = readers.Chunk(columns)
    for n, record, error in readers.iter_marc(d.path, src.marc_encoding):
        if record is None:
            chunk.rejects.append(readers.Reject(n, "malformed_row", f"MARC record {n}: {error}", None))
            continue
        for row in F.marc_items(record, src.marc_items, profile):
            chunk.lines.append(n)
            chunk.rows.append(row)
        if len(chunk.lines) >= readers.BATCH_ROWS:
            yield chunk
            chunk = readers.Chunk(columns)
    yield chunk


class _FileLevel(Exception):
    def __init__(self, rule: str, reason: str, chunk: readers.Chunk):
        super().__init__(reason)
        self.rule, self.reason, self.chunk = rule, reason, chunk


def _whole_form(form: readers.Form, rule: str, reason: str) -> _FileLevel:
    """The form refused as a whole: every data row in quarantine with the same rule and reason."""
    chunk = readers.Chunk(form.columns)
    for n, cells in form.rows:
        chunk.rejects.append(readers.Reject(n, rule, reason, dict(zip(form.columns, cells, strict=True))))
    return _FileLevel(rule, reason, chunk)


def _form_period(form: readers.Form, ctx: F.Context) -> None:
    """Settle the form's period: the file name's, else the title's; refuse the form when they disagree
    or when neither says one (ctx is updated in place: the rows are stamped with it)."""
    named = periods.Period(ctx.period_type, ctx.period_start) if ctx.period_start and ctx.period_type else None
    titled = periods.from_title(form.title)
    if named and titled and titled.kind == "year" and titled.start.year == named.start.year:
        titled = None  # "砚山县2026年服务点统计报表" on a March form: a bare year is no contradiction
    if named and titled and named != titled:
        raise _whole_form(form, "bad_timestamp", f"the title {form.title!r} names {titled.describe()} but the file "
                                                 f"name {ctx.file_name} says {named.describe()}")
    period = named or titled
    if period is None:
        raise _whole_form(form, "missing_value", f"the form's period is neither in its file name {ctx.file_name} "
                                                 "(report_YYYYMM, report_YYYYQn or report_YYYY) nor in its title "
                                                 "(YYYY年M月, YYYY年第N季度, YYYY年)")
    ctx.period_start, ctx.period_end, ctx.period_type = period.start, period.end, period.kind


def _form_chunks(d: Delivery, ctx: F.Context) -> Iterator[readers.Chunk]:
    try:
        form = readers.read_form(d.path)
    except readers.FileRejected as err:
        chunk = readers.Chunk([])
        chunk.rejects.append(readers.Reject(None, err.rule, err.reason, None))
        raise _FileLevel(err.rule, err.reason, chunk) from None
    except Exception as err:  # openpyxl: not a zip, broken xml...
        chunk = readers.Chunk([])
        chunk.rejects.append(readers.Reject(None, "malformed_row", f"not a readable .xlsx form: {err}", None))
        raise _FileLevel("malformed_row", f"not a readable .xlsx form: {err}", chunk) from None
    if form.missing:
        raise _whole_form(form, "missing_column", f"form lacks required column(s) {', '.join(form.missing)}")
    _form_period(form, ctx)
    chunk = readers.Chunk(form.columns, lines=[n for n, _ in form.rows], rows=[c for _, c in form.rows])
    if form.totals is None:
        chunk.rejects.append(readers.Reject(None, "totals_mismatch", "the form has no 合计 (totals) row", None))
    else:
        wrong = F.check_totals(_frame(form.columns, chunk.lines, rows=chunk.rows), form.totals[1], form.columns)
        if wrong:
            chunk.rejects.append(readers.Reject(form.totals[0], "totals_mismatch", "; ".join(wrong),
                                                dict(zip(form.columns, form.totals[1], strict=True))))
    yield chunk


# ------------------------------------------------------------------------------------------- the batch

def _registry_state(conn: psycopg.Connection) -> tuple[frozenset[str], pl.DataFrame, pl.DataFrame]:
    libs = frozenset(r[0] for r in conn.execute("select distinct library_code from raw.libraries"))
    ranges = {"reader": [], "item": []}
    for kind, first, last, lib in conn.execute(
            "select kind, first_barcode, last_barcode, library_code from raw.barcode_ranges"):
        ranges.setdefault(kind, []).append((first, last, lib))
    return libs, ranges_frame(ranges["reader"]), ranges_frame(ranges["item"])


def _reject_frame(rejects: list[readers.Reject], pseudo: Pseudonymiser) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_line": [r.line for r in rejects],
            "rule": [r.rule for r in rejects],
            "reason": [pseudo.scrub(r.reason) for r in rejects],
            "record": [None if r.fields is None else pseudo.scrub(json.dumps(r.fields, ensure_ascii=False))
                       for r in rejects],
        },
        schema=F.BAD_SCHEMA,
    )


def ingest_delivery(d: Delivery, *, supersede_feed: bool = False, watermark: str | None = None) -> BatchResult:
    """Load one file as one batch (see the module docstring). Never raises for bad data."""
    started = time.monotonic()
    file_name = d.path.name
    result = BatchResult("", d.source, d.feed, file_name)
    try:
        sha = file_sha256(d.path)
    except OSError as err:
        result.message = f"{d.path}: cannot read the file ({err.strerror or err})"
        return result
    result.batch_id = batch_id_for(d.source, d.feed, file_name, sha)
    try:
        archived = archive(d.path, d.source, d.feed, sha)
        with warehouse.connect("loader", autocommit=True) as conn:
            try:
                _load(conn, d, result, sha, archived, supersede_feed, watermark)
            except Exception as err:
                result.status = "failed"
                result.message = _plain(err)
                result.rows_read = result.rows_loaded = result.rows_quarantined = 0
                result.quarantined_by_rule = {}
                # one plain line at WARNING (what the CLI shows); the traceback at INFO (Airflow task logs, -v)
                log.warning("batch %s (%s) failed: %s", result.batch_id, d.path.name, result.message)
                if not isinstance(err, LoadError):
                    log.info("traceback of batch %s", result.batch_id, exc_info=True)
                _record_failure(conn, d, result, sha, archived)
    except Exception as err:  # connection refused, warehouse not running, disk full...
        result.status = "failed"
        result.message = _plain(err)
    result.seconds = time.monotonic() - started
    return result


def _plain(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, (LoadError, warehouse.WarehouseError)):
        return text
    return f"{type(err).__name__}: {text}"


def _record_failure(conn, d: Delivery, result: BatchResult, sha: str, archived: Path) -> None:
    try:
        with conn.transaction():
            conn.execute(
                """insert into raw.ingest_batches (batch_id, source, feed, county_code, file_name, file_sha256,
                       archived_path, status, message, started_at, finished_at)
                   values (%s, %s, %s, %s, %s, %s, %s, 'failed', %s, now(), now())
                   on conflict (batch_id) do update set status = 'failed', message = excluded.message,
                       finished_at = now()
                   where raw.ingest_batches.status not in ('loaded', 'rejected')""",
                (result.batch_id, d.source, d.feed, d.county_code, d.path.name, sha, str(archived), result.message),
            )
    except Exception:  # the ledger itself is unreachable: the result still says failed
        log.exception("could not record the failure of batch %s", result.batch_id)


def _load(conn: psycopg.Connection, d: Delivery, result: BatchResult, sha: str, archived: Path,
          supersede_feed: bool, watermark: str | None = None) -> None:
    table = F.TABLES[d.feed]
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"{d.source}\x1f{d.feed}\x1f{'*' if supersede_feed else d.path.name}",))
        row = conn.execute("select status, rows_read, rows_loaded, rows_quarantined from raw.ingest_batches "
                           "where batch_id = %s", (result.batch_id,)).fetchone()
        if row and row[0] in ("loaded", "rejected"):
            result.status = "already_loaded"
            result.rows_read, result.rows_loaded, result.rows_quarantined = row[1], row[2], row[3]
            result.message = f"already loaded ({row[0]}); same file, same checksum"
            return
        if row:  # failed / running / superseded earlier: start afresh
            _delete_batch(conn, table, result.batch_id)
            conn.execute("delete from raw.ingest_batches where batch_id = %s", (result.batch_id,))
        if supersede_feed:
            previous = [r[0] for r in conn.execute(
                "select batch_id from raw.ingest_batches where source = %s and feed = %s "
                "and status in ('loaded', 'rejected')", (d.source, d.feed))]
        else:
            previous = [r[0] for r in conn.execute(
                "select batch_id from raw.ingest_batches where source = %s and feed = %s and file_name = %s "
                "and status in ('loaded', 'rejected')", (d.source, d.feed, d.path.name))]
        libraries, reader_ranges, item_ranges = _registry_state(conn)
        if d.feed != "libraries" and not libraries:
            raise LoadError("the library registry is not loaded (raw.libraries is empty): "
                            "run `shuyun ingest registry` first")
        if d.feed in ("circulation", "holdings") and reader_ranges.height + item_ranges.height == 0:
            raise LoadError("no barcode ranges are loaded (raw.barcode_ranges is empty): "
                            "run `shuyun ingest registry` first")
        loaded_at = conn.execute("select now()").fetchone()[0]
        conn.execute(
            """insert into raw.ingest_batches (batch_id, source, feed, county_code, file_name, file_sha256,
                   archived_path, status, started_at) values (%s, %s, %s, %s, %s, %s, %s, 'running', %s)""",
            (result.batch_id, d.source, d.feed, d.county_code, d.path.name, sha, str(archived), loaded_at),
        )
        period_start, period_end, period_type = F.delivery_period(d.feed, d.path.name)
        ctx = F.Context(
            source=d.source, county_code=d.county_code, feed=d.feed, file_name=d.path.name,
            period_start=period_start, period_end=period_end,
            now=datetime.now(TZ).replace(tzinfo=None), libraries=libraries,
            reader_ranges=reader_ranges, item_ranges=item_ranges,
            pseudo=Pseudonymiser(settings.pseudonym_key()),
            dialect=get_dialect(d.src.dialect) if d.feed == "circulation" else None,
            marc_profile=marc_profiles()[d.src.marc_flavour] if d.feed == "holdings" else None,
            marc_items=d.src.marc_items if d.feed == "holdings" else None,
            period_type=period_type,
        )
        # The batch's stamps are not sent with every row: raw's columns default to now() (= loaded_at, the start
        # of this transaction) and to these settings, which last as long as this transaction (raw.sql).
        meta = {"_batch_id": result.batch_id, "_source": d.source, "_file": d.path.name}
        conn.execute("select set_config('shuyun.batch_id', %s, true), set_config('shuyun.source', %s, true),"
                     " set_config('shuyun.file', %s, true)", (meta["_batch_id"], meta["_source"], meta["_file"]))
        by_rule: Counter[str] = Counter()
        file_level = None
        for prepared in prefetch(_prepare(d, ctx, meta)):
            _write(conn, prepared, table, result, by_rule)
            file_level = file_level or prepared.file_level
        result.quarantined_by_rule = dict(sorted(by_rule.items()))
        result.status = "rejected" if file_level else "loaded"
        summary = ", ".join(f"{k} {v:,}" for k, v in result.quarantined_by_rule.items())
        result.message = (f"file rejected: {file_level}" if file_level
                          else (f"quarantined: {summary}" if summary else ""))
        conn.execute(
            """update raw.ingest_batches set rows_read = %s, rows_loaded = %s, rows_quarantined = %s,
                   status = %s, message = %s, watermark = %s, finished_at = clock_timestamp() where batch_id = %s""",
            (result.rows_read, result.rows_loaded, result.rows_quarantined, result.status, result.message or None,
             watermark, result.batch_id),
        )
        if previous and result.status == "rejected":
            # a re-delivery refused as a whole does not wipe out the good delivery before it
            note = f"the earlier batch(es) {', '.join(p[:12] for p in previous)} stay loaded"
            result.message = f"{result.message}; {note}"
        elif previous:
            for old in previous:
                _delete_batch(conn, table, old)
            conn.execute("update raw.ingest_batches set status = 'superseded', superseded_by = %s "
                         "where batch_id = any(%s)", (result.batch_id, previous))
            note = f"replaces {len(previous)} earlier batch(es) of {d.path.name}"
            result.message = f"{result.message}; {note}" if result.message else note


@dataclass
class _Prepared:
    """One chunk, ready to COPY: CSV text of the good rows and of the quarantined rows."""

    good_csv: bytes | None
    good_columns: list[str]
    good_rows: int
    bad_csv: bytes | None
    rules: list[str]
    read: int
    file_level: str | None


def _prepare(d: Delivery, ctx: F.Context, meta: dict) -> Iterator[_Prepared]:
    try:
        for chunk in _chunks(d, ctx):
            yield _prepare_chunk(chunk, ctx, meta, chunk.file_level)
    except _FileLevel as fl:
        yield _prepare_chunk(fl.chunk, ctx, meta, fl.reason)


def _prepare_chunk(chunk: readers.Chunk, ctx: F.Context, meta: dict, file_level: str | None) -> _Prepared:
    bad_frames = []
    good_csv, good_columns, good_rows = None, [], 0
    if chunk.rejects:
        bad_frames.append(_reject_frame(chunk.rejects, ctx.pseudo))
    if len(chunk.lines):
        ctx.truncated_line = chunk.truncated_line
        frame = _frame(chunk.columns, chunk.lines, chunk.rows, chunk.data)
        split = F.TRANSFORMS[ctx.feed](frame, ctx, chunk)
        good = split.good  # _batch_id, _source, _file, _loaded_at: raw's column defaults (see _load)
        if good.height:
            good_csv, good_columns, good_rows = _csv_bytes(good), good.columns, good.height
        bad_frames.append(split.bad)
    bad = pl.concat(bad_frames) if bad_frames else pl.DataFrame(schema=F.BAD_SCHEMA)
    bad_csv = None
    if bad.height:
        bad = bad.with_columns(
            pl.lit(meta["_batch_id"]).alias("_batch_id"), pl.lit(meta["_source"]).alias("_source"),
            pl.lit(ctx.feed).alias("feed"), pl.lit(meta["_file"]).alias("_file"),
        ).select(QUARANTINE_COLUMNS)
        bad_csv = _csv_bytes(bad)
    return _Prepared(good_csv, good_columns, good_rows, bad_csv, bad["rule"].to_list(),
                     len(chunk.lines) + len(chunk.rejects), file_level)


def _write(conn, p: _Prepared, table: str, result: BatchResult, by_rule: Counter) -> None:
    if p.good_csv:
        _copy_text(conn, table, p.good_columns, p.good_csv)
    if p.bad_csv:
        _copy_text(conn, "quarantine.rejected_rows", list(QUARANTINE_COLUMNS), p.bad_csv)
    by_rule.update(p.rules)
    result.rows_loaded += p.good_rows
    result.rows_quarantined += len(p.rules)
    result.rows_read += p.read


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as CSV bytes for COPY (UTF-8 straight from polars: no str to encode again)."""
    out = io.BytesIO()
    frame.write_csv(out, include_header=False)
    return out.getvalue()


def _copy_text(conn, table: str, columns: list[str], text: bytes | str) -> None:
    with conn.cursor() as cur, cur.copy(f"copy {table} ({', '.join(columns)}) from stdin (format csv)") as copy:
        copy.write(text)


_DONE = object()


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """Run a generator in a thread, `depth` items ahead: the next chunk is read and checked (polars,
    GIL released) while the server COPYs the previous one. Errors surface in the caller's thread;
    a caller that stops early stops the producer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            put(err)
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    thread = threading.Thread(target=run, name="ingest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)


def _delete_batch(conn, table: str, batch_id: str) -> None:
    conn.execute(f"delete from {table} where _batch_id = %s", (batch_id,))
    conn.execute("delete from quarantine.rejected_rows where _batch_id = %s", (batch_id,))


def in_interval(day: date | None, interval: tuple[date, date] | None) -> bool:
    if interval is None:
        return True
    return day is not None and interval[0] <= day < interval[1]
