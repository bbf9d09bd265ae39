"""Publish the dashboards: YAML assets → Superset import bundle → import → roles, row-level security, demo users.

The assets in `dashboards/assets/` are Superset's export format (metadata.yaml, databases/, datasets/<db>/,
charts/, dashboards/), tied by UUID. The database connection is committed as `${SHUYUN_READER_URI}` and filled
here with the READ-ONLY reader role's address, so no password is ever in git. Publishing twice changes nothing:
same UUIDs, imported with overwrite, roles and filters set to exactly the spec.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml

from dashboards import service
from shuyun import settings
from shuyun import warehouse as wh

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
# the datasets are physical: views built by dbt from these models (one per dataset, named as its table)
DBT_VIEWS = settings.PROJECT_ROOT / "dbt" / "models" / "marts" / "dashboards"
APPLY_SCRIPT = Path(__file__).resolve().parent / "superset_apply.py"
URI_PLACEHOLDER = "${SHUYUN_READER_URI}"
BUNDLE_ROOT = "shuyun_dashboards"
COUNTY_CODE = re.compile(r"^\d{6}$")
KINDS = ("databases", "datasets", "charts", "dashboards")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class PublishError(ValueError):
    """An asset or access problem, naming the file and the rule it breaks."""


@dataclass
class Assets:
    """The YAML assets, by path relative to the assets folder."""

    files: dict[str, dict] = field(default_factory=dict)

    def of(self, kind: str) -> dict[str, dict]:
        return {path: doc for path, doc in self.files.items() if path.startswith(kind + "/")}

    def uuids(self, kind: str) -> list[str]:
        return [str(doc["uuid"]) for doc in self.of(kind).values()]


def load_assets(root: Path = ASSETS) -> Assets:
    assets = Assets()
    if not (root / "metadata.yaml").exists():
        raise PublishError(f"{root}: metadata.yaml is missing (rule: a bundle starts with metadata.yaml)")
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark else ""
            raise PublishError(f"{rel}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
        if not isinstance(doc, dict):
            raise PublishError(f"{rel}: expected a mapping at the top (rule: one Superset object per file)")
        assets.files[rel] = doc
    validate(assets)
    return assets


def validate(assets: Assets) -> None:
    """Every reference resolves; UUIDs are unique; datasets read marts only; charts carry chartId in layouts."""
    seen: dict[str, str] = {}
    for rel, doc in assets.files.items():
        if rel == "metadata.yaml":
            continue
        kind = rel.split("/", 1)[0]
        if kind not in KINDS:
            raise PublishError(f"{rel}: unknown folder {kind!r} (rule: assets live in {', '.join(KINDS)})")
        uid = str(doc.get("uuid") or "")
        if not uid:
            raise PublishError(f"{rel}: no uuid (rule: every asset has a fixed uuid)")
        if uid in seen:
            raise PublishError(f"{rel}: uuid {uid} is also used by {seen[uid]} (rule: uuids are unique)")
        seen[uid] = rel
    databases = set(assets.uuids("databases"))
    datasets = set(assets.uuids("datasets"))
    charts = set(assets.uuids("charts"))
    for rel, doc in assets.of("databases").items():
        if doc.get("sqlalchemy_uri") != URI_PLACEHOLDER:
            raise PublishError(f"{rel}: sqlalchemy_uri must be {URI_PLACEHOLDER} (rule: no address or password in git)")
    for rel, doc in assets.of("datasets").items():
        if str(doc.get("database_uuid")) not in databases:
            raise PublishError(f"{rel}: database_uuid {doc.get('database_uuid')} is not in databases/")
        if doc.get("schema") != "marts":
            raise PublishError(f"{rel}: schema {doc.get('schema')!r} (rule: dashboards read marts only)")
        sql = doc.get("sql") or ""
        for schema in re.findall(r"\b(raw|quarantine|staging|intermediate|quality)\.\w+", sql):
            raise PublishError(f"{rel}: the SQL reads schema {schema!r} (rule: dashboards read marts only)")
        if not sql and not (DBT_VIEWS / f"{doc.get('table_name')}.sql").exists():
            raise PublishError(f"{rel}: table {doc.get('table_name')!r} has no model in dbt/models/marts/dashboards/ "
                               "(rule: a physical dataset reads a view dbt builds for the dashboards)")
        columns = {c.get("column_name") for c in doc.get("columns") or []}
        if "county_code" not in columns:
            raise PublishError(f"{rel}: no county_code column (rule: row-level security filters every dataset on it)")
    for rel, doc in assets.of("charts").items():
        if str(doc.get("dataset_uuid")) not in datasets:
            raise PublishError(f"{rel}: dataset_uuid {doc.get('dataset_uuid')} is not in datasets/")
    for rel, doc in assets.of("dashboards").items():
        for node_id, node in (doc.get("position") or {}).items():
            if isinstance(node, dict) and node.get("type") == "CHART":
                meta = node.get("meta") or {}
                if str(meta.get("uuid")) not in charts:
                    raise PublishError(
                        f"{rel}: position node {node_id} points at chart {meta.get('uuid')}, not in charts/"
                    )
                if not isinstance(meta.get("chartId"), int):
                    raise PublishError(f"{rel}: position node {node_id} has no numeric meta.chartId (rule: Superset's "
                                       "importer maps chart ids through it)")
        for flt in (doc.get("metadata") or {}).get("native_filter_configuration") or []:
            for target in flt.get("targets") or []:
                if "datasetUuid" in target and str(target["datasetUuid"]) not in datasets:
                    raise PublishError(f"{rel}: native filter {flt.get('id')} targets dataset {target['datasetUuid']}, "
                                       "not in datasets/")


def build_bundle(assets: Assets, reader_uri: str) -> bytes:
    """The import bundle (zip) with the reader's address filled in."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, doc in assets.files.items():
            if rel.startswith("databases/"):
                doc = {**doc, "sqlalchemy_uri": reader_uri}
            zf.writestr(f"{BUNDLE_ROOT}/{rel}", yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True, sort_keys=False))
    return buf.getvalue()


