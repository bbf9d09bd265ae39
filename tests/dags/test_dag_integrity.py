"""Every DAG file imports cleanly, cheaply and without a database: checked in a fresh interpreter whose
warehouse and Airflow metadata addresses point at a closed port, with no source registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"shuyun_ingest", "shuyun_transform", "shuyun_publish"}

REPORT = r"""
import json, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(sys.argv[1])
parsed = time.perf_counter()
report = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "parse_seconds": parsed - imported,
          "dags": {}}
for dag_id, dag in bag.dags.items():
    dag.check_cycle()
    report["dags"][dag_id] = {
        "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries,
                              "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
                              "upstream": sorted(t.upstream_task_ids),
                              "outlets": [getattr(o, "uri", str(o)) for o in t.outlets]} for t in dag.tasks},
        "doc_md": bool(dag.doc_md), "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
        "timetable": type(dag.timetable).__name__,
        "schedule": getattr(dag.timetable, "_expression", None) or getattr(dag.timetable, "expression", None),
        "params": sorted(dag.params.keys()), "tags": sorted(dag.tags),
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("nowhere")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SHUYUN_"))}
    env.update({
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody:x@127.0.0.1:9/none",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "postgresql+psycopg://nobody:x@127.0.0.1:9/none",
        "SHUYUN_HOME": str(home / "shuyun"),
        "SHUYUN_WAREHOUSE_URL": "postgresql://nobody:x@127.0.0.1:9/none",
        "SHUYUN_SOURCES": str(home / "no-such-registry.yml"),
    })
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", REPORT, str(DAGS_FOLDER)], env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


pytestmark = pytest.mark.slow  # one fresh interpreter importing Airflow: about 8 s


def test_every_dag_file_imports_without_errors_and_without_a_database(report):
    # given no warehouse, no metadata database and no registry / when the DAG folder is parsed
    # then there are no import errors and every DAG is there
    assert report["import_errors"] == {}
    assert set(report["dags"]) == EXPECTED
    assert report["parse_seconds"] < 2, "parsing the DAG folder must stay cheap (no heavy imports, no I/O)"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_owner_retries_docs_and_catchup_are_set(report, dag_id):
    dag = report["dags"][dag_id]
    assert dag["doc_md"] and dag["catchup"] is False and dag["max_active_runs"] == 1
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == "shuyun-data", task_id
        assert task["retries"] >= 1, task_id


def test_ingest_is_a_daily_interval_schedule_with_manual_params(report):
    dag = report["dags"]["shuyun_ingest"]
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert dag["schedule"] == "0 2 * * *"
    assert dag["params"] == ["all_deliveries", "end", "sources", "start"]


def test_ingest_lets_the_province_flow_on_when_a_county_fails(report):
    tasks = report["dags"]["shuyun_ingest"]["tasks"]
    assert tasks["ingest_county"]["upstream"] == ["list_sources", "load_period"]
    assert tasks["list_sources"]["upstream"] == ["load_registry"]
    assert tasks["quality_gate_raw"]["trigger_rule"] == "all_done"
    assert tasks["quality_gate_raw"]["upstream"] == ["ingest_county"]
    assert tasks["raw_landed"]["upstream"] == ["quality_gate_raw"]
    assert tasks["raw_landed"]["outlets"] == ["shuyun://warehouse/raw"]
    assert tasks["all_counties_loaded"]["trigger_rule"] == "all_done"


def test_transform_builds_layer_by_layer_and_publish_follows_the_marts(report):
    transform = report["dags"]["shuyun_transform"]
    assert transform["timetable"] == "AssetTriggeredTimetable"
    tasks = transform["tasks"]
    assert tasks["quality_gate_staging"]["upstream"] == ["staging"]
    assert tasks["intermediate"]["upstream"] == ["quality_gate_staging"]
    assert tasks["quality_gate_marts"]["upstream"] == ["marts_cross_group_tests"]
    assert tasks["marts_built"]["upstream"] == ["quality_gate_marts"]
    marts = [t for t in tasks if t.startswith("marts_") and t not in ("marts_cross_group_tests", "marts_built")]
    assert marts, "every mart group is a task of its own"
    # a chain: each mart group after the previous one, the first after intermediate
    chain = ["intermediate", *sorted(marts, key=lambda t: len(_ancestors(tasks, t))), "marts_cross_group_tests"]
    for before, after in zip(chain, chain[1:], strict=False):
        assert tasks[after]["upstream"] == [before]
    assert tasks["marts_built"]["outlets"] == ["shuyun://warehouse/marts"]
    assert report["dags"]["shuyun_publish"]["timetable"] == "AssetTriggeredTimetable"


def _ancestors(tasks: dict, task_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(tasks[task_id]["upstream"])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(tasks[current]["upstream"])
    return seen
