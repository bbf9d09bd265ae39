"""The DAGs run for real with `dag.test()`: Airflow's own scheduling loop on a real metadata database, the
real ingestion package loading a tiny province into the session's test warehouse."""

from __future__ import annotations

import os
import pathlib

import psycopg
import pytest

COUNTIES = ("c532622", "c532623", "c532624")  # the tiny province of conftest.py

pytestmark = pytest.mark.slow

PERIOD = {"start": "2026-03-01", "end": "2026-03-03"}


class GateRecorder:
    """Stands in for quality.run_gate (Great Expectations is tested in tests/quality): records what it is asked."""

    def __init__(self):
        self.calls = []

    def __call__(self, layer, *, batch_ids=None, county_codes=None, build_docs=False):
        self.calls.append((layer, sorted(batch_ids or [])))
        digest = {"layer": layer, "ok": True, "blocked": []}
        return type("GateResult", (), {"to_dict": lambda self: digest})()


@pytest.fixture
def gate(monkeypatch) -> GateRecorder:
    import quality

    recorder = GateRecorder()
    monkeypatch.setattr(quality, "run_gate", recorder)
    return recorder


def _run(dagbag, dag_id: str, conf: dict | None = None) -> dict[str, str]:
    """dag.test() without retries (a failure is final at once); the states of its task instances."""
    dag = dagbag.dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
    run = dag.test(run_conf=conf or {})
    states = {}
    for ti in run.get_task_instances():
        label = ti.task_id + (f"[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else "")
        states[label] = ti.state
    states["run"] = run.state
    return states


def _visits(owner, tiny_province) -> dict[tuple[str, str], int]:
    with psycopg.connect(owner.conninfo()) as conn:
        rows = conn.execute(
            "select v._source, to_char(v.period_start at time zone 'Asia/Shanghai', 'YYYY-MM-DD'), count(*) "
            "from raw.visitor_counts v join raw.ingest_batches b on b.batch_id = v._batch_id "
            "where b.archived_path like %s group by 1, 2", (str(tiny_province) + "%",)).fetchall()
    return {(source, day): n for source, day, n in rows}


def _loaded_batches(owner, tiny_province) -> list[str]:
    with psycopg.connect(owner.conninfo()) as conn:
        return sorted(r[0] for r in conn.execute(
            "select batch_id from raw.ingest_batches where archived_path like %s and feed = 'visits' "
            "and status = 'loaded'", (str(tiny_province) + "%",)))


def test_ingest_maps_over_the_registry_and_loads_only_the_period(dagbag, tiny_province, warehouse_env, gate):
    # given three county sources, each with gate files for 03-01, 03-02 and 03-05
    # when shuyun_ingest runs for [03-01, 03-03)
    states = _run(dagbag, "shuyun_ingest", PERIOD)
    # then one mapped task per county succeeded, the raw asset was emitted, the run succeeded
    assert states == {
        "load_period": "success", "load_registry": "success", "list_sources": "success",
        **{f"ingest_county[{name}]": "success" for name in COUNTIES},
        "quality_gate_raw": "success", "raw_landed": "success", "all_counties_loaded": "success", "run": "success",
    }
    # and the raw quality gate was asked about exactly the six deliveries this run loaded
    assert gate.calls == [("raw", _loaded_batches(warehouse_env, tiny_province))]
    assert len(gate.calls[0][1]) == 6
    # and exactly the two days of the period landed, three hourly rows per county and day
    assert _visits(warehouse_env, tiny_province) == {
        (name, day): 3 for name in COUNTIES for day in ("2026-03-01", "2026-03-02")}

    # when the same period runs again / then nothing is loaded twice
    again = _run(dagbag, "shuyun_ingest", PERIOD)
    assert again["run"] == "success"
    assert gate.calls[1:] == [], "nothing new loaded, nothing new to validate"
    assert _visits(warehouse_env, tiny_province) == {
        (name, day): 3 for name in COUNTIES for day in ("2026-03-01", "2026-03-02")}


def test_an_unreadable_county_fails_alone_and_the_province_flows_on(dagbag, tiny_province, warehouse_env,
                                                                     monkeypatch, gate):
    # given the landing folder of c532623 cannot be read (chmod 000; as root, where permissions do not
    # bind, opening that folder is made to fail with the same PermissionError the kernel gives others)
    down = tiny_province / "landing" / "c532623"
    if os.geteuid() != 0:
        down.chmod(0)
    else:
        real_iterdir, real_is_dir = pathlib.Path.iterdir, pathlib.Path.is_dir

        def _guard(path):
            if path == down or down in path.parents:
                raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(pathlib.Path, "iterdir", lambda self: (_guard(self), real_iterdir(self))[1])
        monkeypatch.setattr(pathlib.Path, "is_dir", lambda self, **kw: (_guard(self) if self != down else None,
                                                                        real_is_dir(self, **kw))[1])
    try:
        # when the period runs
        states = _run(dagbag, "shuyun_ingest", PERIOD)
    finally:
        down.chmod(0o755)
    # then only that county's task failed; the raw asset still moved on; the run is marked failed
    assert states["ingest_county[c532623]"] == "failed"
    assert states["ingest_county[c532622]"] == states["ingest_county[c532624]"] == "success"
    assert states["raw_landed"] == "success"
    assert states["all_counties_loaded"] == "failed"
    assert states["run"] == "failed"
    # and the other counties' days are in raw, none of the unreadable one's
    loaded = _visits(warehouse_env, tiny_province)
    assert {source for source, _ in loaded} == {"c532622", "c532624"}


def test_transform_runs_each_layer_through_the_project_runner_in_order(dagbag, airflow_home, monkeypatch, gate):
    # given the dbt runner records what it is asked (the dbt project itself is tested in tests/dbt)
    import shuyun.transform
    from shuyun.orchestration import steps

    asked = []
    monkeypatch.setattr(shuyun.transform, "run_dbt", lambda args, **kwargs: asked.append(args[2:-2]))
    monkeypatch.setattr(steps, "_manifest", lambda: {"nodes": {}})
    # when shuyun_transform runs
    states = _run(dagbag, "shuyun_transform")
    # then staging, intermediate and every mart group were built, in that order, and the marts asset emitted
    assert states["run"] == "success" and states["marts_built"] == "success"
    assert asked[0] == ["resource_type:seed", "path:models/staging"]
    assert asked[1] == ["path:models/intermediate"]
    built = [model for selectors in asked[2:] for model in selectors]
    assert states["marts_cross_group_tests"] == "success"
    assert [layer for layer, _ in gate.calls] == ["staging", "marts"]
    assert any(m.startswith("dim_") for m in built) and any(m.startswith("fct_") for m in built)
    assert built.index(next(m for m in built if m.startswith("dim_"))) < built.index(
        next(m for m in built if m.startswith("fct_")))


def test_a_failed_dbt_group_stops_the_groups_after_it(dagbag, airflow_home, monkeypatch, gate):
    import shuyun.transform

    def run_dbt(args, **kwargs):
        if "path:models/intermediate" in args:
            raise shuyun.transform.DbtError("`dbt build` failed:\nerror: model.shuyun.int_loans_paired: boom")

    monkeypatch.setattr(shuyun.transform, "run_dbt", run_dbt)
    states = _run(dagbag, "shuyun_transform")
    assert states["staging"] == "success" and states["intermediate"] == "failed"
    assert states["marts_built"] == "upstream_failed" and states["run"] == "failed"