def view_sql(table_name: str) -> str:
    """The SELECT of a dataset's dbt view with its refs as marts tables (for tests that create the view without dbt)."""
    text = (DBT_VIEWS / f"{table_name}.sql").read_text(encoding="utf-8")
    text = re.sub(r"\{\{\s*config\(.*?\)\s*\}\}", "", text, flags=re.S)
    text = re.sub(r"\{\{\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*\}\}", r"marts.\1", text)
    if "{{" in text or "{%" in text:
        raise PublishError(f"{table_name}.sql: Jinja beyond config() and ref() (rule: the views stay plain SQL)")
    return text


def missing_views(assets: Assets) -> list[str]:
    """The physical datasets' views the warehouse lacks (dbt has not built them yet), read as the reader role."""
    names = [doc["table_name"] for doc in assets.of("datasets").values() if not doc.get("sql")]
    try:
        with wh.connect("reader") as conn:
            return [n for n in names if conn.execute("select to_regclass(%s)", (f"marts.{n}",)).fetchone()[0] is None]
    except psycopg.OperationalError as err:
        log.warning("cannot check the dashboards' views: %s", err)
        return []


# ---------------------------------------------------------------- access

DEMO_ANALYST = "analyst_demo"


def demo_director(county_code: str) -> str:
    return f"director_{county_code}"


def user_password(username: str) -> str:
    return settings.secret(f"superset_user_{username}.password")


