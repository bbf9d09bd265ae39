"""The ingestion API (Airflow tasks and `shuyun ingest` call these; keep the names)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from ingestion import periods, transports
from ingestion.feeds import period_of
from ingestion.loader import REGISTRY_SOURCE, BatchResult, Delivery, in_interval, ingest_delivery
from ingestion.sources import (
    FEEDS,
    FILE_PATTERNS,
    REGISTRY_FEEDS,
    RegistryError,
    Source,
    default_registry_path,
    file_date,
    get_source,
    load_sources,
)
from ingestion.sources import (
    registry_dir as default_registry_dir,
)

log = logging.getLogger(__name__)
MONTHLY_FEEDS = ("activities", "rotations", "monthly_report")
REGISTRY_FILES = {"libraries": "libraries.csv", "barcode_ranges": "barcode_ranges.csv"}


def list_sources(registry_path: Path | None = None) -> list[Source]:
    """Every source in sources.yml (default `$SHUYUN_SOURCES`, else `<demo dir>/sources.yml`)."""
    return load_sources(registry_path)[1]


def load_registry(registry_dir: Path | None = None) -> list[BatchResult]:
    """registry/libraries.csv → raw.libraries, then registry/barcode_ranges.csv → raw.barcode_ranges.

    Same ledger and idempotency as every feed; a changed registry file replaces the previous one
    (all earlier batches of that feed are superseded, whatever their file name).
    """
    folder = Path(registry_dir) if registry_dir else default_registry_dir()
    results = []
    for feed in REGISTRY_FEEDS:
        path = folder / REGISTRY_FILES[feed]
        if not path.exists():
            results.append(BatchResult("", REGISTRY_SOURCE, feed, path.name, status="failed",
                                       message=f"{path}: registry file not found"))
            continue
        results.append(ingest_delivery(Delivery(path, feed, REGISTRY_SOURCE, None), supersede_feed=True))
    return results


def ingest_file(path: Path, feed: str, source_name: str, *, registry_path: Path | None = None) -> BatchResult:
    """Load one delivered file of `source_name` as `feed` (registry feeds: source 'registry')."""
    path = Path(path)
    if feed in REGISTRY_FEEDS:
        return ingest_delivery(Delivery(path, feed, REGISTRY_SOURCE, None), supersede_feed=True)
    if feed not in FEEDS:
        return BatchResult("", source_name, feed, path.name, status="failed",
                           message=f"unknown feed {feed!r}; expected one of {', '.join(FEEDS + REGISTRY_FEEDS)}")
    try:
        src = get_source(source_name, registry_path)
    except RegistryError as err:
        return BatchResult("", source_name, feed, path.name, status="failed", message=str(err))
    return ingest_delivery(Delivery(path, feed, src.name, src.county_code, src))


def overlaps(feed: str, day: date | None, interval: tuple[date, date] | None, kind: str = "month") -> bool:
    """Does the period a file is for meet [start, end)? Daily files: their day lies in it. Monthly files
    (activities, rotations, monthly_report): their month overlaps it, so a daily run anywhere in the
    month picks up the month's file (again and again `already_loaded` once loaded, which costs a hash).
    A quarterly or annual statistics form (`kind`) overlaps the runs of every day of its quarter or year."""
    if interval is None:
        return True
    if day is None:
        return False
    if feed in MONTHLY_FEEDS:
        start, end = period_of(feed, day, kind)
        return start < interval[1] and interval[0] < end
    return in_interval(day, interval)


def _overlaps_file(feed: str, name: str, interval: tuple[date, date] | None) -> bool:
    if feed == "monthly_report":
        period = periods.from_file_name(name)
        return overlaps(feed, period.start if period else None, interval, period.kind if period else "month")
    return overlaps(feed, file_date(feed, name), interval)


def delivered_files(src: Source, feed: str, interval: tuple[date, date] | None = None) -> list[Path]:
    """Files of one feed, oldest first, meeting [start, end) when given: in the source's landing folder (file
    drop), or copied down from its object store (raises transports.PullError when the store cannot be read)."""
    if src.transport.get("kind") == "object_store":
        files = transports.fetch_objects(src, feed, lambda name: _delivered(feed, name, interval))
    else:
        folder = src.landing_dir / feed if src.landing_dir else None
        if folder is None or not folder.is_dir():
            return []
        files = [p for p in folder.iterdir() if p.is_file() and _delivered(feed, p.name, interval)]
    return sorted(files, key=lambda p: (file_date(feed, p.name) or date.min, p.name))


def _delivered(feed: str, name: str, interval: tuple[date, date] | None) -> bool:
    """A delivery of `feed` by its name (FILE_PATTERNS), dated in the interval when one is given."""
    return FILE_PATTERNS[feed].match(name) is not None and _overlaps_file(feed, name, interval)


def run_source(source_name: str, feeds: list[str] | None = None, *, registry_path: Path | None = None,
               interval: tuple[date, date] | None = None) -> list[BatchResult]:
    """Ingest every not-yet-loaded delivery of a source (file drop: `<landing>/<feed>/…`; object store:
    `<url>/<feed>/…`, copied locally first; SQL and HTTP pulls: see transports.py).

    With `interval`, only files whose name dates them in [start, end) (monthly files: whose month
    overlaps it). Files already loaded come back as `already_loaded`; one bad file never stops the others.
    """
    src = get_source(source_name, registry_path or default_registry_path())
    wanted = list(feeds) if feeds else list(src.feeds)
    unknown = [f for f in wanted if f not in FEEDS]
    if unknown:
        raise RegistryError(f"unknown feed(s) {unknown}; expected some of {FEEDS}")
    kind = src.transport.get("kind", "file_drop")
    if kind in ("sql", "http_json"):
        return _pull(src, wanted, interval)
    if kind not in ("file_drop", "object_store"):
        raise RegistryError(f"source {src.name}: transport {kind!r} is not one of file_drop, object_store, sql, "
                            "http_json")
    results = []
    for feed in wanted:
        if feed not in src.feeds:
            continue
        try:
            paths = delivered_files(src, feed, interval)
        except transports.PullError as err:  # an object store that cannot be read: this feed fails, the others go on
            results.append(BatchResult("", src.name, feed, f"({src.transport.get('url')}/{feed})",
                                       status="failed", message=str(err)))
            continue
        for path in paths:
            try:
                results.append(ingest_delivery(Delivery(path, feed, src.name, src.county_code, src)))
            except Exception as err:  # ingest_delivery already turns errors into results; belt and braces
                log.exception("%s", path)
                results.append(BatchResult("", src.name, feed, path.name, status="failed",
                                           message=f"{type(err).__name__}: {err}"))
    return results


def _pull(src: Source, feeds: list[str], interval: tuple[date, date] | None) -> list[BatchResult]:
    kind = src.transport["kind"]
    results = []
    for feed in feeds:
        if feed not in src.feeds:
            continue
        if kind == "sql":
            if feed != "circulation":
                continue
            results.append(transports.pull_sql(src, feed))
        elif feed == "visits":
            results += [transports.pull_http(src, day, feed) for day in transports.days(interval)]
    return results
