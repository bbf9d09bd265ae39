"""IMLS Public Libraries Survey FY2018 → registry + annual statistics reports, through the normal loader.

A PLS administrative entity (library system) with its outlets has the shape of a 总馆 with its 分馆 and
book vans. The mapping (docs/feeds.md, "Adapted third-party data"):

    US                      root, level province (division 000000)
    US-<STABR>              one per state, level prefecture, parent US (division <state FIPS>0000)
    <FSCSKEY>               one per system, level county (总馆); its central outlet (CE) is the system itself:
                            floor area and weekly hours come from the CE, population_served = POPU_LSA
    <FSCSKEY>-<FSCS_SEQ>    every other outlet, parent the system: BR → branch, BS (bookmobile) → mobile,
                            BM (books-by-mail) → other_system; any other type goes to the registry as it is
                            and is quarantined there (unknown_code) — FY2018 has one, `MO` (a "LIBRARY BY MAIL")
    division_code           outlets: INCITSST (2) + "0" + INCITSCO (3), six digits whose first two are the state,
                            like a GB/T 2260 code's province. A system: its FSCSKEY (six characters, unique) — the
                            warehouse keys a county system's figures (dim_library.county_code) on its division
                            code, and several PLS systems often share one US county
    valid_from              2018-01-01

Annual figures go on one statistics-report row per system (`report_2018.csv`, period year 2018, one form per
state): visits=VISITS, registered_readers=REGBOR, loans=TOTCIR, holdings=BKVOL, activities=TOTPRO,
opening_hours=HRS_OPEN; the other figures are blank (not reported). PLS codes missing answers as negative
numbers (-1 no answer, -3 closed or temporarily closed, -4 not applicable, -9 suppressed): every such cell
becomes blank — null, never 0 — and is counted per column.

Each state is its own source (`pls_<STABR>`: its registry replaces only its own earlier registry, its form
is its own batch); the root is source `pls`. Loading the same files again changes nothing.

    load(systems_csv, outlets_csv, *, states=None) -> dict    # the API
    shuyun ingest pls SYSTEMS OUTLETS [--states AK,RI]        # the CLI (ingestion/cli.py)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.adapters import deliveries
from ingestion.adapters.deliveries import AdapterError
from ingestion.loader import BatchResult

ROOT = "US"
ROOT_SOURCE = "pls"
VALID_FROM = "2018-01-01"
YEAR = 2018
SQ_FT_TO_M2 = 0.09290304
OUTLET_LEVELS = {"BR": "branch", "BS": "mobile", "BM": "other_system"}  # CE is folded into its system
CENTRAL = "CE"
REPORT_FIGURES = {"visits": "VISITS", "registered_readers": "REGBOR", "loans": "TOTCIR", "holdings": "BKVOL",
                  "activities": "TOTPRO", "opening_hours": "HRS_OPEN"}
SYSTEM_COLUMNS = ("STABR", "FSCSKEY", "LIBNAME", "POPU_LSA", *REPORT_FIGURES.values())
OUTLET_COLUMNS = ("STABR", "FSCSKEY", "FSCS_SEQ", "LIBNAME", "C_OUT_TY", "SQ_FEET", "HOURS", "WKS_OPEN",
                  "INCITSST", "INCITSCO")


def source_of(state: str) -> str:
    return f"pls_{state}"


@dataclass
class Blanker:
    """Turns PLS's negative codes into blanks and counts them per column."""

    counts: Counter = field(default_factory=Counter)

    def __call__(self, row: dict, column: str) -> str:
        text = (row.get(column) or "").strip()
        try:
            negative = float(text) < 0
        except ValueError:
            return text  # blank stays blank; text that is no number goes on and trips bad_number
        if negative:
            self.counts[column] += 1
            return ""
        return text


