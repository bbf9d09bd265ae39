"""The per-capita indicators on real data: the IMLS Public Libraries Survey FY2018 (../shared/realdata/pls),
loaded through the PLS adapter (systems as 总馆 with their annual statistics report, states as prefectures),
built by dbt, and compared with the same figures computed directly from the raw CSV.

The direct computation follows the rule the dictionary states: a system's visits (or loans) per capita is
VISITS ÷ POPU_LSA when both are reported (PLS writes a missing answer as a negative number: -1, -3, -9); a
state's is the sum of VISITS over the systems that report both, divided by the sum of their POPU_LSA.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import psycopg
import pytest
from warehouse_state import empty_raw_tables

from ingestion.adapters import pls
from shuyun.transform import run_dbt

# ../shared/realdata next to the repository (this machine keeps it at /work/shared)
PLS = next((p / "realdata" / "pls" for p in (Path(__file__).resolve().parents[2].parent / "shared",
                                             Path("/work/shared")) if (p / "realdata" / "pls").exists()),
           Path("/work/shared/realdata/pls"))
SYSTEMS, OUTLETS = PLS / "pls_fy2018_libraries.csv", PLS / "pls_fy18_outlet_pud18i.csv"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SYSTEMS.exists(), reason="the PLS files are not in ../shared/realdata")]
STATES = ["AK", "RI", "WA"]  # AK and WA each have a system that did not report (negative codes)
MEASURES = {"visits_per_capita": "VISITS", "loans_per_capita": "TOTCIR"}


def six(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def built(warehouse_env):
    empty_raw_tables(warehouse_env.conninfo())  # exactly these deliveries (the session shares one database)
    summary = pls.load(SYSTEMS, OUTLETS, states=STATES)
    assert summary["failed"] == 0
    result = run_dbt(["build", "--full-refresh", "--select", "+path:models/marts/indicators",
                      "--indirect-selection", "buildable"])
    assert result.success
    return warehouse_env


@pytest.fixture(scope="module")
def survey() -> pl.DataFrame:
    systems = pl.read_csv(SYSTEMS, infer_schema_length=0, encoding="utf8-lossy")
    systems = systems.rename({systems.columns[0]: systems.columns[0].lstrip("\ufeff")})
    return systems.filter(pl.col("STABR").is_in(STATES)).select(
        "STABR", "FSCSKEY", *[pl.col(c).cast(pl.Int64) for c in ("POPU_LSA", "VISITS", "TOTCIR")])


def scorecard(owner, indicator: str) -> dict[str, dict]:
    with psycopg.connect(owner.conninfo(), row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute(
            "select * from marts.mart_county_scorecard where indicator_id = %s and period_type = 'year' "
            "and period_start = '2018-01-01'", (indicator,)).fetchall()
    return {r["area_code"]: r for r in rows}


@pytest.mark.parametrize("indicator", sorted(MEASURES))
def test_each_systems_per_capita_equals_the_raw_file(built, survey, indicator):
    column = MEASURES[indicator]
    marts = scorecard(built, indicator)
    assert len([r for r in marts.values() if r["area_level"] == "county"]) == survey.height
    for system in survey.iter_rows(named=True):
        row = marts[system["FSCSKEY"]]
        figure, population = system[column], system["POPU_LSA"]
        if figure < 0 or population < 0 or population == 0:
            # not reported in the survey: not computable, with a reason — never 0, never negative
            assert row["value"] is None and row["not_computable_reason"], system
        else:
            assert row["value"] == six(Decimal(figure) / Decimal(population)), system
            assert (row["numerator"], row["denominator"], row["value_source"]) == (figure, population, "forms")


@pytest.mark.parametrize("indicator", sorted(MEASURES))
def test_each_states_rollup_equals_the_raw_file(built, survey, indicator):
    column = MEASURES[indicator]
    marts = scorecard(built, indicator)
    reported = survey.filter((pl.col(column) >= 0) & (pl.col("POPU_LSA") >= 0))
    for state, group in reported.group_by("STABR"):
        figures, population = group[column].sum(), group["POPU_LSA"].sum()
        # the state's prefecture code, as its systems carry it
        codes = {r["prefecture_code"] for r in marts.values()
                 if r["area_level"] == "county" and r["area_code"].startswith(state[0])}
        assert len(codes) == 1, state
        row = marts[codes.pop()]
        assert row["area_level"] == "prefecture"
        assert (row["numerator"], row["denominator"]) == (figures, population), state
        assert row["value"] == six(Decimal(figures) / Decimal(population)), state
        assert row["counties"] == survey.filter(pl.col("STABR") == state[0]).height
    everything = scorecard(built, indicator)["province"]
    assert everything["numerator"] == reported[column].sum()
    assert everything["denominator"] == reported["POPU_LSA"].sum()


def test_systems_are_ranked_within_their_state(built, survey):
    marts = scorecard(built, "visits_per_capita")
    alaska = sorted((r for r in marts.values() if r["area_level"] == "county" and r["value"] is not None
                     and r["area_code"].startswith("AK")), key=lambda r: r["rank_in_prefecture"])
    assert alaska[0]["value"] == max(r["value"] for r in alaska)
    assert alaska[0]["percentile_in_prefecture"] == 100
