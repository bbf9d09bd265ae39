"""`generate(params, out)`: write the whole demo province, file by file, and its manifest (the oracle).

Memory stays bounded by one county: each county is simulated, written and forgotten before the next.
Expected counts that grow with the province (per library × day) are streamed into CSV files under
`expected/`; manifest.json lists every file, every fault and points at those tables.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import yaml

from . import formats as fmt
from .circulation import EPOCH, LOAN, RENEW, RETURN, CountySim, DayEvents, build_items
from .params import Params, rng
from .province import County, Province, build
from .schedule import day_info

log = logging.getLogger(__name__)

EVENT_TYPES = {LOAN: "loan", RETURN: "return", RENEW: "renew"}
FEEDS = ("circulation", "visits", "holdings", "activities", "rotations", "monthly_report")
MARC_ITEMS = {"tag": "949", "owning": "a", "current": "b", "barcode": "i", "acquired": "d", "withdrawn": "w",
              "status": "s"}

# fault kind -> (feed, rule it must trip, how many times)
FAULTS = {
    "duplicate_line": ("circulation", "duplicate", 3),
    "reader_barcode_out_of_range": ("circulation", "reader_barcode_out_of_range", 2),
    "item_barcode_out_of_range": ("circulation", "item_barcode_out_of_range", 2),
    "timestamp_after_file_day": ("circulation", "event_outside_delivery_interval", 2),
    "truncated_file": ("circulation", "malformed_row", 1),
    "wrong_encoding": ("circulation", "wrong_encoding", 1),
    "negative_count": ("visits", "negative_count", 2),
    "missing_column": ("monthly_report", "missing_column", 1),
}
MISSING_COLUMN = "到馆人次"
MANAGED = ("manifest.json", "sources.yml", "registry", "landing", "expected")


class GenerateError(Exception):
    """Something about the request or the output folder is wrong; the message says what."""


@dataclass
class Fault:
    kind: str
    source: str
    day: date           # circulation/visits: the file's day; monthly_report: any day of the month
    file: str = ""
    line: int | None = None
    rows_affected: int = 0

    @property
    def feed(self) -> str:
        return FAULTS[self.kind][0]

    @property
    def rule(self) -> str:
        return FAULTS[self.kind][1]


class Writer:
    """Writes files under the output root and remembers what the manifest says about each."""

    def __init__(self, root: Path):
        self.root = root
        self.files: list[dict] = []

    def write(self, rel: str, data: bytes, feed: str, source: str, rows: int, **extra) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = {"path": rel, "feed": feed, "source": source, "rows": rows,
                 "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        entry.update(extra)
        self.files.append(entry)


class FeedTotals:
    """rows_read / rows_loaded / rows_quarantined per rule / duplicates, per feed."""

    def __init__(self):
        self.t: dict[str, dict] = {f: {"files": 0, "rows_read": 0, "rows_loaded": 0, "rows_quarantined": {},
                                       "duplicates": 0} for f in (*FEEDS, "libraries", "barcode_ranges")}

    def add(self, feed: str, read: int, quarantined: dict[str, int] | None = None, duplicates: int = 0):
        t = self.t[feed]
        q = quarantined or {}
        t["files"] += 1
        t["rows_read"] += read
        t["rows_loaded"] += read - sum(q.values())
        for rule, n in q.items():
            t["rows_quarantined"][rule] = t["rows_quarantined"].get(rule, 0) + n
        t["duplicates"] += duplicates
        return {"rows_read": read, "rows_loaded": read - sum(q.values()), "rows_quarantined": dict(q),
                "duplicates": duplicates}


def prepare_out(out: Path) -> None:
    """The output folder must be new, empty, or an earlier demo (then its generated parts are replaced)."""
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").exists():
            raise GenerateError(f"{out} is not empty and holds no demo (no manifest.json); "
                                "refusing to write into it — choose another --out")
        for name in MANAGED:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate(params: Params, out: Path, progress=None) -> dict:
    """Generate the demo province into `out`; return the manifest (also written to out/manifest.json)."""
    t0 = time.perf_counter()
    out = Path(out)
    prepare_out(out)
    province = build(params)
    writer = Writer(out)
    totals = FeedTotals()
    _registry(province, writer, totals)
    _sources(province, out)
    faults = plan_faults(params, province) if params.faults else []
    expected_dir = out / "expected"
    expected_dir.mkdir(parents=True, exist_ok=True)
    tables = _ExpectedTables(expected_dir)
    tables.add("hierarchy_versions", ((lib.code, lib.level, v.parent_code, v.valid_from.isoformat(),
                                       v.valid_to.isoformat() if v.valid_to else "", v.name_zh)
                                      for lib in province.all_libraries() for v in lib.versions))
    for i, county in enumerate(province.counties):
        _county(params, province, county, writer, totals, tables, [f for f in faults if f.source == county.source])
        if progress:
            progress(i + 1, len(province.counties), county)
    tables.close()
    manifest = {
        "generator": "shuyun demo generate",
        "params": {**asdict(params), "start": params.start.isoformat(), "end": params.end.isoformat()},
        "province": {"code": province.code, "name_zh": province.name_zh, "name_en": province.name_en},
        "encodings": {c.source: c.encoding for c in province.counties},
        "files": writer.files,
        "faults": [{"kind": f.kind, "feed": f.feed, "source": f.source, "file": f.file, "line": f.line,
                    "rows_affected": f.rows_affected, "rule": f.rule} for f in faults if f.file],
        "expected": {
            "feeds": totals.t,
            "tables": tables.describe(out),
            "hierarchy": _hierarchy(params, province),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    log.info("demo province written to %s in %.1f s", out, time.perf_counter() - t0)
    return manifest


# registry -------------------------------------------------------------------------------------------------
def _num(x):
    if x is None:
        return None
    if isinstance(x, float):
        return f"{x:.1f}"
    return x


def _registry(province: Province, writer: Writer, totals: FeedTotals) -> None:
    rows = []
    for lib in province.all_libraries():
        source_system = None
        if lib.county_code:
            source_system = ("c" + lib.county_code) if lib.has_ils else "form"
        for v in lib.versions:
            hours = lib.weekly_hours if lib.schedule else None
            rows.append([lib.code, v.name_zh, v.name_en, lib.level, v.parent_code, lib.division_code,
                         lib.population, v.valid_from.isoformat(), v.valid_to.isoformat() if v.valid_to else None,
                         _num(lib.floor_area), lib.seats, lib.children_seats, lib.pcs, _num(hours), lib.staff,
                         lib.periodicals, source_system])
    lines = [",".join(fmt.csv_field(x) for x in row) for row in rows]
    writer.write("registry/libraries.csv", fmt.csv_bytes(fmt.LIBRARIES_HEADER, lines, "utf-8"), "libraries",
                 "registry", len(lines), expected=totals.add("libraries", len(lines)))
    ranges = []
    for lib in province.all_libraries():
        ranges.append(["reader", *lib.reader_range(), lib.code])
        ranges.append(["item", *lib.item_range(), lib.code])
    lines = [",".join(r) for r in ranges]
    writer.write("registry/barcode_ranges.csv", fmt.csv_bytes(fmt.RANGES_HEADER, lines, "utf-8"),
                 "barcode_ranges", "registry", len(lines), expected=totals.add("barcode_ranges", len(lines)))


def _sources(province: Province, out: Path) -> None:
    doc = {
        "province": {"code": province.code, "name_zh": province.name_zh},
        "sources": [{
            "name": c.source, "county_code": c.code, "county_name_zh": c.name_zh, "library_code": c.main.code,
            "dialect": c.dialect, "encoding": c.encoding,
            "transport": {"kind": "file_drop", "path": f"landing/{c.source}"},
            "feeds": list(FEEDS), "marc_items": dict(MARC_ITEMS), "schedule": "@daily", "credentials_env": None,
        } for c in province.counties],
    }
    text = ("# Source registry: one entry per county system. Credentials are named, never written here.\n"
            "# Generated by `shuyun demo generate`.\n" + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    (out / "sources.yml").write_text(text, encoding="utf-8")


# faults ---------------------------------------------------------------------------------------------------
def plan_faults(params: Params, province: Province) -> list[Fault]:
    """Which (source, day) each fault goes to: ordinary Tuesdays–Fridays, one fault per file."""
    r = rng(params.seed, "faults")
    days = [d for d in params.dates() if d.weekday() in (1, 2, 3, 4) and day_info(d).holiday is None
            and not day_info(d).spring_closed] or params.dates()
    slots = [(c.source, d) for c in province.counties for d in days]
    order = list(r.permutation(len(slots)))
    used: set[tuple[str, date]] = set()
    faults: list[Fault] = []
    gbk_sources = {c.source for c in province.counties if c.encoding in ("gbk", "gb18030")}
    for kind in ("wrong_encoding", "truncated_file", "duplicate_line", "reader_barcode_out_of_range",
                 "item_barcode_out_of_range", "timestamp_after_file_day"):
        n = FAULTS[kind][2]
        for k in order:
            if n == 0:
                break
            src, d = slots[k]
            if (src, d) in used or (kind == "wrong_encoding" and src not in gbk_sources):
                continue
            used.add((src, d))
            faults.append(Fault(kind, src, d))
            n -= 1
    vslots = [slots[k] for k in order][: FAULTS["negative_count"][2]]
    faults.extend(Fault("negative_count", s, d) for s, d in vslots)
    months = sorted({(d.year, d.month) for d in params.dates()})
    y, m = months[int(r.integers(0, len(months)))]
    c = province.counties[int(r.integers(0, len(province.counties)))]
    faults.append(Fault("missing_column", c.source, date(y, m, 1)))
    return faults


# expected tables ------------------------------------------------------------------------------------------
class _ExpectedTables:
    SPECS = {
        "circulation_by_county_day": ["county_code", "date", "event_type", "events"],
        "circulation_by_library_day": ["county_code", "library_code", "date", "event_type", "events"],
        "visits_by_library_day": ["county_code", "library_code", "date", "rows", "entries", "exits"],
        "holdings_by_library": ["county_code", "owning_library", "items", "available", "on_loan", "lost",
                                "withdrawn", "in_transit", "children"],
        "monthly_report_rows": ["county_code", "month", "library_code", "visits", "loans"],
        "hierarchy_versions": ["library_code", "level", "parent_code", "valid_from", "valid_to", "name_zh"],
    }

    def __init__(self, root: Path):
        self.root = root
        self.handles = {}
        self.writers = {}
        self.rows = Counter()
        for name, cols in self.SPECS.items():
            h = open(root / f"{name}.csv", "w", encoding="utf-8", newline="")
            w = csv.writer(h, lineterminator="\n")
            w.writerow(cols)
            self.handles[name], self.writers[name] = h, w

    def add(self, name: str, rows) -> None:
        rows = list(rows)
        self.writers[name].writerows(rows)
        self.rows[name] += len(rows)

    def close(self) -> None:
        for h in self.handles.values():
            h.close()

    def describe(self, out: Path) -> dict:
        desc = {}
        for name, cols in self.SPECS.items():
            path = self.root / f"{name}.csv"
            desc[name] = {"path": str(path.relative_to(out)), "columns": cols, "rows": self.rows[name],
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        return desc


def _hierarchy(params: Params, province: Province) -> dict:
    libs = province.all_libraries()

    def by_level(day: date) -> dict[str, int]:
        return dict(sorted(Counter(lib.level for lib in libs if lib.valid_on(day)).items()))

    return {
        "libraries": len(libs),
        "library_rows": sum(len(lib.versions) for lib in libs),
        "valid_at_start_by_level": by_level(params.start),
        "valid_at_end_by_level": by_level(params.end),
        "counties": [{"county_code": c.code, "name_zh": c.name_zh, "prefecture_code": c.prefecture_code,
                      "population": c.population, "dialect": c.dialect, "encoding": c.encoding,
                      "libraries": len(c.libraries), "ils_libraries": len(c.ils_libraries),
                      "form_points": len(c.form_points)} for c in province.counties],
        "changes": [{"kind": ch.kind, "library_code": ch.library_code, "on": ch.on.isoformat(), **ch.detail}
                    for ch in province.changes],
        "below_standard": sorted(lib.code for lib in libs if lib.below_standard),
    }


# one county -----------------------------------------------------------------------------------------------
def _county(params: Params, province: Province, county: County, writer: Writer, totals: FeedTotals,
            tables: _ExpectedTables, faults: list[Fault]) -> None:
    items = build_items(params, county)
    sim = CountySim(params, province, county, items)
    codes = [lib.code for lib in county.libraries]
    land = f"landing/{county.source}"
    circ_faults = {f.day: f for f in faults if f.feed == "circulation"}
    visit_faults = {f.day: f for f in faults if f.feed == "visits"}
    next_id = 1 + int(rng(params.seed, "ids", county.code).integers(10**6, 10**7))
    for day, ev in sim.run():
        fault = circ_faults.get(day)
        fault_row = -1
        if fault is not None and fault.kind in ("reader_barcode_out_of_range", "item_barcode_out_of_range",
                                                "timestamp_after_file_day"):
            ev, fault_row = _add_bad_event(params, county, sim, day, ev, fault)
        order = np.lexsort((ev.item, ev.kind, ev.lib, ev.second))
        ev = DayEvents(*(a[order] for a in (ev.lib, ev.kind, ev.item, ev.reader, ev.second, ev.channel, ev.due)))
        lines = fmt.circulation_lines(county.dialect, day, ev, codes, next_id, county.code)
        next_id += len(lines)
        rel = f"{land}/circulation/circ_{day:%Y%m%d}.csv"
        clean = np.ones(len(lines), dtype=bool)  # rows that end up in the clean (post-staging) events
        quarantined: dict[str, int] = {}
        if fault_row >= 0:
            pos = int(np.flatnonzero(order == fault_row)[0])
            clean[pos] = False
            fault.file, fault.line, fault.rows_affected = rel, pos + 1, 1
            quarantined[fault.rule] = 1
        out_lines, encoding, truncated, duplicates = lines, county.encoding, False, 0
        if fault is not None and fault_row < 0 and lines:
            out_lines, encoding, truncated, duplicates = _file_fault(params, county, day, fault, lines, clean,
                                                                     quarantined)
            fault.file = rel
        data = fmt.csv_bytes(fmt.DIALECT_HEADER[county.dialect], out_lines, encoding,
                             fmt.LINE_END[county.dialect], truncated=truncated)
        writer.write(rel, data, "circulation", county.source, len(out_lines), encoding=county.encoding,
                     day=day.isoformat(),
                     expected=totals.add("circulation", len(out_lines), quarantined, duplicates))
        if ev.size:
            key = ev.lib[clean].astype(np.int64) * 3 + ev.kind[clean]
            counts = np.bincount(key, minlength=3 * len(codes)).reshape(-1, 3)
            ds = day.isoformat()
            tables.add("circulation_by_library_day",
                       ((county.code, codes[li], ds, EVENT_TYPES[k], int(counts[li, k]))
                        for li, k in zip(*np.nonzero(counts), strict=True)))
            tot = counts.sum(axis=0)
            tables.add("circulation_by_county_day",
                       ((county.code, ds, EVENT_TYPES[k], int(tot[k])) for k in range(3) if tot[k]))
        _visits(params, county, sim, day, writer, totals, tables, visit_faults.get(day), land)
    _rotations(params, county, sim, writer, totals, land)
    _activities(params, county, sim, writer, totals, land)
    _reports(params, county, sim, writer, totals, tables, [f for f in faults if f.feed == "monthly_report"], land)
    _holdings(params, county, sim, writer, totals, tables, land)


def _file_fault(params, county, day, fault: Fault, lines: list[str], clean: np.ndarray,
                quarantined: dict[str, int]):
    """Apply a fault that changes the file rather than adding an event; returns what to write."""
    out_lines, encoding, truncated, duplicates = lines, county.encoding, False, 0
    if fault.kind == "duplicate_line":
        i = int(rng(params.seed, "dup", county.code, day.isoformat()).integers(0, len(lines)))
        out_lines = [*lines[: i + 1], lines[i], *lines[i + 1:]]
        fault.line, duplicates = i + 2, 1
    elif fault.kind == "truncated_file":
        last = lines[-1]
        out_lines = [*lines[:-1], last[: _nth(last, ",", 3) + 3]]  # cut inside the fourth field
        clean[-1] = False
        truncated = True
        fault.line = len(lines)
        quarantined["malformed_row"] = 1
    elif fault.kind == "wrong_encoding":
        encoding = "utf-8"
        clean[:] = False
        fault.line = 1
        quarantined["wrong_encoding"] = len(lines)
    fault.rows_affected = quarantined.get(fault.rule, 1)
    return out_lines, encoding, truncated, duplicates


def _nth(s: str, ch: str, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = s.index(ch, pos + 1)
    return pos


def _add_bad_event(params, county, sim, day, ev: DayEvents, fault: Fault):
    """Append one loan at the county main library that breaks exactly the fault's rule."""
    r = rng(params.seed, "bad", county.code, day.isoformat(), fault.kind)
    g = sim.grid
    d = sim.sim_days.index(day)
    o, c = int(g.open_h[0, d]) or 9, int(g.close_h[0, d]) or 17
    second = int(r.integers(o * 3600, c * 3600 - 60))
    item = int(sim.items.barcode[int(r.integers(0, sim.items.size))])
    reader = int(county.main.code) * 1_000_000 + int(r.integers(1, max(2, county.main.readers)))
    if fault.kind == "reader_barcode_out_of_range":
        # serial 000000 lies below the first barcode of the library's range; sub code 899 is never registered
        reader = int(county.main.code) * 1_000_000 if day.day % 2 else int(county.code + "899") * 1_000_000 + 17
    elif fault.kind == "item_barcode_out_of_range":
        item = int(county.main.item_prefix) * 1_000_000_000 if day.day % 2 else int(county.code[2:] + "898") * 10**9 + 5
    else:
        second += 86400  # the next day: after the file's day
    due = (day - EPOCH).days + 30
    ext = DayEvents(
        lib=np.append(ev.lib, np.int16(0)), kind=np.append(ev.kind, np.int8(LOAN)),
        item=np.append(ev.item, np.int64(item)), reader=np.append(ev.reader, np.int64(reader)),
        second=np.append(ev.second, np.int32(second)), channel=np.append(ev.channel, np.int8(0)),
        due=np.append(ev.due, np.int32(due)))
    return ext, ev.size


