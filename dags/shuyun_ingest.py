"""
### shuyun_ingest — load every county's deliveries into `raw`

Daily at 02:00 Asia/Shanghai, for the data interval that just closed (the previous local day).
First the provincial registry (libraries, barcode ranges) is loaded, then one mapped task per county
source of the registry (`ingestion.list_sources()`, read when the run starts;
`$SHUYUN_SOURCES`, default `<demo dir>/sources.yml`). A county whose source is down fails only its own
mapped task — the reason is in that task's log and in the ingestion ledger — and the rest of the
province flows on: `quality_gate_raw` validates the deliveries that loaded (Great Expectations; a blocked
delivery is held back by the gate, the others flow), `raw_landed` emits `shuyun://warehouse/raw`, which
schedules `shuyun_transform`; `all_counties_loaded` then marks the run failed so the gap is visible.

Manual runs / initial loads: params `start` and `end` (local dates, `end` not loaded), optionally
`sources` to load only some counties, or `all_deliveries` for every file not loaded yet (initial load):
`shuyun airflow trigger shuyun_ingest --start 2026-03-01 --end 2026-04-01`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task

from shuyun.orchestration import steps

RAW = Asset(steps.RAW_ASSET_URI)
_KNOWN = steps.source_names_for_docs()

default_args = {
    "owner": "shuyun-data",
    "retries": steps.retries(2),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


@dag(
    dag_id="shuyun_ingest",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    dagrun_timeout=timedelta(hours=6),
    tags=["shuyun", "ingest"],
    doc_md=__doc__ + (f"\n\nSources in the registry when this file was parsed: {', '.join(_KNOWN)}." if _KNOWN else
                      "\n\nNo source registry was found when this file was parsed."),
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first local day to load"),
        "end": Param(None, type=["null", "string"], format="date", description="day after the last one to load"),
        "all_deliveries": Param(False, type="boolean", description="load every delivery not loaded yet, any date"),
        "sources": Param([], type="array", items={"type": "string"}, description="only these sources (empty: all)"),
    },
)
def shuyun_ingest():
    @task
    def load_period() -> dict:
        """The half-open local-date period this run loads (params, else data interval, else yesterday)."""
        from shuyun.orchestration import intervals

        ctx = get_current_context()
        if ctx["params"].get("all_deliveries"):
            return {"start": None, "end": None}
        start, end = intervals.resolve(
            ctx["params"], ctx.get("data_interval_start"), ctx.get("data_interval_end"), ctx["dag_run"].run_after
        )
        return {"start": start.isoformat(), "end": end.isoformat()}

    @task
    def load_registry() -> dict:
        """The provincial registry (libraries, barcode ranges) into raw: every county load checks against it."""
        return steps.load_registry()

    @task
    def list_sources() -> list[str]:
        """The county sources to load, from the registry as it is now (or the `sources` param)."""
        return steps.list_sources(get_current_context()["params"].get("sources") or None)

    @task(map_index_template="{{ source }}", max_active_tis_per_dagrun=2)
    def ingest_county(source: str, period: dict) -> dict:
        """Load one county source for the period; fails when any of its batches failed (source down)."""
        return steps.ingest_source(source, period["start"], period["end"])

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def quality_gate_raw(loaded) -> dict:
        """Validate the deliveries this run loaded (Great Expectations); blocked ones are held back by the gate."""
        summaries = [summary for summary in loaded if summary]
        if not summaries:
            raise steps.StepFailed("no county source loaded: raw is unchanged, transform is not scheduled")
        batch_ids = [batch for summary in summaries for batch in summary.get("loaded_batch_ids", [])]
        return {"counties": summaries, "gate": steps.quality_gate("raw", batch_ids)}

    @task(outlets=[RAW])
    def raw_landed(checked: dict) -> list[str]:
        """Emit the raw Asset (at least one county loaded and the gate ran), so the province's data moves on."""
        return [summary["source"] for summary in checked["counties"]]

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def all_counties_loaded(sources: list[str], loaded) -> None:
        """Fail the run (after the data moved on) when some county did not load, naming it."""
        missing = steps.check_all_loaded(sources, list(loaded))
        if missing:
            raise steps.StepFailed(f"not loaded: {', '.join(missing)} — see their ingest_county logs and the ledger")

    period = load_period()
    sources = list_sources()
    load_registry() >> sources
    loaded = ingest_county.partial(period=period).expand(source=sources)
    landed = raw_landed(quality_gate_raw(loaded))
    landed >> all_counties_loaded(sources, loaded)


shuyun_ingest()