def county_codes() -> list[str]:
    """Counties in the current registry (marts.dim_library), read as the reader role like Superset does.

    A county is a code with a county main library (总馆); the province and prefecture libraries carry their own
    division codes in county_code and get no director role.
    """
    try:
        with wh.connect("reader") as conn:
            rows = conn.execute(
                "select distinct county_code from marts.dim_library"
                " where is_current and level = 'county' and county_code is not null order by 1"
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        log.warning("marts.dim_library does not exist yet: no county-director roles (publish again after dbt)")
        return []
    codes = [r[0] for r in rows]
    bad = [c for c in codes if not COUNTY_CODE.match(c)]
    if bad:
        raise PublishError(f"marts.dim_library: county_code {bad[0]!r} is not a six-digit GB/T 2260 code "
                           "(rule: it goes into a row-level security clause)")
    return codes


def access_spec(codes: list[str], demo_county: str | None = None) -> tuple[dict, list[dict]]:
    roles: dict[str, dict] = {
        "analyst": {"description": "省馆分析员：全部数据"},
        "bureau": {"description": "文化和旅游局：全部数据（评估指标）"},
    }
    for code in codes:
        roles[f"county_director_{code}"] = {
            "description": f"县级总馆馆长：只看 {code} 县的数据",
            "rls_clause": f"county_code = '{code}'",
        }
    users = [{"username": DEMO_ANALYST, "first_name": "演示", "last_name": "分析员", "email": "analyst@shuyun.local",
              "roles": ["analyst"], "password": user_password(DEMO_ANALYST)}]
    if codes:
        county = demo_county or codes[0]
        if county not in codes:
            raise PublishError(f"demo county {county!r} is not in marts.dim_library (rule: a director's county exists)")
        name = demo_director(county)
        users.append({"username": name, "first_name": "演示", "last_name": f"馆长{county}",
                      "email": f"{name}@shuyun.local", "roles": [f"county_director_{county}"],
                      "password": user_password(name)})
    return roles, users


# ---------------------------------------------------------------- publish

@dataclass
class Published:
    seconds: float
    dashboards: dict
    charts: dict
    datasets: dict
    roles: list[str]
    users: dict
    logins: list[tuple[str, str]] = field(repr=False)  # (username, password): never in logs

    def __str__(self) -> str:
        titles = ", ".join(d["title"] for d in sorted(self.dashboards.values(), key=lambda d: d["id"]))
        return (f"{len(self.dashboards)} dashboards ({titles}), {len(self.charts)} charts, {len(self.datasets)} "
                f"datasets, roles {', '.join(self.roles)}, users {', '.join(self.users)} in {self.seconds:.1f} s")


def publish(inst: service.Instance | None = None, demo_county: str | None = None, start: bool = True) -> Published:
    """Build the bundle, import it into Superset, apply roles + RLS + demo users.

    With `start` (the default) a Superset that is not running is started first (it keeps running afterwards,
    until `shuyun superset down`); without it, a stopped Superset is an error.
    """
    t0 = time.monotonic()
    inst = inst or service.instance()
    assets = load_assets()
    if not service.status(inst).running:
        if not start:
            raise service.SupersetError("Superset is not running: start it with `shuyun superset up`")
        service.start(inst)
    missing = missing_views(assets)
    if missing:
        log.warning("the dashboards' views %s do not exist yet: their charts fail until dbt builds them "
                    "(`shuyun dbt run --select path:models/marts/dashboards`), no need to publish again",
                    ", ".join(f"marts.{n}" for n in missing))
    bundle = build_bundle(assets, wh.url("reader", driver="postgresql+psycopg2"))
    bundle_path = inst.state_dir / "bundle.zip"
    bundle_path.write_bytes(bundle)
    bundle_path.chmod(0o600)  # it holds the reader's password
    roles, users = access_spec(county_codes(), demo_county)
    try:
        result = service.run_python(inst, APPLY_SCRIPT, {
            "bundle": str(bundle_path), "owner": service.ADMIN, "roles": roles, "users": users,
            "dataset_uuids": assets.uuids("datasets"), "chart_uuids": assets.uuids("charts"),
            "dashboard_uuids": assets.uuids("dashboards"),
        })
    finally:
        bundle_path.unlink(missing_ok=True)
    return Published(
        seconds=time.monotonic() - t0, dashboards=result["dashboards"], charts=result["charts"],
        datasets=result["datasets"], roles=result["roles"], users=result["users"],
        logins=[(u["username"], u["password"]) for u in users],
    )