# visits ---------------------------------------------------------------------------------------------------
_HOURLY = np.array([0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 2.0, 5.0, 8.0, 8.5, 6.0, 5.0, 6.5, 8.0, 8.5, 7.5,
                    6.0, 5.5, 4.5, 2.5, 1.0, 0.4])


def _visits(params, county, sim, day, writer, totals, tables, fault: Fault | None, land: str) -> None:
    r = rng(params.seed, "visits", county.code, day.isoformat())
    g = sim.grid
    d = sim.sim_days.index(day)
    ds = day.isoformat()
    hour_str = [f"{ds} {h:02d}:00" for h in range(24)]
    devices, lib_codes, hours, lam_in, lam_out = [], [], [], [], []
    for i, lib in enumerate(county.libraries):
        if lib.gates == 0 or not g.is_open[i, d]:
            continue
        o, c = int(g.open_h[i, d]), int(g.close_h[i, d])
        curve = _HOURLY[o:c] / _HOURLY[o:c].sum()
        lagged = np.concatenate([[curve[0] * 0.3], curve[:-1]])  # people leave about an hour after coming
        lagged[-1] += 1.0 - lagged.sum()
        per_gate = (sim.base[i] * 2.4 + 6) * g.factor[i, d] / lib.gates
        for gate in range(1, lib.gates + 1):
            devices.extend([f"{lib.code}-G{gate}"] * (c - o))
            lib_codes.extend([lib.code] * (c - o))
            hours.extend(range(o, c))
            lam_in.append(per_gate * curve)
            lam_out.append(per_gate * lagged)
    if lam_in:
        ins = r.poisson(np.concatenate(lam_in)).tolist()
        outs = r.poisson(np.clip(np.concatenate(lam_out), 0, None)).tolist()
    else:
        ins, outs = [], []
    rows = [[dev, code, hour_str[h], i_, o_] for dev, code, h, i_, o_ in zip(devices, lib_codes, hours, ins, outs,
                                                                            strict=True)]
    quarantined = {}
    bad = -1
    rel = f"{land}/visits/gate_{day:%Y%m%d}.csv"
    if fault is not None and rows:
        bad = int(r.integers(0, len(rows)))
        rows[bad][3] = -int(r.integers(1, 40))
        fault.file, fault.line, fault.rows_affected = rel, bad + 1, 1
        quarantined["negative_count"] = 1
    lines = fmt.visits_lines(rows)
    writer.write(rel, fmt.csv_bytes(fmt.VISITS_HEADER, lines, "utf-8"), "visits", county.source, len(lines),
                 day=day.isoformat(), expected=totals.add("visits", len(lines), quarantined))
    agg: dict[str, list[int]] = {}
    for k, row in enumerate(rows):
        if k == bad:
            continue
        a = agg.setdefault(row[1], [0, 0, 0])
        a[0] += 1
        a[1] += row[3]
        a[2] += row[4]
    tables.add("visits_by_library_day", ((county.code, code, day.isoformat(), *v) for code, v in agg.items()))


