"""The dbt runner and project conventions that need no warehouse (fast)."""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from shuyun import transform
from shuyun.cli import cli

DBT_DIR = transform.DBT_PROJECT_DIR


def test_profiles_read_only_environment_variables():
    # given the committed profiles.yml
    profiles = yaml.safe_load((DBT_DIR / "profiles.yml").read_text())
    prod = profiles["shuyun"]["outputs"]["prod"]
    # then every connection value comes from the environment, the password from a masked variable
    for key in ("host", "port", "user", "password", "dbname"):
        assert "env_var(" in str(prod[key]), key
    assert "DBT_ENV_SECRET_SHUYUN_PG_PASSWORD" in prod["password"]
    assert "as_number" in prod["port"]


def test_dbt_env_hands_the_password_over_as_a_dbt_secret(monkeypatch):
    # given a warehouse configured by URL (no server needed to compute an address)
    monkeypatch.setenv("SHUYUN_WAREHOUSE_URL", "postgresql://postgres@db.example:5433/warehouse")
    monkeypatch.setenv("SHUYUN_TRANSFORMER_PASSWORD", "s3cret")
    monkeypatch.setenv("SHUYUN_WAREHOUSE_DB", "shuyun_test_x")
    # when the dbt environment is computed
    env = transform.dbt_env("transformer")
    # then it names the test database and role, and the password only under DBT_ENV_SECRET_*
    assert env == {
        "SHUYUN_PG_HOST": "db.example",
        "SHUYUN_PG_PORT": "5433",
        "SHUYUN_PG_USER": "shuyun_transformer",
        "SHUYUN_PG_DBNAME": "shuyun_test_x",
        "DBT_ENV_SECRET_SHUYUN_PG_PASSWORD": "s3cret",
    }


@pytest.mark.parametrize(
    ("args", "expected_tail"),
    [
        pytest.param(["build"], ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)], id="adds-both"),
        pytest.param(["run", "--project-dir", "/x"], ["--project-dir", "/x", "--profiles-dir", str(DBT_DIR)],
                     id="keeps-explicit-project"),
        pytest.param(["--version"], ["--version"], id="version-untouched"),
    ],
)
def test_project_and_profiles_come_from_dbt_folder(args, expected_tail):
    assert transform._with_project_args(args)[-len(expected_tail):] == expected_tail


def test_failures_are_summarised_per_node_without_macro_stack():
    # given a dbt result with one failing test and one model error carrying dbt's macro call stack
    failing_test = SimpleNamespace(status="fail", failures=3, message="Got 3 results, configured to fail if != 0",
                                   node=SimpleNamespace(unique_id="test.shuyun.unique_fct_loans_loan_id"))
    broken_model = SimpleNamespace(
        status="error", failures=None,
        message="Database Error in model fct_loans\n  column \"x\" does not exist\n  > in macro statement\n"
                "  > called by model fct_loans",
        node=SimpleNamespace(unique_id="model.shuyun.fct_loans"))
    passing = SimpleNamespace(status="pass", failures=0, message="", node=SimpleNamespace(unique_id="model.shuyun.a"))
    result = SimpleNamespace(exception=None, result=SimpleNamespace(results=[failing_test, broken_model, passing]))
    # when it is described
    text = transform.describe_failures(result)
    # then each failing node is named with its reason, and nothing else
    assert text.splitlines()[0] == ("fail: test.shuyun.unique_fct_loans_loan_id (3 failing rows): "
                                    "Got 3 results, configured to fail if != 0")
    assert "model.shuyun.fct_loans" in text and 'column "x" does not exist' in text
    assert "> in macro" not in text and "model.shuyun.a" not in text


def test_cli_without_a_dbt_command_explains_itself():
    outcome = CliRunner().invoke(cli, ["dbt"])
    assert outcome.exit_code == 2
    assert "give a dbt command" in outcome.output
    assert "Traceback" not in outcome.output


def test_no_project_python_module_is_named_like_a_dbt_plugin():
    # dbt imports every module on sys.path whose name starts with dbt_: none of ours may
    root = DBT_DIR.parent
    offenders = [
        p for p in root.glob("**/dbt_*.py")
        if not any(part.startswith(".") or part in {"site-packages", "node_modules"}
                   for part in p.relative_to(root).parts)
    ]
    assert offenders == []


def _load_calendar_script():
    spec = importlib.util.spec_from_file_location("make_calendar_seed", DBT_DIR / "scripts" / "make_calendar_seed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calendar_seed_is_what_the_script_generates():
    # the committed seed equals a fresh run of dbt/scripts/make_calendar_seed.py
    generated = list(_load_calendar_script().rows())
    with (DBT_DIR / "seeds" / "chinese_calendar_days.csv").open(encoding="utf-8") as fh:
        committed = list(csv.DictReader(fh))
    assert committed == generated
    assert committed[0]["date_day"] == "2018-01-01" and committed[-1]["date_day"] == "2026-12-31"


@pytest.mark.parametrize(
    ("day", "public_holiday", "name", "workday", "vacation"),
    [
        pytest.param("2024-02-04", "false", "", "true", "true", id="adjusted-sunday-before-spring-festival"),
        pytest.param("2024-02-10", "true", "春节", "false", "true", id="spring-festival"),
        pytest.param("2025-10-01", "true", "国庆节", "false", "false", id="national-day"),
        pytest.param("2025-09-28", "false", "", "true", "false", id="adjusted-sunday-before-national-day"),
        pytest.param("2024-07-01", "false", "", "true", "true", id="summer-vacation-starts"),
        pytest.param("2024-09-02", "false", "", "true", "false", id="school-year-starts"),
    ],
)
def test_calendar_seed_days(day, public_holiday, name, workday, vacation):
    with (DBT_DIR / "seeds" / "chinese_calendar_days.csv").open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["date_day"] == day)
    assert (row["is_public_holiday"], row["holiday_name_zh"], row["is_workday"], row["is_school_vacation"]) == (
        public_holiday, name, workday, vacation)


