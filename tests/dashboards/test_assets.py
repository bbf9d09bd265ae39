"""The YAML assets and the bundle built from them (fast: no Superset, no database)."""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import pytest
import yaml

from dashboards import publish


def test_committed_assets_validate_and_tie_together():
    # given the committed assets / when they are loaded
    assets = publish.load_assets()
    # then there are three dashboards over marts-only datasets, each chart reachable from a dashboard
    titles = {doc["dashboard_title"] for doc in assets.of("dashboards").values()}
    assert titles == {"省域总览 Province overview", "县域绩效 County scorecard", "评估指标 Assessment indicators"}
    placed = {
        str(node["meta"]["uuid"])
        for doc in assets.of("dashboards").values()
        for node in doc["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    assert placed == set(assets.uuids("charts"))
    assert all(doc["schema"] == "marts" for doc in assets.of("datasets").values())


def test_committed_assets_hold_no_address_or_password():
    raw = "".join(p.read_text(encoding="utf-8") for p in publish.ASSETS.rglob("*.yaml"))
    assert "${SHUYUN_READER_URI}" in raw
    assert not re.search(r"postgresql(\+\w+)?://[^\s'\"]+", raw)


def test_overview_has_the_required_native_filters():
    assets = publish.load_assets()
    overview = next(d for d in assets.of("dashboards").values() if d["slug"] == "province-overview")
    filters = overview["metadata"]["native_filter_configuration"]
    columns = {t["column"]["name"] for f in filters for t in f["targets"] if "column" in t}
    assert columns == {"prefecture_name_zh", "county_name_zh", "level_zh"}
    assert any(f["filterType"] == "filter_time" for f in filters)


def test_bundle_fills_the_reader_uri_under_one_root_folder():
    # given the assets and a reader address / when the bundle is built
    assets = publish.load_assets()
    data = publish.build_bundle(assets, "postgresql+psycopg2://shuyun_reader:s3cret@/shuyun_x?host=/tmp/pg&port=5432")
    # then every file sits under the bundle root and the database carries the filled URI
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert all(n.startswith(publish.BUNDLE_ROOT + "/") for n in names)
        assert f"{publish.BUNDLE_ROOT}/metadata.yaml" in names
        db = yaml.safe_load(zf.read(f"{publish.BUNDLE_ROOT}/databases/shuyun_marts.yaml"))
        assert db["sqlalchemy_uri"].startswith("postgresql+psycopg2://shuyun_reader:s3cret@")
        assert not any(publish.URI_PLACEHOLDER in zf.read(n).decode() for n in names)


def _mutate(tmp_path, rel, change):
    root = tmp_path / "assets"
    shutil.copytree(publish.ASSETS, root)
    path = root / rel
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return root


def _drop_chart_id(doc):
    node = next(n for n in doc["position"].values() if isinstance(n, dict) and n.get("type") == "CHART")
    del node["meta"]["chartId"]


@pytest.mark.parametrize(
    ("rel", "change", "message"),
    [
        pytest.param("charts/overview_trend.yaml",
                     lambda d: d.update(dataset_uuid="00000000-0000-0000-0000-000000000000"), "is not in datasets/",
                     id="chart-points-at-unknown-dataset"),
        pytest.param("datasets/shuyun_marts/library_daily.yaml",
                     lambda d: d.update(sql="select * from raw.circulation_events"),
                     "reads schema 'raw'", id="dataset-reads-raw"),
        pytest.param("datasets/shuyun_marts/library_daily.yaml", lambda d: d.update(schema="staging"),
                     "dashboards read marts only", id="dataset-in-staging"),
        pytest.param("datasets/shuyun_marts/library_daily.yaml",
                     lambda d: d.update(columns=[c for c in d["columns"] if c["column_name"] != "county_code"]),
                     "no county_code column", id="dataset-without-county-code"),
        pytest.param("datasets/shuyun_marts/library_daily.yaml", lambda d: d.update(table_name="fct_library_daily"),
                     "no model in dbt/models/marts/dashboards/", id="physical-dataset-not-on-a-dashboard-view"),
        pytest.param("databases/shuyun_marts.yaml",
                     lambda d: d.update(sqlalchemy_uri="postgresql+psycopg2://shuyun_reader:pw@localhost/shuyun"),
                     "no address or password in git", id="committed-password"),
        pytest.param("dashboards/province-overview.yaml", _drop_chart_id, "meta.chartId", id="chart-node-without-id"),
        pytest.param("charts/overview_loans_total.yaml",
                     lambda d: d.update(uuid="71663f17-fc10-5c66-a1f5-6c35383df9ea"), "uuids are unique",
                     id="duplicate-uuid"),
    ],
)
def test_bad_assets_are_refused_with_file_and_rule(tmp_path, rel, change, message):
    # given an asset folder with one broken file / when it is loaded
    root = _mutate(tmp_path, rel, change)
    with pytest.raises(publish.PublishError) as err:
        publish.load_assets(root)
    # then the message names the file and the rule
    assert message in str(err.value)
    assert rel in str(err.value)


def test_every_dataset_is_a_dbt_view_with_the_same_columns():
    # given the datasets and the dbt models of the dashboards' views (issue 7: physical datasets, no SQL for
    # Superset to parse on every chart request)
    assets = publish.load_assets()
    contract = yaml.safe_load((publish.DBT_VIEWS / "_dashboards__models.yml").read_text(encoding="utf-8"))
    views = {m["name"]: [c["name"] for c in m["columns"]] for m in contract["models"]}
    for rel, doc in assets.of("datasets").items():
        # then each reads its view, and declares exactly the columns of the view's contract
        assert not doc.get("sql"), f"{rel} is a virtual dataset"
        assert sorted(c["column_name"] for c in doc["columns"]) == sorted(views[doc["table_name"]]), rel
    # and the views' SQL needs no dbt to be read (tests create them from it)
    assert "{{" not in publish.view_sql("v_library_daily") and "marts.fct_library_daily" in publish.view_sql(
        "v_library_daily")


def test_invalid_yaml_names_file_and_line(tmp_path):
    root = tmp_path / "assets"
    shutil.copytree(publish.ASSETS, root)
    (root / "charts" / "overview_trend.yaml").write_text("slice_name: [unclosed\nviz_type: x\n", encoding="utf-8")
    with pytest.raises(publish.PublishError, match=r"charts/overview_trend.yaml, line \d+: not valid YAML"):
        publish.load_assets(root)


def test_access_spec_scopes_each_director_to_their_county():
    roles, users = publish.access_spec(["530124", "532622"], demo_county="532622")
    assert roles["county_director_532622"]["rls_clause"] == "county_code = '532622'"
    assert "rls_clause" not in roles["analyst"] and "rls_clause" not in roles["bureau"]
    by_name = {u["username"]: u for u in users}
    assert by_name["director_532622"]["roles"] == ["county_director_532622"]
    assert by_name["analyst_demo"]["roles"] == ["analyst"]
    assert len(by_name["director_532622"]["password"]) >= 32


def test_demo_county_must_exist():
    with pytest.raises(publish.PublishError, match="demo county '999999'"):
        publish.access_spec(["532622"], demo_county="999999")


def test_published_summary_never_shows_passwords():
    result = publish.Published(seconds=1.0, dashboards={"u": {"id": 1, "slug": "s", "title": "省域总览"}}, charts={},
                               datasets={}, roles=["analyst"], users={"analyst_demo": 2},
                               logins=[("analyst_demo", "pw-secret-123")])
    assert "pw-secret-123" not in str(result) and "pw-secret-123" not in repr(result)
    assert "省域总览" in str(result)


def test_dbt_exposures_name_what_each_dashboard_reads():
    """The dbt exposures (lineage in `dbt docs`) list exactly the relations each dashboard's charts and
    native filters read, so a dataset moved to another model shows up here."""
    def docs(pattern: str) -> list[dict]:
        return [yaml.safe_load(path.read_text()) for path in publish.ASSETS.glob(pattern)]

    datasets = {d["uuid"]: d["table_name"] for d in docs("datasets/*/*.yaml")}
    charts = {c["uuid"]: datasets[c["dataset_uuid"]] for c in docs("charts/*.yaml")}
    read = {}
    for path in publish.ASSETS.glob("dashboards/*.yaml"):
        text = path.read_text()
        slug = yaml.safe_load(text)["slug"].replace("-", "_")
        read[slug] = {t for u, t in charts.items() if u in text} | {t for u, t in datasets.items() if u in text}
    exposures = yaml.safe_load((publish.DBT_VIEWS.parent / "_exposures.yml").read_text())["exposures"]
    named = {e["name"]: {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in e["depends_on"]} for e in exposures}
    assert named == read
