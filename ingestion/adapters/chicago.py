"""Chicago Public Library "Visitors by Location" (one row per location, one column per month, names padded
with spaces) → the CPL system with its branches in the registry and twelve monthly statistics forms.

Why the statistics form (`raw.monthly_reports`, period month, `visits` = 到馆人次) and not gate counts
(`raw.visitor_counts`): a gate-count row is one counter's entries in a short period, and dbt turns them
into *daily* library facts (`fct_library_daily` sums them by the day of `period_start`). A whole month's
visitors put there would land on the 1st of the month as one spike, with an invented gate id. The
statistics form is the warehouse's own shape for "a library's figure for a month" (`fct_monthly_reports`:
library × period), and it keeps "not reported" (blank) apart from 0.

Mapping (docs/feeds.md, "Adapted third-party data"):
    CPL                     the system, level county (总馆), division 170031 (Illinois 17, Cook County 031,
                            padded like the PLS adapter's codes)
    CPL-<NAME>              each location, level branch, parent CPL; NAME = the location's name trimmed,
                            without the source's `*` marker, upper-cased, every run of other characters
                            than A–Z/0–9 one `-` ("Daley, Richard J.-Bridgeport" → CPL-DALEY-RICHARD-J-BRIDGEPORT)
    report_<YYYYMM>.csv     per month: one row per location, visits = that month's column
The `*` after 35 names is the portal's footnote: the counter there does not see the whole building
(community rooms and programmes are not counted). The YTD column is checked against the months and not
loaded (a difference is reported as a finding). Months reported as 0 (closed branches) stay 0: the source
says 0, it does not leave them out.
"""

from __future__ import annotations

import re
from pathlib import Path

from ingestion.adapters import deliveries
from ingestion.adapters.deliveries import AdapterError
from ingestion.loader import BatchResult

SOURCE = "chicago_cpl"
SYSTEM = "CPL"
DIVISION = "170031"
MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
          "NOVEMBER", "DECEMBER")
COUNTER_MARK = "*"


def branch_code(name: str) -> str:
    """Deterministic code of a location from its name ('' for a blank name: the registry quarantines it)."""
    slug = re.sub(r"[^A-Z0-9]+", "-", name.replace(COUNTER_MARK, "").strip().upper()).strip("-")
    return f"{SYSTEM}-{slug}" if slug else ""


def _year(path: Path, year: int | None) -> int:
    if year:
        return year
    match = re.search(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", path.name)
    if not match:
        raise AdapterError(f"{path}: the year is not in the file name; pass it (load(path, year=2017))")
    return int(match.group(1))


def load(path: Path, *, year: int | None = None) -> dict:
    """Adapt the visitors file and load it (registry first, then one form per month) into the warehouse the
    environment points at. Returns {branches, report_rows, year, findings, counter_marked, batch_ids,
    batches, failed}."""
    path = Path(path)
    rows, _encoding = deliveries.read_rows(path, ("LOCATION", *MONTHS))
    year = _year(path, year)
    findings: list[str] = []
    branches, codes, marked = [], {}, []
    for n, row in enumerate(rows, start=1):
        raw_name = row["LOCATION"] or ""
        name = raw_name.replace(COUNTER_MARK, "").strip()
        code = branch_code(raw_name)
        if code and code in codes:
            raise AdapterError(f"{path}: data row {n} ({name!r}) and row {codes[code]} give the same code {code}; "
                               "rename one of them")
        codes[code] = n
        if COUNTER_MARK in raw_name:
            marked.append(code)
        branches.append((code, name, row))
        ytd = (row.get("YTD") or "").strip()
        try:
            months_total = sum(int((row[m] or "0").replace(",", "")) for m in MONTHS)
            if ytd and months_total != int(ytd.replace(",", "")):
                findings.append(f"data row {n} {name}: the months add up to {months_total:,}, YTD says {ytd}")
        except ValueError:
            pass  # a month that is no number is quarantined (bad_number) when its form is loaded
    registry = [{"library_code": SYSTEM, "name_zh": "芝加哥公共图书馆", "name_en": "Chicago Public Library",
                 "level": "county", "division_code": DIVISION, "valid_from": f"{year}-01-01", "source_system": SOURCE}]
    registry += [{"library_code": code, "name_zh": name, "name_en": name, "level": "branch", "parent_code": SYSTEM,
                  "division_code": DIVISION, "valid_from": f"{year}-01-01", "source_system": SOURCE}
                 for code, name, _ in branches]
    out = deliveries.work_dir("chicago")
    batches: list[BatchResult] = [deliveries.load_registry(
        deliveries.write_libraries(out / "registry" / "libraries.csv", registry), SOURCE)]
    for m, month in enumerate(MONTHS, start=1):
        form = [{"library_code": code, "library_name": name, "visits": (row[month] or "").strip()}
                for code, name, row in branches]
        title = f"芝加哥公共图书馆各馆到馆人次 {year}年{m}月 (Chicago Public Library visitors by location)"
        path_m = deliveries.write_form(out / "monthly_report" / f"report_{year}{m:02d}.csv", title, form)
        batches.append(deliveries.load_form(path_m, SOURCE, DIVISION))
    if marked:
        findings.append(f"{len(marked)} locations carry the source's '*' (counter does not see the whole "
                        "building); dropped from their names and codes")
    return {"branches": len(branches), "report_rows": len(branches) * len(MONTHS), "year": year,
            "findings": findings, "counter_marked": marked, "batch_ids": [b.batch_id for b in batches],
            "batches": batches, "failed": sum(b.status == "failed" for b in batches)}
