"""The work each DAG task does, as plain functions (runnable and testable without Airflow).

The stage packages are imported inside the functions, never at module level: a DAG file that imports
this module stays cheap to parse and keeps importing when a stage is broken or not installed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import date
from pathlib import Path

import yaml

from shuyun import settings

# The Assets the DAGs hand over through (ingest → transform → publish), named once. Plain strings here:
# this module must stay importable without Airflow.
RAW_ASSET_URI = "shuyun://warehouse/raw"
MARTS_ASSET_URI = "shuyun://warehouse/marts"

log = logging.getLogger(__name__)

# Every mart group (a folder under dbt/models/marts) becomes its own transform task.
DBT_MODELS = settings.PROJECT_ROOT / "dbt" / "models"


def retries(default: int) -> int:
    """Task retries: the DAG's default, or $SHUYUN_AIRFLOW_RETRIES (tests and debugging set 0)."""
    value = os.environ.get("SHUYUN_AIRFLOW_RETRIES", "")
    return int(value) if value.isdigit() else default


class StepFailed(RuntimeError):
    """A step that did not do its job; the message names the source/batch and the reason."""


# ---------------------------------------------------------------- registry

def registry_path() -> Path:
    """The source registry: $SHUYUN_SOURCES, else <demo dir>/sources.yml."""
    explicit = os.environ.get("SHUYUN_SOURCES")
    return Path(explicit).resolve() if explicit else settings.demo_dir() / "sources.yml"


def source_names_for_docs(path: Path | None = None) -> list[str]:
    """Source names read straight from the registry YAML, for DAG documentation at parse time.

    Cheap and forgiving on purpose (parse time must never fail): a missing or malformed file gives [].
    The runs themselves map over `ingestion.list_sources()`, read when the run starts.
    """
    path = path or registry_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    entries = data.get("sources", data) if isinstance(data, dict) else data
    if isinstance(entries, dict):
        return sorted(str(name) for name in entries)
    if isinstance(entries, list):
        return sorted(str(e["name"]) for e in entries if isinstance(e, dict) and "name" in e)
    return []


def load_registry() -> dict[str, int]:
    """Load the provincial registry (libraries, barcode ranges) into raw; every county load needs it."""
    import ingestion

    path = registry_path()
    if not path.exists():
        raise StepFailed(f"source registry {path} does not exist (set SHUYUN_SOURCES or generate the demo)")
    results = ingestion.load_registry(path.parent / "registry")
    for result in results:
        log.info("%s", result.ledger_line())
    failed = [f"{result.feed}: {result.message}" for result in results if result.status == "failed"]
    if failed:
        raise StepFailed("the provincial registry did not load: " + "; ".join(failed))
    return {result.feed: result.status for result in results}


def list_sources(selected: list[str] | None = None) -> list[str]:
    """Names of the sources to ingest: the whole registry, or the `selected` ones (all must exist)."""
    import ingestion

    path = registry_path()
    if not path.exists():
        raise StepFailed(f"source registry {path} does not exist (set SHUYUN_SOURCES or generate the demo)")
    names = [source.name for source in ingestion.list_sources(registry_path=path)]
    if selected:
        unknown = sorted(set(selected) - set(names))
        if unknown:
            raise StepFailed(f"{path}: no source named {', '.join(unknown)} (registered: {', '.join(names)})")
        names = [name for name in names if name in set(selected)]
    if not names:
        log.warning("%s lists no sources: nothing to ingest", path)
    return names


# ---------------------------------------------------------------- ingest

