"""Ingestion benchmark: the full path (decode, rules, range lookup, HMAC, COPY, ledger) against a
plain `COPY` of the same file, measured in the same run on a scratch database.

    python -m ingestion.benchmark --rows 1000000          # GBK interlib file, 1 M events

Prints rows/s of both, their ratio, and the peak memory of the process (the reader is batched, so it
must not grow with the file). The scratch database `shuyun_bench_ingest` is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from shuyun import warehouse as wh

BENCH_DB = "shuyun_bench_ingest"
COUNTY = "532622"


def write_province(root: Path, rows: int, seed: int = 7) -> Path:
    """A one-county province with a GBK interlib circulation file of `rows` events."""
    libs = [f"{COUNTY}000", *(f"{COUNTY}{i:03d}" for i in range(1, 21)), *(f"{COUNTY}{i:03d}" for i in range(100, 160))]
    (root / "registry").mkdir(parents=True)
    (root / "sources.yml").write_text(
        "province: {code: '530000', name_zh: 云南省}\n"
        "sources:\n"
        f"  - {{name: c{COUNTY}, county_code: '{COUNTY}', county_name_zh: 砚山县, library_code: '{COUNTY}000',\n"
        "     dialect: interlib, encoding: gbk, transport: {kind: file_drop, path: landing/c532622},\n"
        "     feeds: [circulation]}\n", encoding="utf-8")
    with open(root / "registry" / "libraries.csv", "w", encoding="utf-8") as fh:
        fh.write("library_code,name_zh,name_en,level,parent_code,division_code,population_served,valid_from,valid_to,"
                 "floor_area_m2,seats,children_seats,networked_pcs,weekly_open_hours,staff,periodicals,source_system\n")
        for lib in libs:
            level = "county" if lib.endswith("000") else ("branch" if int(lib[6:]) < 100 else "service_point")
            fh.write(f"{lib},馆{lib},,{level},,{COUNTY},1000,2015-01-01,,100,10,2,1,40,1,10,interlib\n")
    with open(root / "registry" / "barcode_ranges.csv", "w", encoding="utf-8") as fh:
        fh.write("kind,first_barcode,last_barcode,library_code\n")
        for lib in libs:
            fh.write(f"reader,{lib}000001,{lib}999999,{lib}\nitem,{COUNTY[2:]}{lib[6:]}000000001,"
                     f"{COUNTY[2:]}{lib[6:]}999999999,{lib}\n")
    rnd = random.Random(seed)
    path = root / "landing" / f"c{COUNTY}" / "circulation" / "circ_20260115.csv"
    path.parent.mkdir(parents=True)
    start = datetime(2026, 1, 15, 8)
    kinds = [("借书", True), ("还书", False), ("续借", True)]
    channels = ["柜台", "自助机", "流动车"]
    with open(path, "w", encoding="gbk", newline="") as fh:
        fh.write("流水号,操作类型,操作时间,馆代码,图书条码,读者证号,应还日期,操作方式\r\n")
        buf = []
        for i in range(rows):
            kind, with_due = kinds[i % 3]
            lib = libs[rnd.randrange(len(libs))]
            owner = libs[rnd.randrange(len(libs))]
            at = start + timedelta(seconds=i * 50_000 // max(rows, 1))
            reader = f"{libs[rnd.randrange(len(libs))]}{rnd.randrange(1, 30000):06d}"
            item = f"{COUNTY[2:]}{owner[6:]}{rnd.randrange(1, 10**8):09d}"
            buf.append(f"IL{i:010d},{kind},{at:%Y/%m/%d %H:%M:%S},{lib},{item},{reader},"
                       f"{'2026/02/14' if with_due else ''},{channels[i % 3]}\r\n")
            if len(buf) >= 50_000:
                fh.write("".join(buf))
                buf = []
        fh.write("".join(buf))
    return path


def plain_copy(path: Path, conninfo: str) -> float:
    """Baseline: stream the file as it is into an all-text table with COPY (server decodes GBK)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("drop table if exists public.bench_copy")
        conn.execute("create table public.bench_copy (a text, b text, c text, d text, e text, f text, g text, h text)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("copy public.bench_copy from stdin (format csv, header true, "
                                            "encoding 'GBK')") as copy, open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        conn.execute("drop table public.bench_copy")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    wh.up()
    owner = wh.create_database(BENCH_DB)
    os.environ["SHUYUN_WAREHOUSE_DB"] = BENCH_DB
    with tempfile.TemporaryDirectory(prefix="shuyun-bench-") as tmp:
        root = Path(tmp)
        os.environ["SHUYUN_SOURCES"] = str(root / "sources.yml")
        os.environ["SHUYUN_ARCHIVE_DIR"] = str(root / "archive")
        os.environ.setdefault("SHUYUN_PSEUDONYM_KEY", "benchmark-key")
        try:
            t0 = time.perf_counter()
            path = write_province(root, args.rows)
            size_mb = path.stat().st_size / 1e6
            print(f"wrote {args.rows:,} GBK interlib events ({size_mb:.0f} MB) in {time.perf_counter() - t0:.1f} s")

            from ingestion import ingest_file, load_registry

            assert all(r.status == "loaded" for r in load_registry(root / "registry"))
            copy_s = plain_copy(path, owner.conninfo())
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            started = time.perf_counter()
            result = ingest_file(path, "circulation", f"c{COUNTY}")
            full_s = time.perf_counter() - started
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(result.ledger_line())
            print(f"plain COPY : {copy_s:6.2f} s  {args.rows / copy_s:>10,.0f} rows/s  (baseline)")
            print(f"full path  : {full_s:6.2f} s  {args.rows / full_s:>10,.0f} rows/s  "
                  f"ratio {copy_s / full_s:.2f} of plain COPY")
            print(f"peak RSS   : {rss_before:.0f} MB before, {rss_after:.0f} MB after the full path "
                  f"(file {size_mb:.0f} MB)")
        finally:
            os.environ.pop("SHUYUN_WAREHOUSE_DB", None)
            wh.drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
