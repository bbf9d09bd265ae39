"""Ingestion benchmark: the full path against a plain COPY (the floor) and pandas `to_sql` (the usual way),
measured in the same run on a scratch database (`shuyun_bench_ingest`, dropped afterwards).

    shuyun bench ingest --rows 2000000             # GBK interlib file, 2 M events
    python -m ingestion.benchmark --rows 2000000   # the same without the CLI

(a) full path: `ingestion.ingest_file` — read, decode, map, validate, pseudonymise, quarantine, COPY into
    the real `raw.circulation_events`, ledger;
(b) floor: a plain `COPY` of the same rows, exported from (a) as already-clean CSV, into an UNLOGGED copy of
    the table without indexes;
(c) pandas: `DataFrame.to_sql` (SQLAlchemy + psycopg) of the first `--pandas-rows` of those clean rows.
(b) and (c) run `--baseline-runs` times and count with their best run: on a shared machine a baseline's
rate moves by up to 2x between runs minutes apart, and taking its best can only make the ratios of (a)
smaller, never flatter it. Prints rows/s, the ratios, the load average beside every figure, and one
closing `RESULT …` line. The peak RSS is the process's peak resident memory while (a) runs (VmHWM, reset
just before (a)).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from shuyun import settings
from shuyun import warehouse as wh

BENCH_DB = "shuyun_bench_ingest"
COUNTY = "532622"
HEADER = "流水号,操作类型,操作时间,馆代码,图书条码,读者证号,应还日期,操作方式"
# 80 libraries × 2,000 cards = 160,000 registered readers (a county system of ~500,000 people); items are
# drawn from 80 × 10^8 barcodes, so nearly every event names another item
READERS_PER_LIBRARY = 2_000
CLEAN_COLUMNS = ("source_event_id", "county_code", "library_code", "event_type", "event_at", "item_barcode",
                 "reader_key", "reader_home_library", "due_date", "channel", "_batch_id", "_source", "_file",
                 "_line", "_loaded_at")


def libraries() -> list[str]:
    return [f"{COUNTY}000", *(f"{COUNTY}{i:03d}" for i in range(1, 21)), *(f"{COUNTY}{i:03d}" for i in range(100, 160))]


def write_registry(root: Path) -> None:
    libs = libraries()
    (root / "registry").mkdir(parents=True, exist_ok=True)
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


def circulation_block(start: int, n: int, total: int, rng: np.random.Generator) -> str:
    """Rows `start … start+n` of the interlib file as text (CRLF lines), built column-wise with polars:
    loans, returns and renewals in turn, times spread over one day, readers drawn from the county's
    160,000 cards, ~1 % of rows breaking a rule (a library code outside the registry)."""
    libs = np.array(libraries())
    i = np.arange(start, start + n)
    kind = i % 3
    seconds = (i * 50_000 // max(total, 1)).astype("int64")
    suffixes = np.array([lib[6:] for lib in libraries()])
    frame = pl.DataFrame({
        "i": i,
        "kind": np.array(["借书", "还书", "续借"])[kind],
        "at": (np.datetime64("2026-01-15T08:00:00") + seconds.astype("timedelta64[s]")).astype("datetime64[us]"),
        "lib": libs[rng.integers(0, len(libs), n)],
        "owner": suffixes[rng.integers(0, len(suffixes), n)],
        "item": rng.integers(1, 10**8, n),
        "reader_lib": libs[rng.integers(0, len(libs), n)],
        "reader": rng.integers(1, READERS_PER_LIBRARY + 1, n),
        "due": np.where(kind == 1, "", "2026/02/14"),
        "channel": np.array(["柜台", "自助机", "流动车"])[i % 3],
        "bad": rng.random(n) < 0.01,
    })
    text = frame.select(pl.concat_str(
        pl.lit("IL"), pl.col("i").cast(pl.String).str.zfill(10), pl.lit(","), pl.col("kind"), pl.lit(","),
        pl.col("at").dt.strftime("%Y/%m/%d %H:%M:%S"), pl.lit(","),
        # 1 % break a rule: a library that is not in the registry
        pl.when(pl.col("bad")).then(pl.lit("999999999")).otherwise(pl.col("lib")), pl.lit(","),
        pl.lit(COUNTY[2:]), pl.col("owner"), pl.col("item").cast(pl.String).str.zfill(9), pl.lit(","),
        pl.col("reader_lib"), pl.col("reader").cast(pl.String).str.zfill(6), pl.lit(","),
        pl.col("due"), pl.lit(","), pl.col("channel"), pl.lit("\r\n"),
    ).alias("line"))["line"]
    return text.str.join("").item()


def write_circulation(path: Path, rows: int, seed: int = 7, block: int = 500_000) -> None:
    """The GBK interlib circulation file of `rows` events, written a block at a time (bounded memory)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write((HEADER + "\r\n").encode("gbk"))
        for start in range(0, rows, block):
            fh.write(circulation_block(start, min(block, rows - start), rows, rng).encode("gbk"))