# rotations / activities / monthly reports -----------------------------------------------------------------
def _months(params: Params) -> list[tuple[int, int]]:
    return sorted({(d.year, d.month) for d in params.dates()})


def _rotations(params, county, sim, writer, totals, land) -> None:
    codes = [lib.code for lib in county.libraries]
    for y, m in _months(params):
        rots = [x for x in sim.rotations if x.day.year == y and x.day.month == m and x.volumes > 0]
        lines = [f"RT{county.code}{y:04d}{m:02d}{k + 1:04d},{codes[x.from_lib]},{codes[x.to_lib]},"
                 f"{x.day.isoformat()},{x.volumes}" for k, x in enumerate(rots)]
        writer.write(f"{land}/rotations/rotations_{y:04d}{m:02d}.csv", fmt.csv_bytes(fmt.ROTATIONS_HEADER, lines,
                                                                                     "utf-8"),
                     "rotations", county.source, len(lines), expected=totals.add("rotations", len(lines)))


_ACT_TITLES = {
    "讲座": ["“{c}讲堂”：乡土历史漫谈", "农业实用技术讲座", "家庭教育公益讲座", "健康养生知识讲座", "民法典进乡村讲座"],
    "展览": ["非遗文化图片展", "新书推荐展", "“书香{c}”摄影展", "红色经典连环画展"],
    "阅读推广": ["少儿绘本故事会", "全民阅读·经典诵读", "读书分享会", "亲子共读分享会", "寒假阅读打卡"],
    "培训": ["数字资源利用培训", "分馆业务培训", "服务点管理员培训", "老年人智能手机培训"],
    "其他": ["读者座谈会", "图书漂流活动"],
}


