"""What every adapter writes and how it loads it: registry CSVs and statistics forms, as the contract in
docs/feeds.md describes them, handed to `loader.ingest_delivery` like any file drop."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from ingestion.feeds import FORM_NUMBERS, HEADERS
from ingestion.loader import BatchResult, Delivery, archive_dir, ingest_delivery
from ingestion.readers import FORM_COLUMNS

FORM_HEADER = list(FORM_COLUMNS)  # Chinese headers, in the form's order
FORM_CANONICAL = list(FORM_COLUMNS.values())


class AdapterError(ValueError):
    """The third-party file cannot be adapted at all (missing, wrong columns); the message says which and why."""


def work_dir(adapter: str) -> Path:
    """Where an adapter writes the deliveries it makes: beside the archive (`<home>/adapted/<adapter>`)."""
    path = archive_dir().parent / "adapted" / adapter
    path.mkdir(parents=True, exist_ok=True)
    return path


def decode(path: Path) -> tuple[str, str]:
    """(text, encoding) of a third-party CSV: UTF-8 (a BOM dropped) when it is valid UTF-8, else Windows-1252
    (what US government exports of that age are; every byte decodes, so nothing is lost silently)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise AdapterError(f"{path}: cannot read the file ({err.strerror or err})") from None
    try:
        return data.decode("utf-8-sig"), "utf-8" + ("-sig" if data.startswith(b"\xef\xbb\xbf") else "")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def read_rows(path: Path, required: Iterable[str]) -> tuple[list[dict[str, str]], str]:
    """Rows of a CSV as dicts (header names stripped), checking the columns an adapter needs."""
    text, encoding = decode(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))  # csv splits rows, not str.splitlines (U+2028…)
    reader.fieldnames = [(f or "").strip() for f in reader.fieldnames or []]
    missing = [c for c in required if c not in reader.fieldnames]
    if missing:
        raise AdapterError(f"{path}: column(s) {', '.join(missing)} missing (header: {','.join(reader.fieldnames)})")
    return list(reader), encoding


def write_libraries(path: Path, rows: list[dict]) -> Path:
    """registry/libraries.csv (UTF-8) with the template's columns; absent keys are blank."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADERS["libraries"])
        writer.writerows([_cell(row.get(c)) for c in HEADERS["libraries"]] for row in rows)
    return path


def write_form(path: Path, title: str, rows: list[dict]) -> Path:
    """A statistics form as CSV (the layout of ingestion/templates/report_template_zh.csv): title, Chinese
    headers, one row per library (canonical keys; absent figures blank = not reported), 合计 row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    totals = ["合计", ""]
    for column in FORM_CANONICAL[2:]:
        values = [row[column] for row in rows if row.get(column) not in (None, "")]
        total = sum(float(v) for v in values) if values else None
        totals.append(_cell(int(total) if total is not None and FORM_NUMBERS[column] else total))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([title])
        writer.writerow(FORM_HEADER)
        writer.writerows([_cell(row.get(c)) for c in FORM_CANONICAL] for row in rows)
        writer.writerow(totals)
    return path


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def load_registry(path: Path, source: str) -> BatchResult:
    """A registry file of one adapter source: replaces that source's earlier registry, nobody else's."""
    return ingest_delivery(Delivery(path, "libraries", source, None), supersede_feed=True)


def load_form(path: Path, source: str, county_code: str) -> BatchResult:
    return ingest_delivery(Delivery(path, "monthly_report", source, county_code))