def _model_files(folder: str) -> set[str]:
    return {p.stem for p in (DBT_DIR / "models" / folder).rglob("*.sql")}


def _described_models(folder: str) -> dict[str, dict]:
    described = {}
    for path in (DBT_DIR / "models" / folder).rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []) or []:
            described[model["name"]] = model
    return described


@pytest.mark.parametrize("folder", ["staging", "intermediate", "marts"])
def test_every_model_is_described(folder):
    described = _described_models(folder)
    assert _model_files(folder) <= set(described), "models without a yml entry"
    assert all(model.get("description") for model in described.values())


def test_every_mart_column_is_typed_and_described_in_chinese_and_english():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for name, model in _described_models("marts").items():
        sql = next((DBT_DIR / "models" / "marts").rglob(f"{name}.sql")).read_text()  # marts/ or a sub-folder
        for column in model.get("columns", []):  # intermediate helpers in a marts sub-folder have none
            assert column.get("data_type"), f"{name}.{column['name']} has no data_type"
            description = column.get("description", "")
            assert cjk.search(description) and re.search(r"[a-z]{3}", description), f"{name}.{column['name']}"
            assert column["name"] in sql, f"{name}.{column['name']} is not produced by the model"


def test_marts_follow_the_published_contract():
    """The columns Superset charts are built on (the mart contract) all exist under these names."""
    contract = {
        "dim_library": "library_version_key library_code name_zh level level_zh parent_code county_code "
                       "county_name_zh prefecture_code prefecture_name_zh division_code population_served "
                       "floor_area_m2 seats children_seats networked_pcs weekly_open_hours staff periodicals "
                       "valid_from valid_to is_current",
        "dim_date": "date_day year quarter month month_start iso_week day_of_week is_weekend is_public_holiday "
                    "holiday_name_zh is_workday is_school_vacation",
        "fct_circulation_events": "event_id event_type event_at event_date library_code library_version_key "
                                  "library_level county_code prefecture_code item_barcode item_home_library "
                                  "reader_key reader_home_library channel is_cross_library_item "
                                  "is_cross_library_reader clc_top_class is_children_item _batch_id",
        "fct_library_daily": "library_code date_day county_code prefecture_code library_level loans returns "
                             "renewals visits distinct_readers",
        "fct_cross_library_flows": "month_start borrow_library_code return_library_code item_home_library "
                                   "reader_home_library county_code prefecture_code loans returned_loans",
        "fct_holdings_monthly": "month_start library_code county_code prefecture_code clc_top_class "
                                "clc_top_class_zh audience items_held items_added items_withdrawn",
        "fct_loans": "loan_id loan_at library_code county_code prefecture_code item_barcode reader_key due_date "
                     "renewals returned_at return_library_code loan_days overdue_days is_returned_elsewhere",
        "fct_monthly_reports": "county_code library_code month_start",
        "fct_activities": "county_code library_code month_start",
        "fct_rotations": "county_code library_code month_start",
    }
    described = _described_models("marts")
    for name, columns in contract.items():
        have = [c["name"] for c in described[name]["columns"]]
        missing = [c for c in columns.split() if c not in have]
        assert missing == [], f"{name} lacks {missing}"


def test_exposures_name_the_three_dashboards():
    exposures = yaml.safe_load((DBT_DIR / "models" / "marts" / "_exposures.yml").read_text())["exposures"]
    assert {e["name"] for e in exposures} == {"province_overview", "county_scorecard", "assessment_indicators"}
    assert all(e["type"] == "dashboard" and e["depends_on"] for e in exposures)


def test_sources_cover_every_raw_table_with_freshness():
    raw_sql = (Path(transform.settings.PROJECT_ROOT) / "ingestion" / "sql" / "raw.sql").read_text()
    raw_tables = set(re.findall(r"create table if not exists raw\.(\w+)", raw_sql))
    sources = yaml.safe_load((DBT_DIR / "models" / "staging" / "raw" / "_raw__sources.yml").read_text())["sources"]
    raw = next(s for s in sources if s["name"] == "raw")
    assert {t["name"] for t in raw["tables"]} == raw_tables
    assert raw["config"]["loaded_at_field"] == "_loaded_at" and raw["config"]["freshness"]["error_after"]
    staged = _model_files("staging")
    assert {f"stg_raw__{t}" for t in raw_tables} <= staged
