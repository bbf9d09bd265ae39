"""The task bodies of the DAGs, without Airflow: ingest outcome rules, registry reading, dbt grouping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

import ingestion
from shuyun.orchestration import steps


@dataclass
class FakeBatch:
    status: str
    message: str = ""
    batch_id: str = ""

    def ledger_line(self) -> str:
        return f"{self.status} {self.message}"


@dataclass
class FakeSource:
    name: str
    landing_dir: Path | None


@pytest.fixture
def registry(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "sources.yml"
    path.write_text("sources:\n  - {name: c532622, county_code: '532622'}\n"
                    "  - {name: c532623, county_code: '532623'}\n")
    (tmp_path / "landing" / "c532622").mkdir(parents=True)
    monkeypatch.setenv("SHUYUN_SOURCES", str(path))
    monkeypatch.setattr(ingestion, "list_sources", lambda registry_path=None: [
        FakeSource("c532622", tmp_path / "landing" / "c532622"), FakeSource("c532623", tmp_path / "landing" / "gone")])
    return path


def _run_source_returning(batches, calls=None):
    def run_source(source_name, feeds=None, *, registry_path=None, interval=None):
        if calls is not None:
            calls.append((source_name, interval))
        return batches

    return run_source


@pytest.mark.parametrize(
    "statuses",
    [
        pytest.param(["loaded", "rejected"], id="quarantined-rows-are-not-a-failure"),
        pytest.param(["already_loaded"], id="rerun"),
        pytest.param([], id="no-delivery-in-period"),
    ],
)
def test_ingest_source_succeeds_unless_a_batch_failed(registry, monkeypatch, statuses):
    # given a source whose batches end loaded / rejected / already loaded
    calls = []
    monkeypatch.setattr(ingestion, "run_source", _run_source_returning([FakeBatch(s) for s in statuses], calls))
    # when the step runs for one day
    summary = steps.ingest_source("c532622", "2026-03-01", "2026-03-02")
    # then it succeeds, asked ingestion for exactly that half-open period, and counts batches per status
    assert calls == [("c532622", (date(2026, 3, 1), date(2026, 3, 2)))]
    assert sum(summary["batches"].values()) == len(statuses)
    assert summary["loaded_batch_ids"] == []  # these fakes carry no batch ids


def test_ingest_source_fails_naming_the_failed_batches(registry, monkeypatch):
    batches = [FakeBatch("loaded"), FakeBatch("failed", "circ_20260301.csv: connection refused")]
    monkeypatch.setattr(ingestion, "run_source", _run_source_returning(batches))
    with pytest.raises(steps.StepFailed, match=r"c532622: 1 of 2 batches failed .*connection refused"):
        steps.ingest_source("c532622", "2026-03-01", "2026-03-02")


def test_missing_landing_folder_is_a_source_down_not_a_quiet_day(registry, monkeypatch):
    monkeypatch.setattr(ingestion, "run_source", _run_source_returning([]))
    with pytest.raises(steps.StepFailed, match=r"c532623: landing folder .*gone is missing"):
        steps.ingest_source("c532623", "2026-03-01", "2026-03-02")


def test_an_exception_inside_ingestion_is_reported_with_the_source(registry, monkeypatch):
    def run_source(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/landing/c532622/circulation")

    monkeypatch.setattr(ingestion, "run_source", run_source)
    with pytest.raises(steps.StepFailed, match=r"source c532622: PermissionError: .*Permission denied"):
        steps.ingest_source("c532622", "2026-03-01", "2026-03-02")


def test_all_deliveries_passes_no_interval(registry, monkeypatch):
    calls = []
    monkeypatch.setattr(ingestion, "run_source", _run_source_returning([], calls))
    steps.ingest_source("c532622", None, None)
    assert calls == [("c532622", None)]


def test_selected_sources_must_exist(registry):
    assert steps.list_sources() == ["c532622", "c532623"]
    assert steps.list_sources(["c532623"]) == ["c532623"]
    with pytest.raises(steps.StepFailed, match="no source named c999999"):
        steps.list_sources(["c999999"])


def test_missing_registry_fails_the_run_with_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SHUYUN_SOURCES", str(tmp_path / "nowhere.yml"))
    with pytest.raises(steps.StepFailed, match="nowhere.yml does not exist"):
        steps.list_sources()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("sources:\n  - {name: b}\n  - {name: a}\n", ["a", "b"], id="list"),
        pytest.param(None, [], id="missing-file"),
        pytest.param("sources: [unclosed\n", [], id="broken-yaml"),
        pytest.param("just a string\n", [], id="wrong-shape"),
    ],
)
def test_parse_time_registry_read_never_raises(tmp_path, text, expected):
    path = tmp_path / "sources.yml"
    if text is not None:
        path.write_text(text)
    assert steps.source_names_for_docs(path) == expected


def test_check_all_loaded_names_the_counties_missing():
    loaded = [{"source": "c532622"}, None]
    assert steps.check_all_loaded(["c532622", "c532623"], loaded) == ["c532623"]


def test_mart_groups_from_folders_or_prefixes(tmp_path):
    # given marts with a sub-folder and flat models of each prefix
    marts = tmp_path / "marts"
    (marts / "finance").mkdir(parents=True)
    for name in ("fct_loans", "dim_library", "mart_reconciliation", "dim_date", "odd_one"):
        (marts / f"{name}.sql").write_text("select 1")
    (marts / "_marts__models.yml").write_text("")
    # then flat models are grouped dims → facts → reports → other, and folders (built on them) come last
    assert steps.mart_groups(tmp_path) == [
        ("dimensions", ["dim_date", "dim_library"]),
        ("facts", ["fct_loans"]),
        ("reports", ["mart_reconciliation"]),
        ("other", ["odd_one"]),
        ("finance", ["path:models/marts/finance"]),
    ]
    assert steps.mart_groups(tmp_path / "nothing") == []


def test_mart_folders_build_after_the_folders_they_ref(tmp_path):
    # given three sub-folders: "apps" reads a model of "scores", "scores" one of "base"
    marts = tmp_path / "marts"
    for folder, name, sql in (
            ("apps", "v_app", "select * from {{ ref('mart_score') }}"),
            ("scores", "mart_score", "select * from {{ ref( \"base_table\" ) }} join {{ ref('fct_x') }}"),
            ("base", "base_table", "select 1")):
        (marts / folder).mkdir(parents=True)
        (marts / folder / f"{name}.sql").write_text(sql)
    # then each comes after what it reads, though "apps" sorts first
    assert [name for name, _ in steps.mart_groups(tmp_path)] == ["base", "scores", "apps"]


def test_dbt_build_passes_selectors_to_the_project_runner(monkeypatch):
    import shuyun.transform

    seen = []
    monkeypatch.setattr(shuyun.transform, "run_dbt", lambda args, **kw: seen.append(args))
    steps.dbt_build("resource_type:seed", "path:models/staging")
    assert seen == [["build", "--select", "resource_type:seed", "path:models/staging",
                     "--indirect-selection", "buildable"]]


def _node(kind: str, path: str, *parents: str) -> dict:
    return {"resource_type": kind, "name": path.rsplit("/", 1)[-1].removesuffix(".sql"),
            "original_file_path": path, "depends_on": {"nodes": list(parents)}}


def test_tests_spanning_mart_groups_are_left_for_the_end():
    # given dims and facts built by separate groups; a fact refs one dimension but not the other
    nodes = {
        "model.s.stg_x": _node("model", "models/staging/stg_x.sql"),
        "model.s.dim_date": _node("model", "models/marts/dim_date.sql", "model.s.stg_x"),
        "model.s.dim_library": _node("model", "models/marts/dim_library.sql", "model.s.stg_x"),
        "model.s.fct_loans": _node("model", "models/marts/fct_loans.sql", "model.s.stg_x", "model.s.dim_library"),
        "test.s.unique_dim_date": _node("test", "models/marts/m.yml", "model.s.dim_date"),
        "test.s.rel_fct_library": _node("test", "models/marts/m.yml", "model.s.fct_loans", "model.s.dim_library"),
        "test.s.rel_fct_date": _node("test", "models/marts/m.yml", "model.s.fct_loans", "model.s.dim_date"),
        "test.s.not_null_stg": _node("test", "models/staging/s.yml", "model.s.stg_x"),
    }
    for uid, node in nodes.items():
        node["name"] = uid.rsplit(".", 1)[-1]
    groups = [["dim_date", "dim_library"], ["fct_loans"]]
    # then only the fact→date test (date is not upstream of the fact) waits for the end
    assert steps.tests_left_out({"nodes": nodes}, groups) == ["rel_fct_date"]
    # and with one group for all marts, nothing is left out
    assert steps.tests_left_out({"nodes": nodes}, [["path:models/marts"]]) == []
