"""Ingestion: county deliveries (files; later SQL and HTTP pulls) into `raw`, with ledger and quarantine.

The API Airflow and the CLI call (names are a contract):

    load_registry(registry_dir=None) -> list[BatchResult]
    run_source(source_name, feeds=None, *, registry_path=None, interval=None) -> list[BatchResult]
    list_sources(registry_path=None) -> list[Source]
    ingest_file(path, feed, source_name, *, registry_path=None) -> BatchResult

See ingestion/api.py for what each does, ingestion/loader.py for what happens per batch, and
ingestion/feeds.py for the quarantine rules.
"""

from ingestion.api import ingest_file, list_sources, load_registry, run_source
from ingestion.loader import BatchResult
from ingestion.sources import Source

__all__ = ["BatchResult", "Source", "ingest_file", "list_sources", "load_registry", "run_source"]