def _activities(params, county, sim, writer, totals, land) -> None:
    g = sim.grid
    libs = county.libraries
    short = county.name_zh[:-1]
    for y, m in _months(params):
        r = rng(params.seed, "activities", county.code, y, m)
        days = [d for d in range(len(sim.sim_days)) if sim.sim_days[d].year == y and sim.sim_days[d].month == m
                and params.start <= sim.sim_days[d] <= params.end]
        frac = len(days) / 30.0
        rows = []
        for i, lib in enumerate(libs):
            if not lib.has_ils or lib.level in ("mobile", "self_service"):
                continue
            open_days = [d for d in days if g.is_open[i, d]]
            if not open_days:
                continue
            lam = {"county": 7.0, "branch": 0.12 if lib.below_standard else 0.45}.get(lib.level, 0.12) * frac
            for _ in range(int(r.poisson(lam))):
                kind = r.choice(["讲座", "展览", "阅读推广", "培训", "其他"], p=[0.25, 0.15, 0.4, 0.15, 0.05])
                title = _ACT_TITLES[kind][int(r.integers(0, len(_ACT_TITLES[kind])))].format(c=short)
                day = sim.sim_days[open_days[int(r.integers(0, len(open_days)))]]
                joint = ""
                if lib.level == "county" and r.random() < 0.15:
                    partners = [x.code for x in libs if x.level == "branch" and x.valid_on(day)]
                    if partners:
                        k = int(r.integers(1, min(3, len(partners)) + 1))
                        joint = ";".join(sorted(r.choice(partners, size=k, replace=False).tolist()))
                if kind == "培训" and lib.level == "county":
                    partners = [x.code for x in libs if x.level == "branch" and x.valid_on(day)]
                    joint = ";".join(partners)
                people = int(r.integers(15, 300) if lib.level == "county" else r.integers(8, 80))
                rows.append((day, lib.code, kind, title, people, joint))
        rows.sort(key=lambda x: (x[0], x[1], x[3]))
        lines = [",".join(fmt.csv_field(v) for v in (f"A{county.code}{y:04d}{m:02d}{k + 1:04d}", code,
                                                     day.isoformat(), kind, title, people, joint))
                 for k, (day, code, kind, title, people, joint) in enumerate(rows)]
        writer.write(f"{land}/activities/activities_{y:04d}{m:02d}.csv",
                     fmt.csv_bytes(fmt.ACTIVITIES_HEADER, lines, "utf-8"), "activities", county.source, len(lines),
                     expected=totals.add("activities", len(lines)))


