"""书云 Shuyun: the CLI, settings, the embedded warehouse, the demo province generator and the benchmarks.

Each stage lives in its own top-level package (ingestion, dbt, quality, dags, dashboards, reports); see README.md."""
