"""The real IMLS PLS FY2018 systems and outlets as a registry (system → outlets as 总馆 → 分馆/book vans) with
annual statistics reports, loaded through the normal path. Expected counts come from the CSVs, read here
independently of the adapter."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from ingestion.adapters import pls
from ingestion.adapters.deliveries import AdapterError

PLS = Path("/work/shared/realdata/pls")
SYSTEMS, OUTLETS = PLS / "pls_fy2018_libraries.csv", PLS / "pls_fy18_outlet_pud18i.csv"
# Alaska and Rhode Island (small), Ohio and Washington (a system with two central outlets each), Missouri (the
# one outlet of a type PLS does not document, `MO`), Colorado (an outlet name with a Windows-1252 en dash)
STATES = ["AK", "RI", "OH", "WA", "MO", "CO"]
MAPPED = {"CE", "BR", "BS", "BM"}
SYSTEM_NUMBERS = ["POPU_LSA", "VISITS", "REGBOR", "TOTCIR", "BKVOL", "TOTPRO", "HRS_OPEN"]
OUTLET_NUMBERS = ["SQ_FEET", "HOURS", "WKS_OPEN"]

pytestmark = pytest.mark.skipif(not SYSTEMS.exists(), reason="the PLS files are not in /work/shared/realdata")


def _csv(path: Path, encoding: str) -> pl.DataFrame:
    text = path.read_bytes().decode(encoding)
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def expected(states: list[str] | None) -> dict:
    """What the warehouse must hold, from the CSVs: systems and outlets of the states, CE folding, blanks."""
    systems = _csv(SYSTEMS, "utf-8-sig")
    outlets = _csv(OUTLETS, "cp1252")  # not UTF-8: a 0x96 en dash
    if states:
        systems = systems.filter(pl.col("STABR").is_in(states))
    outlets = outlets.filter(pl.col("FSCSKEY").is_in(systems["FSCSKEY"].to_list()))
    folded = outlets.filter(pl.col("C_OUT_TY") == "CE")["FSCSKEY"].n_unique()
    unmapped = outlets.filter(~pl.col("C_OUT_TY").is_in(list(MAPPED))).height
    blanked = {c: systems.filter(pl.col(c).cast(pl.Float64) < 0).height for c in SYSTEM_NUMBERS}
    blanked |= {c: outlets.filter(pl.col(c).cast(pl.Float64) < 0).height for c in OUTLET_NUMBERS}
    n_states = systems["STABR"].n_unique()
    return {"systems": systems, "outlets": outlets, "states": n_states, "folded": folded, "unmapped": unmapped,
            "loaded": n_states + systems.height + outlets.height - folded - unmapped,
            "blanked": {c: n for c, n in blanked.items() if n}}


def _counts(pg, sources: list[str]) -> tuple[int, dict]:
    loaded = pg.execute("select count(*) from raw.libraries where _source = any(%s)", (sources,)).fetchone()[0]
    rules = dict(pg.execute("select rule, count(*) from quarantine.rejected_rows where _source = any(%s) "
                            "group by rule", (sources,)).fetchall())
    return loaded, rules


@pytest.fixture(scope="module")
def loaded(province):
    return pls.load(SYSTEMS, OUTLETS, states=STATES)


def test_every_system_and_outlet_lands_in_raw_or_quarantine_with_a_rule(loaded, pg):
    want = expected(STATES)
    sources = [pls.source_of(s) for s in STATES]
    assert loaded["failed"] == 0, [b.ledger_line() for b in loaded["batches"]]
    assert (loaded["systems"], loaded["outlets"]) == (want["systems"].height,
                                                     want["outlets"].height - want["folded"])
    assert _counts(pg, sources) == (want["loaded"], {"unknown_code": want["unmapped"]})
    mo = pg.execute("select record->>'library_code', record->>'name_zh', reason from quarantine.rejected_rows "
                    "where _source = 'pls_MO'").fetchall()
    assert mo == [("MO0004-037", "LIBRARY BY MAIL", mo[0][2])] and "level MO" in mo[0][2]
    # the ledger reconciles batch by batch, and the root is its own source
    for b in loaded["batches"]:
        assert b.rows_read == b.rows_loaded + b.rows_quarantined, b.ledger_line()
    assert pg.execute("select library_code, level, parent_code from raw.libraries where _source = 'pls'").fetchall() \
        == [("US", "province", None)]


def test_the_hierarchy_folds_the_central_outlet_into_its_system(loaded, pg):
    libs = {r[0]: r[1:] for r in pg.execute(
        "select library_code, level, parent_code, division_code, floor_area_m2::float, weekly_open_hours::float, "
        "population_served, name_zh from raw.libraries where _source = any(%s)",
        ([pls.source_of(s) for s in STATES],))}
    # Anchorage: the system is the 总馆 (county), its CE (AK0002-011) is not a library of its own
    assert libs["US-AK"][:3] == ("prefecture", "US", "020000")
    assert libs["AK0002"][:3] == ("county", "US-AK", "AK0002")
    assert "AK0002-011" not in libs
    ce = expected(["AK"])["outlets"].filter(pl.col("LIBID") == "AK0002-011").row(0, named=True)
    assert libs["AK0002"][3] == round(int(ce["SQ_FEET"]) * 0.09290304, 1)
    assert libs["AK0002"][4] == round(int(ce["HOURS"]) / int(ce["WKS_OPEN"]), 1)
    assert libs["AK0002"][5] == 295365
    # branches and bookmobiles hang under their system
    assert libs["AK0002-007"][:2] == ("branch", "AK0002")
    bookmobile = expected(STATES)["outlets"].filter(pl.col("C_OUT_TY") == "BS").row(0, named=True)
    code = f"{bookmobile['FSCSKEY']}-{bookmobile['FSCS_SEQ']}"
    assert libs[code][:2] == ("mobile", bookmobile["FSCSKEY"])
    # a system with two central outlets: the first (by FSCS_SEQ) is the system, the other a branch
    assert "OH0063-002" not in libs and libs["OH0063-028"][:2] == ("branch", "OH0063")
    # a negative population (-3/-9) is blank, never 0
    assert all(v[5] is None or v[5] > 0 for v in libs.values())
    # the outlets file is Windows-1252: its en dash survives
    assert libs["CO0144-004"][6] == "DELTA CO PLD \u2013 DELTA PUBLIC LIBRARY"


def test_one_systems_annual_figures_equal_its_csv_row(loaded, pg):
    row = expected(["AK"])["systems"].filter(pl.col("FSCSKEY") == "AK0002").row(0, named=True)
    got = pg.execute("select period_type, period_start::text, visits, registered_readers, loans, holdings, "
                     "activities, opening_hours::float, active_readers, participants from raw.monthly_reports "
                     "where library_code = 'AK0002' and _source = 'pls_AK'").fetchall()
    assert got == [("year", "2018-01-01", int(row["VISITS"]), int(row["REGBOR"]), int(row["TOTCIR"]),
                    int(row["BKVOL"]), int(row["TOTPRO"]), float(row["HRS_OPEN"]), None, None)]


def test_negative_codes_become_blank_and_are_counted_per_column(loaded, pg):
    want = expected(STATES)
    assert loaded["blanked"] == want["blanked"]
    closed = want["systems"].filter(pl.col("VISITS").cast(pl.Int64) < 0)["FSCSKEY"].to_list()
    assert closed, "the chosen states have systems with a negative VISITS code"
    figures = pg.execute("select visits, loans from raw.monthly_reports where library_code = any(%s)",
                         (closed,)).fetchall()
    assert figures == [(None, None)] * len(closed)
    negatives = pg.execute("select count(*) from raw.monthly_reports where _source = any(%s) and (visits < 0 or "
                           "loans < 0 or holdings < 0 or opening_hours < 0)",
                           ([pls.source_of(s) for s in STATES],)).fetchone()[0]
    assert negatives == 0
    assert loaded["report_rows"] == want["systems"].height
    assert loaded["encodings"] == {"systems": "utf-8-sig", "outlets": "cp1252"}


def test_loading_the_same_files_again_changes_nothing(loaded, pg):
    sources = [pls.source_of(s) for s in STATES]
    before = _counts(pg, sources)
    again = pls.load(SYSTEMS, OUTLETS, states=STATES)
    assert {b.status for b in again["batches"]} == {"already_loaded"}
    assert _counts(pg, sources) == before


def test_an_unknown_state_is_a_plain_error(province):
    with pytest.raises(AdapterError, match="no systems in state.* ZZ"):
        pls.load(SYSTEMS, OUTLETS, states=["ZZ"])


@pytest.mark.slow
def test_the_whole_survey_loads_every_system_and_outlet(province, pg):
    # all 55 states and territories: 9,261 systems, 17,478 outlets (timed in ingestion/README.md)
    result = pls.load(SYSTEMS, OUTLETS)
    want = expected(None)
    assert result["failed"] == 0
    sources = [pls.source_of(s) for s in result["states"]]
    assert len(sources) == want["states"] == 55
    assert _counts(pg, sources) == (want["loaded"], {"unknown_code": want["unmapped"]})
    reports = pg.execute("select count(*) from raw.monthly_reports where _source = any(%s)", (sources,)).fetchone()
    assert reports[0] == want["systems"].height == 9261
    assert result["blanked"] == want["blanked"]


def test_each_outlet_type_gets_its_level_and_negative_codes_are_blanked(tmp_path):
    # given a tiny survey in the PLS layout: one system with a central outlet, a branch, a bookmobile, a
    # books-by-mail outlet and an outlet of no system; negative codes in several columns
    systems = tmp_path / "systems.csv"
    systems.write_bytes(("\ufeffSTABR,FSCSKEY,LIBNAME,POPU_LSA,VISITS,REGBOR,TOTCIR,BKVOL,TOTPRO,HRS_OPEN\n"
                         "ZZ,ZZ0001,TEST SYSTEM,-9,1000,-1,500,-3,7,2000\n").encode())
    outlets = tmp_path / "outlets.csv"
    outlets.write_bytes((
        "STABR,FSCSKEY,FSCS_SEQ,LIBNAME,C_OUT_TY,SQ_FEET,HOURS,WKS_OPEN,INCITSST,INCITSCO\n"
        "ZZ,ZZ0001,002,CENTRAL \u2013 MAIN,CE,1000,2080,52,99,7\n"
        "ZZ,ZZ0001,003,NORTH BRANCH,BR,-4,-1,-3,99,7\n"
        "ZZ,ZZ0001,004,THE VAN,BS,-4,500,50,99,123\n"
        "ZZ,ZZ0001,005,BY MAIL,BM,-4,0,0,99,7\n"
        "ZZ,ZZ0009,001,LOST OUTLET,BR,100,100,10,99,7\n").encode("cp1252"))

    # when it is planned (no warehouse needed)
    p = pls.plan(systems, outlets)

    # then the CE is the system, the others hang under it with their levels; negatives are blank and counted
    rows = {r["library_code"]: r for r in p.libraries["ZZ"]}
    assert [(c, r["level"], r.get("parent_code")) for c, r in rows.items()] == [
        ("US-ZZ", "prefecture", "US"), ("ZZ0001", "county", "US-ZZ"), ("ZZ0001-003", "branch", "ZZ0001"),
        ("ZZ0001-004", "mobile", "ZZ0001"), ("ZZ0001-005", "other_system", "ZZ0001"),
        ("ZZ0009-001", "branch", "ZZ0009")]
    # a system's division code is its FSCSKEY: several systems may share one US county
    assert (rows["ZZ0001"]["division_code"], rows["ZZ0001"]["population_served"]) == ("ZZ0001", "")
    assert (rows["ZZ0001"]["floor_area_m2"], rows["ZZ0001"]["weekly_open_hours"]) == (92.9, 40.0)
    assert rows["ZZ0001-003"]["floor_area_m2"] is None and rows["ZZ0001-003"]["weekly_open_hours"] is None
    assert rows["ZZ0001-004"]["division_code"] == "990123"
    assert rows["ZZ0001-005"]["weekly_open_hours"] == 0.0  # open 0 hours: 0, which is an answer
    assert p.reports["ZZ"] == [{"library_code": "ZZ0001", "library_name": "TEST SYSTEM", "visits": "1000",
                                "registered_readers": "", "loans": "500", "holdings": "", "activities": "7",
                                "opening_hours": "2000"}]
    assert dict(p.blanked) == {"POPU_LSA": 1, "REGBOR": 1, "BKVOL": 1, "SQ_FEET": 3, "HOURS": 1, "WKS_OPEN": 1}
    assert (p.systems, p.outlets, p.orphan_outlets) == (1, 4, 1)
    assert p.encodings == {"systems": "utf-8-sig", "outlets": "cp1252"}