def _reports(params, county, sim, writer, totals, tables, faults, land) -> None:
    for y, m in _months(params):
        r = rng(params.seed, "report", county.code, y, m)
        first = date(y, m, 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        points = [lib for lib in county.form_points
                  if lib.valid_from <= last and (lib.valid_to is None or lib.valid_to > first)]
        rows = []
        for lib in points:
            hours = lib.weekly_hours * last.day / 7
            visits = int(r.integers(80, 900) * (0.5 if lib.below_standard else 1))
            active = int(r.integers(10, max(11, lib.readers // 4)))
            row = [lib.code, lib.name_on(last), visits, int(lib.readers), active,
                   int(visits * r.uniform(0.3, 0.9)), int(r.poisson(0.3)), None, int(lib.stock),
                   int(r.integers(0, 40)), "不适用", round(hours, 1), int(r.poisson(0.2))]
            row[7] = int(row[6] * r.integers(8, 40))
            for c in (4, 9, 12):
                if r.random() < 0.08:
                    row[c] = None  # not reported
            rows.append(row)
        fault = next((f for f in faults if f.day.year == y and f.day.month == m), None)
        rel = f"{land}/monthly_report/report_{y:04d}{m:02d}.xlsx"
        title = f"{county.name_zh}服务点月度统计报表 {y}年{m}月"
        drop = MISSING_COLUMN if fault else None
        quarantined = {}
        if fault and rows:
            fault.file, fault.line, fault.rows_affected = rel, 1, len(rows)
            quarantined["missing_column"] = len(rows)
        writer.write(rel, fmt.report_xlsx(title, rows, drop), "monthly_report", county.source, len(rows),
                     expected=totals.add("monthly_report", len(rows), quarantined))
        if not fault:
            tables.add("monthly_report_rows", ((county.code, f"{y:04d}-{m:02d}", row[0], row[2], row[5])
                                               for row in rows))


def _holdings(params, county, sim, writer, totals, tables, land) -> None:
    it = sim.items
    libs = county.libraries
    codes = [lib.code for lib in libs]
    r = rng(params.seed, "titles", county.code)
    titles = fmt.title_table(r, it.n_titles, it.n_child_titles)
    last_d = sim.sim_days.index(params.end)
    status = np.full(it.size, "available", dtype=object)
    status[it.on_loan] = "on_loan"
    transit = ~it.on_loan & (it.last_return == last_d) & (it.current != it.owner)
    status[transit] = "in_transit"
    status[it.lost] = "lost"
    status[it.withdrawn >= 0] = "withdrawn"
    code_arr = np.array(codes)
    order = np.argsort(it.title, kind="stable")
    bodies = fmt.item_field_bodies(code_arr[it.owner[order]].tolist(), code_arr[it.current[order]].tolist(),
                                   it.barcode[order], it.acquired[order], it.withdrawn[order],
                                   status[order].astype(str).tolist())
    years = (it.acquired[order].astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).tolist()
    t_sorted = it.title[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(t_sorted)) + 1]).tolist()
    ends = [*starts[1:], len(order)]
    heads, rec_starts, rec_ends = [], [], []
    for s_, e_ in zip(starts, ends, strict=True):
        t = int(t_sorted[s_])
        cls, title, isbn, child = titles[t]
        # ISO 2709 caps a record at 99,999 bytes: a title with very many copies spans several records
        for k in range(s_, e_, 900):
            heads.append((f"{county.code}{t + 1:08d}", cls, title, isbn, child, years[s_]))
            rec_starts.append(k)
            rec_ends.append(min(e_, k + 900))
    data = fmt.marc_records(heads, bodies, rec_starts, rec_ends)
    rel = f"{land}/holdings/holdings_{params.end:%Y%m%d}.mrc"
    writer.write(rel, data, "holdings", county.source, it.size, records=len(heads),
                 expected=totals.add("holdings", it.size))
    rows = []
    for i, code in enumerate(codes):
        mine = it.owner == i
        if not mine.any():
            continue
        st = Counter(status[mine].tolist())
        rows.append((county.code, code, int(mine.sum()), st["available"], st["on_loan"], st["lost"],
                     st["withdrawn"], st["in_transit"], int(it.child[mine].sum())))
    tables.add("holdings_by_library", rows)
