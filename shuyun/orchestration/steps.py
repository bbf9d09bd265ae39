"""The work each DAG task does, as plain functions (runnable and testable without Airflow).

The stage packages are imported inside the functions, never at module level: a DAG file that imports
this module stays cheap to parse and keeps importing when a stage is broken or not installed.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path

import yaml

from shuyun import settings

log = logging.getLogger(__name__)

# Every mart group (a folder under dbt/models/marts) becomes its own transform task.
DBT_MODELS = settings.PROJECT_ROOT / "dbt" / "models"


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

def ingest_source(source: str, start: date | str, end: date | str) -> dict:
    """Load one county source for `[start, end)`. Quarantined rows are fine; a failed batch fails the step.

    Returns a small summary (JSON-able, it travels as an XCom): source, counts per status, messages.
    """
    import ingestion

    start, end = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    results = ingestion.run_source(source, registry_path=registry_path(), interval=(start, end))
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
    return {"source": source, "start": str(start), "end": str(end), "batches": counts}


def check_all_loaded(sources: list[str], loaded: list[dict]) -> list[str]:
    """Names of the sources that did not load (empty when the whole province loaded)."""
    done = {summary["source"] for summary in loaded if summary}
    return [name for name in sources if name not in done]


# ---------------------------------------------------------------- transform

def mart_groups(models_dir: Path | None = None) -> list[str]:
    """Mart groups = sub-folders of dbt/models/marts (a folder listing: cheap at parse time)."""
    marts = (models_dir or DBT_MODELS) / "marts"
    try:
        return sorted(p.name for p in marts.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    except OSError:
        return []


def dbt_build(selector: str) -> None:
    """`dbt build --select <selector>` through the project's runner; a failed build fails the step."""
    from shuyun.transform import run_dbt

    result = run_dbt(["build", "--select", selector])
    if getattr(result, "success", True) is False:
        raise StepFailed(f"dbt build --select {selector} failed: {getattr(result, 'exception', None) or 'see log'}")


# ---------------------------------------------------------------- publish

def publish_dashboards():
    from dashboards.publish import publish

    return publish()
