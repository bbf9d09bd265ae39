"""A small hand-made province for the ingestion tests, written per docs/feeds.md.

Four county systems (one per dialect/encoding), a registry with libraries and barcode ranges, and
helpers that write deliveries in each dialect from canonical events. Every reader barcode a test
writes is remembered in `WRITTEN_READERS`, so the privacy test can scan the warehouse for all of them.
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from ingestion.sources import get_dialect

KEY = "test-pseudonym-key-not-a-secret"
DAY = "20260115"
WRITTEN_READERS: set[str] = set()

COUNTIES = {  # source -> (county code, name, dialect, encoding)
    "c532622": ("532622", "砚山县", "interlib", "gbk"),
    "c532623": ("532623", "西畴县", "libsys", "utf-8-sig"),
    "c532624": ("532624", "麻栗坡县", "koha", "utf-8"),
    "c532625": ("532625", "马关县", "interlib", "gb18030"),
}
LIBRARY_HEADER = ("library_code,name_zh,name_en,level,parent_code,division_code,population_served,valid_from,"
                  "valid_to,floor_area_m2,seats,children_seats,networked_pcs,weekly_open_hours,staff,periodicals,"
                  "source_system")


def library_rows() -> list[str]:
    rows = ["532600000,文山州图书馆,Wenshan Prefecture Library,prefecture,,532600,3500000,2010-01-01,,8000,600,100,"
            "60,63,40,400,interlib"]
    for county, name, _, _ in COUNTIES.values():
        rows.append(f"{county}000,{name}图书馆,,county,532600000,{county},480000,2015-01-01,,5200,400,80,40,56,"
                    f"12,200,ils")
        rows.append(f"{county}003,{name}第三分馆,,branch,{county}000,{county}103,30000,2018-03-01,,160,32,10,2,"
                    f"42,2,30,ils")
        rows.append(f"{county}117,{name}新村服务点,,service_point,{county}003,{county}103,3000,2019-05-01,,100,"
                    f"20,5,1,35,1,10,")
    return rows


def range_rows() -> list[str]:
    rows = []
    for county, *_ in COUNTIES.values():
        for sub in ("000", "003", "117"):
            rows.append(f"reader,{county}{sub}000001,{county}{sub}999999,{county}{sub}")
            rows.append(f"item,{county[2:]}{sub}000000001,{county[2:]}{sub}999999999,{county}{sub}")
    return rows


@pytest.fixture(scope="package")
def province(tmp_path_factory, warehouse_env) -> Path:
    """The test province on disk, its registry loaded into the session's test database."""
    root = tmp_path_factory.mktemp("province")
    mp = pytest.MonkeyPatch()
    mp.setenv("SHUYUN_SOURCES", str(root / "sources.yml"))
    mp.setenv("SHUYUN_PSEUDONYM_KEY", KEY)
    mp.setenv("SHUYUN_ARCHIVE_DIR", str(root / "archive"))
    mp.delenv("SHUYUN_PSEUDONYM_KEY_FILE", raising=False)
    sources = []
    for name, (county, zh, dialect, encoding) in COUNTIES.items():
        sources.append({
            "name": name, "county_code": county, "county_name_zh": zh, "library_code": f"{county}000",
            "dialect": dialect, "encoding": encoding,
            "transport": {"kind": "file_drop", "path": f"landing/{name}"},
            "feeds": ["circulation", "visits", "holdings", "activities", "rotations", "monthly_report"],
            "marc_items": {"tag": "949", "owning": "a", "current": "b", "barcode": "i", "acquired": "d",
                           "withdrawn": "w", "status": "s"},
            "schedule": "@daily", "credentials_env": None,
        })
    (root / "sources.yml").write_text(yaml.safe_dump(
        {"province": {"code": "530000", "name_zh": "云南省"}, "sources": sources}, allow_unicode=True),
        encoding="utf-8")
    reg = root / "registry"
    reg.mkdir()
    (reg / "libraries.csv").write_text("\n".join([LIBRARY_HEADER, *library_rows()]) + "\n", encoding="utf-8")
    (reg / "barcode_ranges.csv").write_text(
        "\n".join(["kind,first_barcode,last_barcode,library_code", *range_rows()]) + "\n", encoding="utf-8")

    from ingestion import load_registry

    results = load_registry(reg)
    assert [r.status for r in results] in (["loaded", "loaded"], ["already_loaded", "already_loaded"]), \
        [r.ledger_line() for r in results]
    yield root
    _cleanup(warehouse_env, str(root / "archive"))
    mp.undo()


