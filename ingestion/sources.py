"""The source registry (sources.yml) and the dialect configurations (ingestion/dialects/*.yml).

A source is one county system that delivers feeds. Its entry names the circulation dialect, the
encoding of its circulation exports, how files arrive (transport) and where items sit in its MARC.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import yaml

from ingestion import periods
from shuyun import settings

DIALECT_DIR = Path(__file__).resolve().parent / "dialects"

FEEDS = ("circulation", "visits", "holdings", "activities", "rotations", "monthly_report")
REGISTRY_FEEDS = ("libraries", "barcode_ranges")
ENCODINGS = ("gbk", "gb18030", "utf-8-sig", "utf-8")

# file-drop naming per feed: <landing>/<feed>/<pattern>; the captured digits date the delivery
FILE_PATTERNS = {
    "circulation": re.compile(r"^circ_(\d{8})\.csv$"),
    "visits": re.compile(r"^gate_(\d{8})\.csv$"),
    "holdings": re.compile(r"^holdings_(\d{8})\.(?:mrc|xml|marcxml)$"),
    "activities": re.compile(r"^activities_(\d{6})\.csv$"),
    "rotations": re.compile(r"^rotations_(\d{6})\.csv$"),
    "monthly_report": periods.FILE_NAME,  # report_YYYYMM, report_YYYYQn or report_YYYY (ingestion/periods.py)
}
DEFAULT_MARC_ITEMS = {"tag": "949", "owning": "a", "current": "b", "barcode": "i", "acquired": "d",
                      "withdrawn": "w", "status": "s"}


class RegistryError(ValueError):
    """sources.yml (or a dialect file) is not what it should be; the message says where."""


@dataclass(frozen=True)
class Dialect:
    name: str
    default_encoding: str
    header: tuple[str, ...]
    columns: dict[str, str | None]
    event_codes: dict[str, str]
    timestamp_format: str
    timestamp_has_offset: bool
    date_format: str
    channels: dict[str, str]
    event_id_from_line_hash: bool = False


@dataclass(frozen=True)
class Source:
    name: str
    county_code: str
    county_name_zh: str
    library_code: str
    dialect: str
    encoding: str
    transport: dict
    feeds: tuple[str, ...]
    marc_items: dict = field(default_factory=lambda: dict(DEFAULT_MARC_ITEMS))
    marc_flavour: str = "marc21"
    marc_encoding: str | None = None  # forced encoding for MARC (e.g. gbk for CNMARC); None = leader/09
    schedule: str | None = "@daily"
    credentials_env: str | None = None
    base_dir: Path = Path(".")

    @property
    def landing_dir(self) -> Path | None:
        if self.transport.get("kind") != "file_drop":
            return None
        return (self.base_dir / self.transport["path"]).resolve()


def default_registry_path() -> Path:
    env = os.environ.get("SHUYUN_SOURCES")
    return Path(env).resolve() if env else settings.demo_dir() / "sources.yml"


def registry_dir(registry_path: Path | None = None) -> Path:
    """Folder with libraries.csv and barcode_ranges.csv: `registry/` beside sources.yml."""
    return (registry_path or default_registry_path()).parent / "registry"


def load_sources(registry_path: Path | None = None) -> tuple[dict, list[Source]]:
    path = Path(registry_path or default_registry_path())
    if not path.exists():
        raise RegistryError(f"{path}: the source registry does not exist (set SHUYUN_SOURCES or generate the demo)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise RegistryError(f"{path}: not valid YAML ({err})") from err
    sources = []
    for i, entry in enumerate(doc.get("sources") or [], start=1):
        where = f"{path}: source #{i}"
        try:
            name = entry["name"]
            feeds = tuple(entry.get("feeds") or FEEDS)
            unknown = set(feeds) - set(FEEDS)
            if unknown:
                raise RegistryError(f"{where} ({name}): unknown feed(s) {sorted(unknown)}; expected some of {FEEDS}")
            dialect = entry.get("dialect", "interlib")
            get_dialect(dialect)  # fail early on an unknown dialect
            encoding = entry.get("encoding") or get_dialect(dialect).default_encoding
            if encoding not in ENCODINGS:
                raise RegistryError(f"{where} ({name}): encoding {encoding!r} is not one of {ENCODINGS}")
            items = dict(DEFAULT_MARC_ITEMS)
            items.update(entry.get("marc_items") or {})
            sources.append(Source(
                name=name,
                county_code=str(entry["county_code"]),
                county_name_zh=entry.get("county_name_zh", ""),
                library_code=str(entry.get("library_code") or f"{entry['county_code']}000"),
                dialect=dialect,
                encoding=encoding,
                transport=dict(entry.get("transport") or {"kind": "file_drop", "path": f"landing/{name}"}),
                feeds=feeds,
                marc_items=items,
                marc_flavour=entry.get("marc_flavour", "marc21"),
                marc_encoding=entry.get("marc_encoding"),
                schedule=entry.get("schedule", "@daily"),
                credentials_env=entry.get("credentials_env"),
                base_dir=path.parent.resolve(),
            ))
        except KeyError as err:
            raise RegistryError(f"{where}: required key {err.args[0]!r} is missing") from err
    return doc.get("province") or {}, sources


def get_source(name: str, registry_path: Path | None = None) -> Source:
    _, sources = load_sources(registry_path)
    for source in sources:
        if source.name == name:
            return source
    known = ", ".join(s.name for s in sources) or "none"
    raise RegistryError(f"unknown source {name!r} (registered: {known})")


@cache
def get_dialect(name: str) -> Dialect:
    path = DIALECT_DIR / f"{name}.yml"
    if not path.exists() or name == "marc":
        known = sorted(p.stem for p in DIALECT_DIR.glob("*.yml") if p.stem != "marc")
        raise RegistryError(f"unknown dialect {name!r}: no {path.name} in ingestion/dialects (known: {known})")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        return Dialect(
            name=doc["name"],
            default_encoding=doc.get("default_encoding", "utf-8"),
            header=tuple(doc["header"]),
            columns=dict(doc["columns"]),
            event_codes={str(k): v for k, v in doc["event_codes"].items()},
            timestamp_format=doc["timestamp_format"],
            timestamp_has_offset=bool(doc.get("timestamp_has_offset", False)),
            date_format=doc["date_format"],
            channels={("" if k is None else str(k)): v for k, v in doc["channels"].items()},
            event_id_from_line_hash=bool(doc.get("event_id_from_line_hash", False)),
        )
    except KeyError as err:
        raise RegistryError(f"{path}: required key {err.args[0]!r} is missing") from err


@cache
def marc_profiles() -> dict:
    return yaml.safe_load((DIALECT_DIR / "marc.yml").read_text(encoding="utf-8"))


def file_date(feed: str, name: str) -> date | None:
    """The date a delivery is for, from its file name (first of the month for monthly files; first day of the
    quarter or year for statistics forms of those periods)."""
    if feed == "monthly_report":
        period = periods.from_file_name(name)
        return period.start if period else None
    pattern = FILE_PATTERNS.get(feed)
    match = pattern.match(name) if pattern else None
    if not match:
        match = re.search(r"(?<!\d)(\d{8}|\d{6})(?!\d)", name)
        if not match:
            return None
    digits = match.group(1)
    try:
        if len(digits) == 8:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        return date(int(digits[:4]), int(digits[4:6]), 1)
    except ValueError:
        return None