@dataclass
class Plan:
    """The deliveries made from the two files, per state, before anything is loaded."""

    libraries: dict[str, list[dict]]  # state -> registry rows (the state, its systems, its outlets)
    reports: dict[str, list[dict]]    # state -> report rows (one per system)
    divisions: dict[str, str]         # state -> division code of the state
    systems: int
    outlets: int
    blanked: Counter
    encodings: dict[str, str]
    other_outlet_types: Counter
    orphan_outlets: int


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _division(outlet: dict) -> str:
    state, county = (outlet.get("INCITSST") or "").strip(), (outlet.get("INCITSCO") or "").strip()
    if not (state.isdigit() and county.isdigit()):
        return ""  # blank: the registry quarantines the row as missing_value
    return f"{int(state):02d}0{int(county):03d}"


def _facilities(outlet: dict | None, blank: Blanker) -> dict:
    """floor_area_m2 (from square feet) and weekly_open_hours (annual hours ÷ weeks open) of one outlet."""
    if outlet is None:
        return {}
    sq_ft, hours, weeks = (_number(blank(outlet, c)) for c in ("SQ_FEET", "HOURS", "WKS_OPEN"))
    weekly = None
    if hours == 0:
        weekly = 0.0
    elif hours is not None and weeks:
        weekly = round(hours / weeks, 1)
    return {"floor_area_m2": None if sq_ft is None else round(sq_ft * SQ_FT_TO_M2, 1), "weekly_open_hours": weekly}


def plan(systems_csv: Path, outlets_csv: Path, states: list[str] | None = None) -> Plan:
    systems, systems_encoding = deliveries.read_rows(systems_csv, SYSTEM_COLUMNS)
    outlets, outlets_encoding = deliveries.read_rows(outlets_csv, OUTLET_COLUMNS)
    wanted = {s.strip().upper() for s in states} if states else None
    if wanted:
        known = {s["STABR"].strip() for s in systems}
        unknown = sorted(wanted - known)
        if unknown:
            raise AdapterError(f"{systems_csv}: no systems in state(s) {', '.join(unknown)} "
                               f"(the file has {', '.join(sorted(known))})")
        systems = [s for s in systems if s["STABR"].strip() in wanted]
    by_key = {s["FSCSKEY"].strip(): s for s in systems}
    outlets_of: dict[str, list[dict]] = defaultdict(list)
    orphans = 0
    for outlet in outlets:
        key = outlet["FSCSKEY"].strip()
        if key in by_key:
            outlets_of[key].append(outlet)
        elif wanted is None or outlet["STABR"].strip() in wanted:
            orphans += 1  # an outlet of no system in the file: registered under its state, parent dangling
            outlets_of[key].append(outlet)
    blank = Blanker()
    libraries: dict[str, list[dict]] = defaultdict(list)
    reports: dict[str, list[dict]] = defaultdict(list)
    state_fips: dict[str, Counter] = defaultdict(Counter)
    other_types: Counter = Counter()
    n_outlets = 0
    for key in sorted(outlets_of.keys() | by_key.keys()):
        system = by_key.get(key)
        own = sorted(outlets_of.get(key, []), key=lambda o: o["FSCS_SEQ"])
        state = (system or own[0])["STABR"].strip()
        central = next((o for o in own if o["C_OUT_TY"].strip() == CENTRAL), None)
        for outlet in own:
            state_fips[state][(outlet.get("INCITSST") or "").strip()] += 1
        if system is not None:
            population = blank(system, "POPU_LSA")
            libraries[state].append({
                "library_code": key, "name_zh": system["LIBNAME"].strip(), "name_en": system["LIBNAME"].strip(),
                "level": "county", "parent_code": f"{ROOT}-{state}", "division_code": key,
                "population_served": population, "valid_from": VALID_FROM, "source_system": source_of(state),
                **_facilities(central, blank),
            })
            report = {"library_code": key, "library_name": system["LIBNAME"].strip()}
            report.update({canonical: blank(system, column) for canonical, column in REPORT_FIGURES.items()})
            reports[state].append(report)
        for outlet in own:
            if outlet is central and system is not None:
                continue  # the system itself (总馆)
            n_outlets += 1
            kind = outlet["C_OUT_TY"].strip()
            if kind == CENTRAL:  # a second central outlet (FY2018: 2 systems) is a building like a branch
                level = "branch"
            else:
                level = OUTLET_LEVELS.get(kind, kind)
                if kind not in OUTLET_LEVELS:
                    other_types[kind] += 1
            libraries[state].append({
                "library_code": f"{key}-{outlet['FSCS_SEQ'].strip()}", "name_zh": outlet["LIBNAME"].strip(),
                "name_en": outlet["LIBNAME"].strip(), "level": level, "parent_code": key,
                "division_code": _division(outlet), "valid_from": VALID_FROM, "source_system": source_of(state),
                **_facilities(outlet, blank),
            })
    divisions = {}
    for state in libraries:
        fips = max(state_fips[state].items(), key=lambda kv: (kv[1], kv[0]))[0] if state_fips[state] else ""
        divisions[state] = f"{int(fips):02d}0000" if fips.isdigit() else ""
        libraries[state].insert(0, {
            "library_code": f"{ROOT}-{state}", "name_zh": f"美国 {state} 州图书馆管理机构",
            "name_en": f"{state} state library agency (PLS state data coordinator)", "level": "prefecture",
            "parent_code": ROOT, "division_code": divisions[state], "valid_from": VALID_FROM,
            "source_system": source_of(state)})
    return Plan(dict(libraries), dict(reports), divisions, len(systems), n_outlets, blank.counts,
                {"systems": systems_encoding, "outlets": outlets_encoding}, other_types, orphans)