def ingest_source(source: str, start: date | str | None, end: date | str | None) -> dict:
    """Load one county source for `[start, end)` (both None: every delivery not loaded yet).

    Quarantined rows are fine (status `rejected`); a `failed` batch fails the step. Returns a small
    JSON-able summary (it travels as an XCom): source, period, number of batches per status.
    """
    import ingestion

    start = date.fromisoformat(str(start)) if start else None
    end = date.fromisoformat(str(end)) if end else None
    path = registry_path()
    found = [src for src in ingestion.list_sources(registry_path=path) if src.name == source]
    if not found:
        raise StepFailed(f"{path}: source {source} is no longer in the registry")
    landing = getattr(found[0], "landing_dir", None)
    try:
        if landing is not None and not landing.is_dir():
            # a file-drop source whose folder is gone is down (unmounted share, wrong path), not quiet
            raise StepFailed(f"source {source}: landing folder {landing} is missing or not a folder")
        results = ingestion.run_source(source, registry_path=path, interval=(start, end) if start else None)
    except StepFailed:
        raise
    except Exception as err:  # an unreadable landing folder, a bad registry entry: name the source
        raise StepFailed(f"source {source}: {type(err).__name__}: {err}") from err
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
        log.info("%s", result.ledger_line())
    failed = [result for result in results if result.status == "failed"]
    if failed:
        reasons = "; ".join(result.message for result in failed)
        raise StepFailed(
            f"source {source}: {len(failed)} of {len(results)} batches failed for {start}..{end}: {reasons}"
        )
    log.info("source %s %s..%s: %s", source, start, end, counts or "no deliveries in the period")
    loaded = [result.batch_id for result in results if result.status == "loaded" and result.batch_id]
    return {"source": source, "start": start and str(start), "end": end and str(end), "batches": counts,
            "loaded_batch_ids": loaded}


def check_all_loaded(sources: list[str], loaded: list[dict]) -> list[str]:
    """Names of the sources that did not load (empty when the whole province loaded)."""
    done = {summary["source"] for summary in loaded if summary}
    return [name for name in sources if name not in done]


# ---------------------------------------------------------------- quality gates

def quality_gate(layer: str, batch_ids: list[str] | None = None) -> dict:
    """Run the Great Expectations gate of a layer (quality.run_gate); its digest.

    Bad data is a result, not a failure: blocked deliveries/counties are held back by the gate itself
    (quality.blocked_batches) and the rest flows on. The step fails only when the gate cannot run.
    """
    import quality

    if layer == "raw":
        if not batch_ids:
            log.info("no new deliveries to validate")
            return {"layer": layer, "ok": True, "validated": 0}
        result = quality.run_gate("raw", batch_ids=batch_ids)
    else:
        # The marts gate is the last of a chain run: rebuild the Data Docs there, so stewards see this run.
        result = quality.run_gate(layer, build_docs=(layer == "marts"))
    digest = result.to_dict()
    summary = result.summary() if hasattr(result, "summary") else digest
    (log.warning if digest.get("blocked") else log.info)("quality gate %s: %s", layer, summary)
    return digest


# ---------------------------------------------------------------- transform

# Flat marts folders are grouped by model-name prefix, in dependency order (dims before facts before marts).
PREFIX_GROUPS = (("dimensions", "dim_"), ("facts", "fct_"), ("reports", "mart_"))


def mart_groups(models_dir: Path | None = None) -> list[tuple[str, list[str]]]:
    """Mart groups as (name, dbt selectors), from a folder listing (cheap at parse time; no `dbt ls`).

    Models directly in marts/ are grouped by prefix (dim_ → dimensions, fct_ → facts, mart_ → reports, the
    rest → other); each sub-folder of dbt/models/marts is one more group (`path:` selector), after those.
    """
    marts = (models_dir or DBT_MODELS) / "marts"
    try:
        entries = sorted(marts.iterdir())
    except OSError:
        return []
    flat = [p.stem for p in entries if p.is_file() and p.suffix == ".sql"]
    groups: list[tuple[str, list[str]]] = []
    taken: set[str] = set()
    for name, prefix in PREFIX_GROUPS:
        models = [m for m in flat if m.startswith(prefix)]
        if models:
            groups.append((name, models))
            taken.update(models)
    other = [m for m in flat if m not in taken]
    if other:
        groups.append(("other", other))
    # sub-folders hold derived products (e.g. indicators) built on the flat dims and facts: they come last
    folders = [p for p in entries if p.is_dir() and not p.name.startswith((".", "_"))]
    groups += [(p.name, [f"path:models/marts/{p.name}"]) for p in _dependency_order(folders)]
    return groups


_REF = re.compile(r"""\bref\(\s*['"]([^'"]+)['"]\s*\)""")


