"""Pull transports: SQL (Koha-style table on the machine's MariaDB) with watermark resume, and an HTTP
JSON gate counter served by a local http.server, and an object-store drop on a local S3 server (moto)."""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from ingestion import run_source
from tests.ingestion.conftest import (
    MARIADB_URL,
    WRITTEN_READERS,
    clean_events,
    koha_statistics_table,
    render_circulation,
)


def _registry(tmp_path, name: str, county: str, dialect: str, transport: dict, feeds: list[str],
              encoding: str = "utf-8"):
    path = tmp_path / "sources.yml"
    path.write_text(yaml.safe_dump({"province": {"code": "530000"}, "sources": [{
        "name": name, "county_code": county, "county_name_zh": "测试县", "library_code": f"{county}000",
        "dialect": dialect, "encoding": encoding, "transport": transport, "feeds": feeds}]}, allow_unicode=True),
        encoding="utf-8")
    return path


@pytest.fixture
def koha_table():
    with koha_statistics_table("shuyun_koha_statistics") as (conn, table):
        yield conn, table


def _insert(conn, table: str, rows: list[tuple]) -> None:
    with conn.cursor() as cur:
        cur.executemany(f"insert into {table} values (%s, %s, %s, %s, %s, %s, %s)", rows)
    for r in rows:
        if r[4]:
            WRITTEN_READERS.add(r[4])


@pytest.mark.slow
def test_sql_pull_loads_new_rows_and_resumes_from_the_watermark(province, pg, tmp_path, koha_table, monkeypatch):
    # given a Koha-style statistics table with three events, and a source that pulls it
    conn, table = koha_table
    monkeypatch.setenv("SHUYUN_TEST_KOHA_URL", MARIADB_URL)
    registry = _registry(tmp_path, "c532624_sql", "532624", "koha", {
        "kind": "sql", "url_env": "SHUYUN_TEST_KOHA_URL", "watermark_column": "datetime",
        "initial_watermark": "2026-01-01 00:00:00",
        "query": f"select datetime, branch, type, barcode, cardnumber, date_due, other from {table} "
                 "where datetime > :watermark order by datetime"}, ["circulation"])
    _insert(conn, table, [
        ("2026-01-08 09:00:00", "532624003", "issue", "2624003000000301", "532624003000301", "2026-02-07", ""),
        ("2026-01-08 09:05:00", "532624003", "return", "2624003000000302", None, None, "SCO"),
        ("2026-01-08 09:10:00", "532624117", "renew", "2624117000000303", "532624117000303", "2026-02-07", "VAN"),
    ])

    # when the source runs
    first = run_source("c532624_sql", registry_path=registry)

    # then the three events are loaded and the ledger remembers the newest timestamp as the watermark
    assert [(r.status, r.rows_read, r.rows_loaded) for r in first] == [("loaded", 3, 3)], first[0].ledger_line()
    mark = pg.execute("select watermark from raw.ingest_batches where batch_id = %s", (first[0].batch_id,)).fetchone()
    assert mark == ("2026-01-08 09:10:00",)

    # when two more events arrive (one with a reader card outside every range) and the source runs again
    _insert(conn, table, [
        ("2026-01-08 10:00:00", "532624000", "issue", "2624000000000304", "532624000000304", "2026-02-07", ""),
        ("2026-01-08 10:01:00", "532624000", "issue", "2624000000000305", "532699000000305", "2026-02-07", ""),
    ])
    second = run_source("c532624_sql", registry_path=registry)

    # then only the new rows are read; and a third run finds nothing newer
    assert [(r.status, r.rows_read, r.rows_loaded, r.rows_quarantined) for r in second] == [("loaded", 2, 1, 1)]
    third = run_source("c532624_sql", registry_path=registry)
    assert third[0].status == "already_loaded" and "2026-01-08 10:01:00" in third[0].message
    total = pg.execute("select count(*) from raw.circulation_events where _source = 'c532624_sql'").fetchone()[0]
    assert total == 4


