"""Helpers the test folders share for the per-session warehouse database (importable: tests/ is on sys.path)."""

from __future__ import annotations

import psycopg

RAW_AND_QUARANTINE = (
    "raw.libraries", "raw.barcode_ranges", "raw.ingest_batches", "raw.circulation_events", "raw.visitor_counts",
    "raw.holdings_items", "raw.monthly_reports", "raw.activities", "raw.rotations", "quarantine.rejected_rows",
    "quality.blocked_batches",
)


def empty_raw_tables(conninfo: str) -> None:
    """Empty raw, quarantine and the quality holds: for tests whose oracle is 'exactly these deliveries'."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("truncate " + ", ".join(RAW_AND_QUARANTINE))