def _dependency_order(folders: list[Path]) -> list[Path]:
    """Folders in build order: one whose models ref() a model of another comes after that one (the
    dashboards' views read the indicator marts); otherwise alphabetical. A cycle keeps the rest alphabetical
    (dbt itself would refuse a cycle between models)."""
    home = {sql.stem: folder.name for folder in folders for sql in folder.rglob("*.sql")}
    needs = {folder.name: {home[name] for sql in folder.rglob("*.sql") for name in _REF.findall(sql.read_text())
                           if home.get(name, folder.name) != folder.name}
             for folder in folders}
    ordered: list[Path] = []
    pending = list(folders)
    while pending:
        placed = {p.name for p in ordered}
        ready = next((p for p in pending if needs[p.name] <= placed), pending[0])
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def dbt_build(*selectors: str) -> None:
    """`dbt build --select <selectors>` through the project's runner; a failed build fails the step.

    `--indirect-selection buildable`: a test runs with a group when each of its parents is in the group
    or upstream of it — never before a model it checks exists (dbt's default, eager, would run a
    fct→dim relationship test with the dimensions, before the fact is built). Tests that span groups
    the other way run in `dbt_cross_group_tests` once every group is built.
    """
    from shuyun.transform import run_dbt

    # raises DbtError naming the failing nodes
    result = run_dbt(["build", "--select", *selectors, "--indirect-selection", "buildable"])
    if getattr(result, "success", True) is False:
        raise StepFailed(f"dbt build --select {' '.join(selectors)} failed")


def _manifest() -> dict:
    from shuyun.transform import DBT_PROJECT_DIR

    path = Path(os.environ.get("DBT_TARGET_PATH") or DBT_PROJECT_DIR / "target") / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StepFailed(f"{path}: no dbt manifest ({err}); the earlier dbt steps write it") from err


def tests_left_out(manifest: dict, groups: list[list[str]]) -> list[str]:
    """Data tests no group's `buildable` selection ran: some parent of theirs was built in a later group."""
    nodes = manifest["nodes"]
    parents = {uid: [p for p in node.get("depends_on", {}).get("nodes", []) if p in nodes]
               for uid, node in nodes.items()}

    def members(selectors: list[str]) -> set[str]:
        chosen = set()
        for uid, node in nodes.items():
            if node["resource_type"] != "model":
                continue
            for selector in selectors:
                if selector.startswith("path:"):
                    folder = selector[len("path:"):].rstrip("/")
                    if node["original_file_path"].startswith(folder + "/"):
                        chosen.add(uid)
                elif node["name"] == selector:
                    chosen.add(uid)
        return chosen

    def upstream(start: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = [p for uid in start for p in parents.get(uid, [])]
        while todo:
            uid = todo.pop()
            if uid not in seen:
                seen.add(uid)
                todo.extend(parents.get(uid, []))
        return seen

    reach = []
    for selectors in groups:
        selected = members(selectors)
        reach.append((selected, selected | upstream(selected)))
    left = []
    for uid, node in sorted(nodes.items()):
        if node["resource_type"] != "test":
            continue
        tested = {p for p in parents[uid] if nodes[p]["resource_type"] in ("model", "seed", "snapshot")}
        in_marts = any(nodes[p].get("original_file_path", "").startswith("models/marts/") for p in tested)
        if in_marts and not any(tested & selected and tested <= built for selected, built in reach):
            left.append(node["name"])
    return left


def dbt_cross_group_tests(groups: list[list[str]]) -> list[str]:
    """Run the mart tests that span groups (see `dbt_build`); their names."""
    from shuyun.transform import run_dbt

    left = tests_left_out(_manifest(), groups)
    if left:
        run_dbt(["test", "--select", *left])
    else:
        log.info("every mart test ran with its group")
    return left


# ---------------------------------------------------------------- publish

def publish_dashboards() -> str:
    """Import the dashboards (assets as code) into the running Superset, with roles and row-level security."""
    from dashboards.publish import publish

    published = publish()
    log.info("published: %s", published)
    return str(published)


def export_reports() -> list[str]:
    """Every county's printable scorecard (latest month) and the quarterly statistics report, from the marts."""
    from reports.api import export_all

    written = [str(path) for path in export_all()]
    log.info("reports: %s", written)
    return written
