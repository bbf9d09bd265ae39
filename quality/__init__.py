"""Data-quality gates of Shuyun (Great Expectations 1.x) for the raw, staging and marts layers.

Airflow calls:
    quality.run_gate("raw", batch_ids=[...])       -> GateResult   (per delivery)
    quality.run_gate("staging" | "marts", county_codes=[...] or None) -> GateResult   (per county)
    quality.build_data_docs()                      -> Path of Data Docs' index.html

Importing this package is cheap; Great Expectations (a slow import) loads on the first gate run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

# GX registers hundreds of metric functions at import and logs each at INFO: keep logs readable.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from quality.gate import GateResult

__all__ = ["GateResult", "build_data_docs", "run_gate"]


def run_gate(
    layer: str,
    *,
    batch_ids: list[str] | None = None,
    county_codes: list[str] | None = None,
    build_docs: bool = False,
) -> GateResult:
    from quality.gate import run_gate as _run_gate

    return _run_gate(layer, batch_ids=batch_ids, county_codes=county_codes, build_docs=build_docs)


def build_data_docs(keep_days: int | None = None) -> Path:
    from quality.project import build_data_docs as _build

    return _build(keep_days)


def __getattr__(name: str):
    if name == "GateResult":
        from quality.gate import GateResult

        return GateResult
    raise AttributeError(name)