def _cleanup(owner, archive_prefix: str) -> None:
    """Remove every batch these tests made, so other suites sharing the session database start clean."""
    tables = ("raw.circulation_events", "raw.visitor_counts", "raw.holdings_items", "raw.monthly_reports",
              "raw.activities", "raw.rotations", "raw.libraries", "raw.barcode_ranges", "quarantine.rejected_rows")
    with psycopg.connect(owner.conninfo(), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("select batch_id from raw.ingest_batches where archived_path like %s",
                                          (archive_prefix + "%",))]
        for table in tables:
            conn.execute(f"delete from {table} where _batch_id = any(%s)", (ids,))
        conn.execute("delete from raw.ingest_batches where batch_id = any(%s) or archived_path like %s",
                     (ids, archive_prefix + "%"))


# ------------------------------------------------------------------------------------------- writers

@dataclass
class Event:
    id: str
    type: str  # loan | return | renew
    at: datetime
    library: str
    item: str
    reader: str  # "" = blank
    due: str  # YYYY-MM-DD or ""
    channel: str = "desk"


def render_circulation(dialect_name: str, events: list[Event]) -> list[str]:
    """Lines (header first) of a circulation export in the dialect, from canonical events —
    the reverse of the dialect's configuration, so the test and the config cannot drift apart."""
    d = get_dialect(dialect_name)
    codes = {v: k for k, v in d.event_codes.items()}
    channels = {v: k for k, v in d.channels.items()}
    date_fmt = d.date_format
    lines = [",".join(d.header)]
    for e in events:
        WRITTEN_READERS.add(e.reader) if e.reader else None
        at = e.at.strftime(d.timestamp_format.replace("%:z", "+08:00"))
        due = datetime.strptime(e.due, "%Y-%m-%d").strftime(date_fmt) if e.due else ""
        values = {"source_event_id": e.id, "event_type": codes.get(e.type, e.type), "event_at": at,
                  "library_code": e.library, "item_barcode": e.item, "reader_barcode": e.reader,
                  "due_date": due, "channel": channels.get(e.channel, e.channel)}
        by_column = {src: values[canon] for canon, src in d.columns.items() if src}
        lines.append(",".join(by_column[h] for h in d.header))
    return lines


def write_lines(path: Path, lines: list[str], encoding: str, *, final_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\r\n".join(lines) + ("\r\n" if final_newline else "")
    path.write_bytes(text.encode(encoding))
    return path


def clean_events(county: str, n: int = 5, day: str = DAY, prefix: str = "E") -> list[Event]:
    base = datetime.strptime(day, "%Y%m%d").replace(hour=9)
    kinds = ["loan", "return", "renew", "loan", "return"]
    channels = ["desk", "self_check", "van", "desk", "self_check"]
    events = []
    for i in range(n):
        lib = f"{county}{('003', '000', '117')[i % 3]}"
        reader_lib = f"{county}{('000', '003', '117')[i % 3]}"
        kind = kinds[i % 5]
        events.append(Event(
            id=f"{prefix}{county}{day}{i:05d}", type=kind, at=base.replace(minute=i % 60, second=7), library=lib,
            item=f"{county[2:]}{('003', '000', '117')[(i + 1) % 3]}{100 + i:09d}",
            reader=f"{reader_lib}{i + 1 + int(day[-2:]) * 1000:06d}",
            due="2026-02-14" if kind != "return" else "", channel=channels[i % 5]))
    return events


def csv_lines(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> list[str]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().splitlines()


def landing(root: Path, source: str, feed: str) -> Path:
    path = root / "landing" / source / feed
    path.mkdir(parents=True, exist_ok=True)
    return path


MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


@contextmanager
def koha_statistics_table(prefix: str):
    """A Koha-style `statistics` table in the machine's MariaDB (root, database test), dropped afterwards; the
    test is skipped with the reason when MariaDB is unreachable. Yields (connection, table name)."""
    import os

    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                               connect_timeout=3, autocommit=True)
    except pymysql.MySQLError as err:
        pytest.skip(f"MariaDB at 127.0.0.1:3306 (root, database test) is unreachable: {err}")
    table = f"{prefix}_{os.getpid()}"
    with conn.cursor() as cur:
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"""create table {table} (
            datetime datetime not null, branch varchar(10) not null, type varchar(16) not null,
            barcode varchar(20) not null, cardnumber varchar(32), date_due date, other varchar(8))
            character set utf8mb4""")
    try:
        yield conn, table
    finally:
        with conn.cursor() as cur:
            cur.execute(f"drop table if exists {table}")
        conn.close()
