"""SQL pulls at the watermark's edge: a row committed after a pull with exactly the watermark's timestamp is
fetched by the next pull, and the rows already delivered at that timestamp are not loaded twice.
Against the machine's MariaDB and the test PostgreSQL, each holding a Koha-style statistics table."""

from __future__ import annotations

import os

import psycopg
import pytest
import yaml

from ingestion import run_source
from tests.ingestion.conftest import MARIADB_URL, WRITTEN_READERS, koha_statistics_table

COLUMNS = "datetime, branch, type, barcode, cardnumber, date_due, other"


class _Table:
    """A Koha-style statistics table in one database: insert rows, give the SQLAlchemy URL."""

    def __init__(self, url: str, insert):
        self.url, self._insert = url, insert

    def insert(self, rows: list[tuple]) -> None:
        self._insert(rows)
        WRITTEN_READERS.update(r[4] for r in rows if r[4])


@pytest.fixture
def mariadb_table():
    with koha_statistics_table("shuyun_edge_statistics") as (conn, name):

        def insert(rows):
            with conn.cursor() as cur:
                cur.executemany(f"insert into {name} values (%s, %s, %s, %s, %s, %s, %s)", rows)

        yield name, _Table(MARIADB_URL, insert)


@pytest.fixture
def postgres_table(warehouse_db):
    name = f"public.shuyun_edge_statistics_{os.getpid()}"
    conn = psycopg.connect(warehouse_db.conninfo(), autocommit=True)
    conn.execute(f"drop table if exists {name}")
    conn.execute(f"""create table {name} (datetime timestamp(0) not null, branch text not null, type text not null,
        barcode text not null, cardnumber text, date_due date, other text)""")

    def insert(rows):
        with conn.cursor() as cur:
            cur.executemany(f"insert into {name} values (%s, %s, %s, %s, %s, %s, %s)", rows)

    yield name, _Table(warehouse_db.url(), insert)
    conn.execute(f"drop table if exists {name}")
    conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_a_row_committed_later_at_the_watermark_is_pulled_once_and_nothing_twice(
        province, pg, tmp_path, monkeypatch, request, backend):
    # given a statistics table with two events, the later one at 09:10:00, and a source that pulls '>='
    name, table = request.getfixturevalue(f"{backend}_table")
    source = f"c532624_edge_{backend}"
    monkeypatch.setenv("SHUYUN_TEST_EDGE_URL", table.url)
    registry = tmp_path / "sources.yml"
    registry.write_text(yaml.safe_dump({"province": {"code": "530000"}, "sources": [{
        "name": source, "county_code": "532624", "county_name_zh": "测试县", "library_code": "532624000",
        "dialect": "koha", "encoding": "utf-8", "feeds": ["circulation"],
        "transport": {"kind": "sql", "url_env": "SHUYUN_TEST_EDGE_URL", "watermark_column": "datetime",
                      "initial_watermark": "2026-01-08 00:00:00",
                      "query": f"select {COLUMNS} from {name} where datetime >= :watermark order by datetime"},
    }]}, allow_unicode=True), encoding="utf-8")
    table.insert([
        ("2026-01-08 09:00:00", "532624003", "issue", "2624003000000401", "532624003000401", "2026-02-07", ""),
        ("2026-01-08 09:10:00", "532624003", "issue", "2624003000000402", "532624003000402", "2026-02-07", ""),
    ])
    [first] = run_source(source, registry_path=registry)
    assert (first.status, first.rows_read, first.rows_loaded) == ("loaded", 2, 2), first.ledger_line()

    # when a row with exactly the watermark's timestamp is committed after that pull, plus a later one
    table.insert([
        ("2026-01-08 09:10:00", "532624117", "renew", "2624117000000403", "532624117000403", "2026-02-07", "VAN"),
        ("2026-01-08 10:00:00", "532624000", "return", "2624000000000404", None, None, "SCO"),
    ])
    [second] = run_source(source, registry_path=registry)

    # then the next pull loads exactly those two (the 09:10:00 row delivered before is dropped, and said so)
    assert (second.status, second.rows_read, second.rows_loaded) == ("loaded", 2, 2), second.ledger_line()
    assert "skipped 1 row(s) at watermark 2026-01-08 09:10:00" in second.message
    [third] = run_source(source, registry_path=registry)
    assert third.status == "already_loaded" and "1 row(s) at the watermark already loaded" in third.message

    # and raw holds every row of the table exactly once
    loaded = pg.execute("select item_barcode, count(*) from raw.circulation_events where _source = %s "
                        "group by item_barcode order by item_barcode", (source,)).fetchall()
    assert loaded == [("2624000000000404", 1), ("2624003000000401", 1), ("2624003000000402", 1),
                      ("2624117000000403", 1)]
    marks = pg.execute("select watermark from raw.ingest_batches where source = %s and status = 'loaded' "
                       "order by started_at", (source,)).fetchall()
    assert marks == [("2026-01-08 09:10:00",), ("2026-01-08 10:00:00",)]