def root_row() -> dict:
    return {"library_code": ROOT, "name_zh": "美国公共图书馆 (IMLS PLS FY2018)",
            "name_en": "United States public libraries (IMLS Public Libraries Survey FY2018)",
            "level": "province", "division_code": "000000", "valid_from": VALID_FROM, "source_system": ROOT_SOURCE}


def load(systems_csv: Path, outlets_csv: Path, *, states: list[str] | None = None) -> dict:
    """Adapt the PLS systems and outlets files and load them into the warehouse the environment points at.

    Returns {systems, outlets, report_rows, blanked {PLS column: cells}, batch_ids, batches (BatchResult, in
    load order), failed, encodings, other_outlet_types, orphan_outlets, states}. Raises AdapterError (plain
    message) when a file cannot be read or lacks a column; bad rows are the loader's business (quarantine)."""
    p = plan(Path(systems_csv), Path(outlets_csv), states)
    out = deliveries.work_dir("pls")
    batches: list[BatchResult] = [deliveries.load_registry(
        deliveries.write_libraries(out / "registry" / "libraries.csv", [root_row()]), ROOT_SOURCE)]
    for state in sorted(p.libraries):
        path = deliveries.write_libraries(out / state / "registry" / "libraries.csv", p.libraries[state])
        batches.append(deliveries.load_registry(path, source_of(state)))
    for state in sorted(p.reports):
        title = f"美国 {state} 州公共图书馆系统年度统计报表 {YEAR}年 (IMLS PLS FY{YEAR})"
        path = deliveries.write_form(out / state / "monthly_report" / f"report_{YEAR}.csv", title, p.reports[state])
        batches.append(deliveries.load_form(path, source_of(state), p.divisions[state]))
    return {
        "systems": p.systems, "outlets": p.outlets, "report_rows": sum(len(r) for r in p.reports.values()),
        "blanked": dict(sorted(p.blanked.items())), "batch_ids": [b.batch_id for b in batches],
        "batches": batches, "failed": sum(b.status == "failed" for b in batches), "encodings": p.encodings,
        "other_outlet_types": dict(p.other_outlet_types), "orphan_outlets": p.orphan_outlets,
        "states": sorted(p.libraries),
    }
