"""The checks as code and their thresholds: fast, no warehouse, no Great Expectations import."""

from __future__ import annotations

import pytest

from quality.checks import (
    LAYERS,
    RAW_FEEDS,
    ThresholdsError,
    build_checks,
    caps_relation,
    checks_for,
    load_thresholds,
)

GOOD = load_thresholds().values


def _write(tmp_path, values):
    import yaml

    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(values))
    return path


def _with(section, key, value):
    values = {s: dict(v) for s, v in GOOD.items()}
    values[section][key] = value
    return values


def test_every_check_is_complete_and_named_once():
    checks = build_checks()
    assert len({c.name for c in checks}) == len(checks)
    assert {c.layer for c in checks} == set(LAYERS)
    for c in checks:
        assert c.severity in ("warn", "block") and c.rule and c.suite.startswith(c.layer + "__")
    # every raw feed has a suite
    assert {c.table for c in checks_for("raw")} == set(RAW_FEEDS)


@pytest.mark.parametrize(
    "values, words",
    [
        pytest.param(_with("volume", "min_share_of_trailing_mean", -0.5), "volume.min_share_of_trailing_mean",
                     id="negative-number"),
        pytest.param(_with("visits", "default_hourly_cap", "lots"), "visits.default_hourly_cap", id="not-a-number"),
        pytest.param(_with("visits", "library_caps", {"532622000": -1}), "library_caps", id="negative-cap"),
        pytest.param(_with("monthly_report", "required_columns", ["visits", "smiles"]), "smiles",
                     id="unknown-form-column"),
        pytest.param(_with("tables", "stg_visitor_counts", "no_schema"), "tables.stg_visitor_counts",
                     id="table-without-schema"),
        pytest.param({k: v for k, v in GOOD.items() if k != "volume"}, "volume.", id="missing-section"),
    ],
)
def test_bad_thresholds_are_named(tmp_path, values, words):
    # given a thresholds file with one mistake, when the checks are built, then the error names the key
    with pytest.raises(ThresholdsError, match=words.replace(".", r"\.")):
        build_checks(load_thresholds(_write(tmp_path, values)))


def test_configured_library_caps_become_an_sql_relation():
    assert caps_relation({"532622000": 5000}) == "(values ('532622000', 5000.0)) as c(library_code, cap)"
    assert "where false" in caps_relation({})