@dataclass
class Figure:
    rows: int
    seconds: float
    load: float  # 1-minute load average at the end of the measurement

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _load() -> float:
    return os.getloadavg()[0]


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset (VmHWM), else the process's lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_path(path: Path) -> tuple[Figure, object]:
    from ingestion import ingest_file

    started = time.perf_counter()
    result = ingest_file(path, "circulation", f"c{COUNTY}")
    elapsed = time.perf_counter() - started
    if result.status != "loaded":
        raise RuntimeError(f"the full path did not load the file: {result.ledger_line()}")
    return Figure(result.rows_read, elapsed, _load()), result


def export_clean(conninfo: str, batch_id: str, target: Path) -> int:
    """The rows (a) loaded, as the clean CSV a COPY would want (streamed to disk)."""
    import psycopg

    rows = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur, open(target, "wb") as out:
        query = (f"copy (select {', '.join(CLEAN_COLUMNS)} from raw.circulation_events where _batch_id = "
                 f"'{batch_id}' order by _line) to stdout (format csv)")
        with cur.copy(query) as copy:
            for data in copy:
                out.write(data)
                rows += bytes(data).count(b"\n")
    return rows


def plain_copy(conninfo: str, clean: Path, rows: int) -> Figure:
    """The floor: COPY the clean CSV into an UNLOGGED copy of the table, no indexes."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("drop table if exists public.bench_floor")
        conn.execute("create unlogged table public.bench_floor (like raw.circulation_events)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"copy public.bench_floor ({', '.join(CLEAN_COLUMNS)}) from stdin "
                                            "(format csv)") as copy, open(clean, "rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        conn.execute("drop table public.bench_floor")
    return Figure(rows, elapsed, _load())


def pandas_to_sql(url: str, clean: Path, rows: int) -> Figure:
    """What most people would write: a DataFrame and `to_sql` (SQLAlchemy, psycopg, default settings)."""
    import pandas as pd
    import sqlalchemy as sa

    frame = pd.read_csv(clean, header=None, names=list(CLEAN_COLUMNS), nrows=rows, dtype=str,
                        keep_default_na=False)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("drop table if exists public.bench_pandas")
        started = time.perf_counter()
        frame.to_sql("bench_pandas", engine, schema="public", index=False, if_exists="replace")
        elapsed = time.perf_counter() - started
        with engine.begin() as conn:
            conn.exec_driver_sql("drop table public.bench_pandas")
    finally:
        engine.dispose()
    return Figure(len(frame), elapsed, _load())


def best(measure, runs: int) -> tuple[Figure, list[Figure]]:
    """The fastest of `runs` measurements (and all of them, for the printout)."""
    figures = [measure() for _ in range(runs)]
    return max(figures, key=lambda f: f.rate), figures


def run(rows: int = 2_000_000, pandas_rows: int = 200_000, echo=print, database: str = BENCH_DB,
        baseline_runs: int = 3) -> dict[str, float]:
    """Generate, measure (a), (b), (c) on a scratch `database` (dropped afterwards); return the RESULT figures."""
    wh.up()
    owner = wh.create_database(database)
    try:
        with tempfile.TemporaryDirectory(prefix="shuyun-bench-") as tmp, settings.environ(
                SHUYUN_WAREHOUSE_DB=database, SHUYUN_SOURCES=f"{tmp}/sources.yml", SHUYUN_ARCHIVE_DIR=f"{tmp}/archive",
                SHUYUN_PSEUDONYM_KEY=os.environ.get("SHUYUN_PSEUDONYM_KEY") or "benchmark-key"):
            root = Path(tmp)
            t0 = time.perf_counter()
            write_registry(root)
            path = root / "landing" / f"c{COUNTY}" / "circulation" / "circ_20260115.csv"
            write_circulation(path, rows)
            size_mb = path.stat().st_size / 1e6
            echo(f"wrote {rows:,} GBK interlib events ({size_mb:.0f} MB) in {time.perf_counter() - t0:.1f} s "
                 f"(load {_load():.1f})")

            from ingestion import load_registry

            bad = [r.ledger_line() for r in load_registry(root / "registry") if r.status != "loaded"]
            if bad:
                raise RuntimeError("the benchmark registry did not load: " + "; ".join(bad))

            window = "during (a)" if reset_peak_rss() else "of the whole process"
            full, result = full_path(path)
            peak_rss = peak_rss_mb()
            echo(result.ledger_line())
            echo(f"(a) full path      : {full.seconds:7.2f} s  {full.rate:>10,.0f} rows/s  (load {full.load:.1f})")
            clean = root / "clean.csv"
            loaded = export_clean(owner.conninfo(), result.batch_id, clean)
            floor, floors = best(lambda: plain_copy(owner.conninfo(), clean, loaded), baseline_runs)
            echo(f"(b) plain COPY     : {floor.seconds:7.2f} s  {floor.rate:>10,.0f} rows/s  (load {floor.load:.1f}; "
                 f"{loaded:,} clean rows, {clean.stat().st_size / 1e6:.0f} MB, unlogged, no index; "
                 f"best of {_rates(floors)})")
            pandas, pandases = best(lambda: pandas_to_sql(owner.url(), clean, min(pandas_rows, loaded)), baseline_runs)
            echo(f"(c) pandas to_sql  : {pandas.seconds:7.2f} s  {pandas.rate:>10,.0f} rows/s  "
                 f"(load {pandas.load:.1f}; {pandas.rows:,} rows; best of {_rates(pandases)})")
            figures = {
                "full_rows_per_s": full.rate, "copy_rows_per_s": floor.rate, "pandas_rows_per_s": pandas.rate,
                "full_vs_copy": full.rate / floor.rate, "full_vs_pandas": full.rate / pandas.rate,
                "peak_rss_mb": peak_rss,
            }
            echo(f"ratios             : full/COPY {figures['full_vs_copy']:.2f} (target ≥ 0.5), "
                 f"full/pandas {figures['full_vs_pandas']:.1f} (target ≥ 8)")
            echo(f"peak RSS           : {peak_rss:.0f} MB {window} (file {size_mb:.0f} MB; "
                 "target < 2048 MB at 10 M rows)")
            echo("RESULT " + " ".join(
                f"{k}={v:.0f}" if k.endswith(("per_s", "_mb")) else f"{k}={v:.2f}" for k, v in figures.items()))
            return figures
    finally:
        wh.drop_database(database)


def _rates(figures: list[Figure]) -> str:
    return ", ".join(f"{f.rate / 1000:,.0f} k/s at load {f.load:.1f}" for f in figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--pandas-rows", type=int, default=200_000)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args(argv)
    run(args.rows, args.pandas_rows, baseline_runs=args.baseline_runs)


if __name__ == "__main__":
    main()