def test_sql_pull_with_unreachable_database_fails_plainly(province, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUYUN_TEST_BAD_URL", "mysql+pymysql://root@127.0.0.1:1/test?connect_timeout=2")
    registry = _registry(tmp_path, "c532624_down", "532624", "koha", {
        "kind": "sql", "url_env": "SHUYUN_TEST_BAD_URL", "query": "select 1 as datetime"}, ["circulation"])
    [result] = run_source("c532624_down", registry_path=registry)
    assert result.status == "failed" and "OperationalError" in result.message


class _Counter(BaseHTTPRequestHandler):
    days: dict[str, list[dict] | None] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        day = parse_qs(urlsplit(self.path).query).get("date", [""])[0]
        body = self.days.get(day)
        if body is None:
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def counter_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_gate_counter_pull_loads_each_day_and_one_failing_day_does_not_stop_the_others(
        province, pg, tmp_path, counter_server):
    # given a gate counter that answers for 20 and 22 January and errors for the 21st
    _Counter.days = {
        "2026-01-20": [{"device_id": "G1", "library_code": "532623000", "hour_start": "2026-01-20 09:00",
                        "in_count": 31, "out_count": 12},
                       {"device_id": "G1", "library_code": "532623000", "hour_start": "2026-01-20 10:00",
                        "in_count": -2, "out_count": 12}],
        "2026-01-21": None,
        "2026-01-22": [{"device_id": "G2", "library_code": "532623003", "hour_start": "2026-01-22 15:00",
                        "in_count": 7, "out_count": None}],
    }
    port = counter_server.server_address[1]
    registry = _registry(tmp_path, "c532623_gate", "532623", "libsys", {
        "kind": "http_json", "url": f"http://127.0.0.1:{port}/api/counts?date={{date}}"}, ["visits"])

    # when the source runs for the three days
    results = run_source("c532623_gate", registry_path=registry, interval=(date(2026, 1, 20), date(2026, 1, 23)))

    # then two days load (the negative count quarantined), the failing day is reported, and a re-run is a no-op
    assert [(r.file, r.status, r.rows_loaded, r.rows_quarantined) for r in results] == [
        ("gate_20260120.csv", "loaded", 1, 1), ("gate_20260121.csv", "failed", 0, 0),
        ("gate_20260122.csv", "loaded", 1, 0)]
    assert "500" in results[1].message
    again = run_source("c532623_gate", registry_path=registry, interval=(date(2026, 1, 20), date(2026, 1, 21)))
    assert [r.status for r in again] == ["already_loaded"]


# ------------------------------------------------------------------ object storage (S3 API, moto's server)

@pytest.fixture
def s3_store(monkeypatch):
    """A real S3-compatible HTTP server on a free local port (moto), and its options in an environment
    variable as a county's registry entry would name it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"key": "county-key", "secret": "county-secret", "endpoint_url": f"http://{host}:{port}"}
    monkeypatch.setenv("SHUYUN_TEST_S3_OPTIONS", json.dumps(options))
    import fsspec

    # moto keeps its buckets per process, not per server: start from none
    urllib.request.urlopen(urllib.request.Request(f"{options['endpoint_url']}/moto-api/reset", method="POST"))
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir("shuyun-landing")
    yield fs
    server.stop()


def _interlib_gbk(events) -> bytes:
    return "\r\n".join(render_circulation("interlib", events)).encode("gbk") + b"\r\n"


def test_object_store_drop_loads_each_object_once_and_replaces_a_corrected_one(province, pg, tmp_path, s3_store):
    # given a county bucket prefix with two days of GBK interlib files (one bad row), an object outside the
    # interval and one that is not a delivery
    events = {day: clean_events("532622", n=4, day=day, prefix=f"S3{day}") for day in ("20260120", "20260121")}
    events["20260121"][0].library = "532699999"  # not in the registry → quarantined
    for day, day_events in events.items():
        s3_store.pipe(f"shuyun-landing/c532622/circulation/circ_{day}.csv", _interlib_gbk(day_events))
    s3_store.pipe("shuyun-landing/c532622/circulation/circ_20260125.csv",
                  _interlib_gbk(clean_events("532622", n=2, day="20260125", prefix="S3late")))
    s3_store.pipe("shuyun-landing/c532622/circulation/README.txt", b"not a delivery")
    registry = _registry(tmp_path, "c532622_s3", "532622", "interlib", {
        "kind": "object_store", "url": "s3://shuyun-landing/c532622", "options_env": "SHUYUN_TEST_S3_OPTIONS"},
        ["circulation"], encoding="gbk")
    with open(registry, encoding="utf-8") as fh:  # the registry names the variable, never the credential
        assert "county-secret" not in fh.read()
    interval = (date(2026, 1, 20), date(2026, 1, 23))

    # when the source runs for the interval
    results = run_source("c532622_s3", registry_path=registry, interval=interval)

    # then the two objects of the interval are loaded as deliveries, the bad row quarantined with its rule
    assert [(r.file, r.status, r.rows_read, r.rows_loaded, r.rows_quarantined) for r in results] == [
        ("circ_20260120.csv", "loaded", 4, 4, 0), ("circ_20260121.csv", "loaded", 4, 3, 1)]
    assert results[1].quarantined_by_rule == {"unknown_library": 1}
    loaded = pg.execute("select count(*) from raw.circulation_events where _source = 'c532622_s3'").fetchone()[0]
    assert loaded == 7

    # and a second run loads nothing again
    assert [r.status for r in run_source("c532622_s3", registry_path=registry, interval=interval)] == [
        "already_loaded", "already_loaded"]

    # and a corrected object replaces its batch (the bad row fixed): nothing is counted twice
    events["20260121"][0].library = "532622000"
    s3_store.pipe("shuyun-landing/c532622/circulation/circ_20260121.csv", _interlib_gbk(events["20260121"]))
    again = run_source("c532622_s3", registry_path=registry, interval=(date(2026, 1, 21), date(2026, 1, 22)))
    assert [(r.status, r.rows_loaded) for r in again] == [("loaded", 4)] and "replaces 1" in again[0].message
    loaded = pg.execute("select count(*) from raw.circulation_events where _source = 'c532622_s3'").fetchone()[0]
    assert loaded == 8


def test_object_store_problems_are_one_plain_failed_result(province, tmp_path, s3_store, monkeypatch):
    transport = {"kind": "object_store", "url": "s3://no-such-bucket/c532622", "options_env": "SHUYUN_TEST_S3_OPTIONS"}
    registry = _registry(tmp_path, "c532622_s3", "532622", "interlib", transport, ["circulation"])

    # a bucket that does not exist
    [result] = run_source("c532622_s3", registry_path=registry)
    assert result.status == "failed" and "nothing at s3://no-such-bucket/c532622" in result.message

    # options that are not set, or not JSON: the message names the variable, and never prints a secret
    monkeypatch.delenv("SHUYUN_TEST_S3_OPTIONS")
    [result] = run_source("c532622_s3", registry_path=registry)
    assert result.status == "failed" and "set $SHUYUN_TEST_S3_OPTIONS" in result.message
    monkeypatch.setenv("SHUYUN_TEST_S3_OPTIONS", "key=abc secret=xyz")
    [result] = run_source("c532622_s3", registry_path=registry)
    assert result.status == "failed" and "is not JSON" in result.message and "xyz" not in result.message
