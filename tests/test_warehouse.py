"""The warehouse: embedded server lifecycle, idempotent bootstrap, least-privilege roles."""

from __future__ import annotations

import psycopg
import pytest

from shuyun import warehouse as wh


def test_up_twice_is_harmless_and_keeps_data(warehouse_db):
    with psycopg.connect(warehouse_db.conninfo(), autocommit=True) as conn:
        conn.execute("create table if not exists public.survivor (x int)")
        conn.execute("insert into public.survivor values (42)")
    wh.up()
    wh.bootstrap(warehouse_db)
    with psycopg.connect(warehouse_db.conninfo()) as conn:
        assert conn.execute("select x from public.survivor").fetchall() == [(42,)]


@pytest.mark.skipif(not wh.is_embedded(), reason="down/up applies to the embedded server only")
def test_down_then_up_keeps_data(warehouse_db):
    with psycopg.connect(warehouse_db.conninfo(), autocommit=True) as conn:
        conn.execute("create table if not exists public.kept (x int)")
        conn.execute("insert into public.kept values (7)")
    assert wh.stop() is True
    assert not wh.running()
    wh.up()
    with psycopg.connect(wh.address(dbname=warehouse_db.dbname).conninfo()) as conn:
        assert conn.execute("select x from public.kept").fetchall() == [(7,)]


def _conn(role, db):
    return psycopg.connect(wh.address(role, dbname=db.dbname).conninfo(), autocommit=True)


def test_reader_cannot_touch_raw(warehouse_db):
    with _conn("reader", warehouse_db) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from raw.circulation_events")
    with _conn("reader", warehouse_db) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from raw.ingest_batches")


def test_reader_reads_marts_created_later_by_the_transformer(warehouse_db):
    with _conn("transformer", warehouse_db) as conn:
        conn.execute("drop table if exists marts.probe")
        conn.execute("create table marts.probe as select 1 as x")
    with _conn("reader", warehouse_db) as conn:
        assert conn.execute("select x from marts.probe").fetchall() == [(1,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into marts.probe values (2)")


def test_loader_writes_raw_but_not_marts(warehouse_db):
    with _conn("loader", warehouse_db) as conn:
        conn.execute(
            "insert into raw.rotations values ('532622', 'r1', '532622000', '532622001', '2024-01-02', 300,"
            " 'b1', 's', 'f', 1, now())"
        )
        conn.execute("delete from raw.rotations where rotation_id = 'r1'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table marts.nope (x int)")


def test_transformer_reads_raw_but_cannot_write_it(warehouse_db):
    with _conn("transformer", warehouse_db) as conn:
        conn.execute("select count(*) from raw.circulation_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from raw.circulation_events")


def test_wrong_password_is_refused(warehouse_db):
    addr = wh.address("reader", dbname=warehouse_db.dbname)
    bad = wh.Address(addr.host, addr.port, addr.user, "not-the-password", addr.dbname)
    if not wh.is_embedded():
        pytest.skip("authentication rules of an external server are not ours")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bad.conninfo())


@pytest.mark.parametrize(("ram_gib", "shared", "cache"), [
    (24, "4096MB", "12288MB"),  # capped at 4 GB
    (8, "2048MB", "4096MB"),  # a quarter of the RAM
    (1, "512MB", "1024MB"),  # never below the old fixed 512 MB
])
def test_embedded_memory_settings_follow_the_ram(ram_gib, shared, cache):
    assert wh.memory_settings(ram_gib * 2**30) == {"shared_buffers": shared, "effective_cache_size": cache}
