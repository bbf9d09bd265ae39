"""`shuyun bench dashboards`: chart-data API latency of every chart of the published dashboards, cache off.

For each chart the query a browser would send is rebuilt from the chart's saved form data (the assets carry no
saved `query_context`, so `GET /api/v1/chart/<id>/data` would refuse them) and posted to `POST /api/v1/chart/data`
with `force: true` (Superset's cache is skipped; the project's config has no data cache anyway) and
`result_type: full`. Requests go one at a time, round-robin over the charts, `--repeat` rounds after an untimed
warm-up round, so each figure is one chart's latency, not throughput under load.

Baseline, measured in the same run: the SQL Superset generated for each chart (`result_type: query`) run directly
in PostgreSQL as the reader role Superset uses. The ratio says how much of the latency is Superset's own.

    shuyun bench dashboards                          # every published dashboard, 5 rounds
    shuyun bench dashboards --dashboard county-scorecard --repeat 20
    shuyun bench dashboards --build-province         # province-size marts in shuyun_bench_dash, then the bench on them
    shuyun bench dashboards --province --drop-province   # again on the database built before, then drop it

With --province the project's Superset is published onto the database `shuyun_bench_dash` (the reader's address
in it, its county directors' roles) for the run and published back onto the warehouse afterwards.
A chart's request carries the dashboard's native filters at their defaults (the scorecard's 期别 = 季度), and a
table with server pagination asks for its first page and the row count, as the browser does.

Ends with one line `RESULT charts=… p50_ms=… p95_ms=… worst_chart=…` (percentiles over every timed request;
worst chart = the highest per-chart p95). Target: p95 under 500 ms per chart.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

TARGET_P95_MS = 500.0
# province-size marts for the bench (--build-province): a database of their own beside the warehouse
PROVINCE_DB = "shuyun_bench_dash"
# 9 prefectures x 13 counties = 117 counties (the last three digits of each county code differ, as the bench
# generator's item barcodes need), 31 libraries each: 3,627 county-level libraries, as the province we plan for
PROVINCE_PREFECTURES = {f"53{p:02d}00": [f"53{p:02d}{c:02d}" for c in range(1, 14)] for p in range(1, 10)}
PROVINCE_DAYS = 365
CHARTS_DIR = Path(__file__).resolve().parent / "assets" / "charts"
TIMESERIES = {"echarts_timeseries_line", "echarts_timeseries_bar", "echarts_timeseries_smooth",
              "echarts_timeseries_step", "echarts_area", "echarts_timeseries_scatter"}


class BenchError(RuntimeError):
    """A benchmark problem in plain words (the CLI prints it without a traceback)."""


# ---------------------------------------------------------------- percentiles and the summary (pure)

def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q % of the values at or below it.

    Conservative on purpose: with 5 samples the p95 is the slowest one (no interpolation toward faster values).
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile q={q} must be in (0, 100]")
    return ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class ChartTimes:
    dashboard: str
    chart: str  # a name without spaces, fit for the RESULT line
    ms: tuple[float, ...]
    db_ms: tuple[float, ...] = ()

    @property
    def p95(self) -> float:
        return percentile(self.ms, 95)


@dataclass(frozen=True)
class Summary:
    label: str
    charts: int
    requests: int
    p50_ms: float
    p95_ms: float
    worst: ChartTimes
    db_p50_ms: float | None = None
    over_target: tuple[str, ...] = field(default=())


def summarize(times: list[ChartTimes], label: str = "all") -> Summary:
    """p50/p95 over every timed request of these charts, the worst chart (highest p95), the charts over target."""
    if not times:
        raise ValueError(f"{label}: no charts measured")
    every = [ms for chart in times for ms in chart.ms]
    db = [ms for chart in times for ms in chart.db_ms]
    return Summary(
        label=label, charts=len(times), requests=len(every), p50_ms=percentile(every, 50),
        p95_ms=percentile(every, 95), worst=max(times, key=lambda chart: chart.p95),
        db_p50_ms=percentile(db, 50) if db else None,
        over_target=tuple(chart.chart for chart in sorted(times, key=lambda c: -c.p95) if chart.p95 >= TARGET_P95_MS),
    )


def per_dashboard(times: list[ChartTimes]) -> list[Summary]:
    names = list(dict.fromkeys(chart.dashboard for chart in times))
    return [summarize([chart for chart in times if chart.dashboard == name], name) for name in names]


def result_line(overall: Summary) -> str:
    return (f"RESULT charts={overall.charts} p50_ms={overall.p50_ms:.0f} p95_ms={overall.p95_ms:.0f} "
            f"worst_chart={overall.worst.chart}")


def summary_line(summary: Summary) -> str:
    db = ""
    if summary.db_p50_ms:
        db = f"  sql alone p50 {summary.db_p50_ms:.0f} ms (x{summary.p50_ms / summary.db_p50_ms:.1f})"
    return (f"{summary.label:24} {summary.charts:3} charts {summary.requests:4} requests  p50 {summary.p50_ms:6.0f} ms"
            f"  p95 {summary.p95_ms:6.0f} ms  worst {summary.worst.chart} (p95 {summary.worst.p95:.0f} ms){db}")


# ---------------------------------------------------------------- the query a dashboard sends (pure)

def _filters(form_data: dict) -> tuple[list[dict], str]:
    """Simple adhoc filters as query filters; SQL ones ANDed into `where` (as Superset's frontend does)."""
    simple, where = [], []
    for item in form_data.get("adhoc_filters") or []:
        if item.get("expressionType") == "SQL":
            if item.get("clause", "WHERE") == "WHERE":
                where.append(f"({item['sqlExpression']})")
        else:
            simple.append({"col": item["subject"], "op": item["operator"], "val": item.get("comparator")})
    return simple, " AND ".join(where)


def _label(metric) -> str:
    """A saved metric is named by itself; an adhoc one by its label (Superset's getMetricLabel)."""
    if isinstance(metric, dict):
        return metric.get("label") or metric.get("sqlExpression") or str(metric.get("column", {}).get("column_name"))
    return str(metric)


def query_context(form_data: dict, result_type: str = "full") -> dict:
    """The body of POST /api/v1/chart/data for one chart, built from its form data like the chart's frontend does.

    Covers the viz types the dashboards use (big number, pie, sankey, table, ECharts time series); others raise.
    A table with `server_pagination` sends its first page and a row-count query, as the browser does.
    """
    viz = form_data.get("viz_type")
    try:
        dataset_id, dataset_type = str(form_data["datasource"]).split("__")
    except (KeyError, ValueError):
        raise BenchError(f"chart {form_data.get('slice_id')}: form data has no datasource") from None
    filters, where = _filters(form_data)
    # the dashboard's native filters at their defaults (default_filters), as the browser adds them
    filters += [dict(item) for item in (form_data.get("extra_form_data") or {}).get("filters") or []]
    queries: list[dict] | None = None
    row_limit = form_data.get("row_limit") or 10000
    metric = form_data.get("metric")
    metrics = list(form_data.get("metrics") or ([metric] if metric else []))
    query: dict = {"filters": filters, "extras": {"having": "", "where": where}, "row_limit": row_limit,
                   "columns": [], "metrics": metrics, "orderby": []}
    if viz == "big_number_total":
        query.pop("row_limit")
    elif viz == "pie":
        query["columns"] = list(form_data.get("groupby") or [])
        if form_data.get("sort_by_metric") and metrics:
            query["orderby"] = [[metrics[0], False]]
    elif viz == "sankey_v2":
        query["columns"] = [form_data["source"], form_data["target"]]
        query["orderby"] = [[metrics[0], False]] if metrics else []
    elif viz == "table":
        if form_data.get("query_mode") == "raw":
            # no metrics at all (not an empty list): Superset then selects rows instead of grouping by the columns
            query["columns"] = list(form_data.get("all_columns") or [])
            del query["metrics"]
            query["orderby"] = [json.loads(item) if isinstance(item, str) else item
                                for item in form_data.get("order_by_cols") or []]
        else:
            query["columns"] = list(form_data.get("groupby") or [])
            sort_by = form_data.get("timeseries_limit_metric") or (metrics[0] if metrics else None)
            if sort_by:
                query["orderby"] = [[sort_by, not form_data.get("order_desc", True)]]
        if form_data.get("server_pagination"):
            # Superset 6.1's table (plugin-chart-table buildQuery.ts) asks for the first page, then the row count
            # of the whole result (row_limit capped, no offset) for the pager: two queries in one request
            page = int(form_data.get("server_page_length") or 10)
            query.update(row_limit=page, row_offset=0, post_processing=[], time_offsets=[])
            count = {**query, "row_limit": int(form_data.get("row_limit") or 0), "row_offset": 0, "is_rowcount": True}
            queries = [query, count]
    elif viz in TIMESERIES:
        axis = form_data["x_axis"]
        base = {"columnType": "BASE_AXIS", "sqlExpression": axis, "label": axis, "expressionType": "SQL"}
        if form_data.get("time_grain_sqla"):
            base["timeGrain"] = form_data["time_grain_sqla"]
        groupby = list(form_data.get("groupby") or [])
        query["columns"] = [base, *groupby]
        query["series_columns"] = groupby
        query["orderby"] = [[metrics[0], False]] if metrics and groupby else []
        # the frontend pivots the series by the x axis on the server; that work is part of the latency
        query["post_processing"] = [
            {"operation": "pivot", "options": {"index": [axis], "columns": groupby, "drop_missing_columns": True,
                                               "aggregates": {_label(m): {"operator": "mean"} for m in metrics}}},
            {"operation": "flatten"},
        ]
    else:
        raise BenchError(f"chart {form_data.get('slice_id')}: viz type {viz!r} is not known to the benchmark; "
                         f"add how its frontend builds the query to dashboards/bench.py")
    return {"datasource": {"id": int(dataset_id), "type": dataset_type}, "force": True, "queries": queries or [query],
            "form_data": form_data, "result_format": "json", "result_type": result_type}


def default_filters(json_metadata: str | dict | None, chart_id: int) -> list[dict]:
    """The filters a dashboard's native filters apply to one chart at their default values (what the browser adds
    to the chart's request on opening the dashboard: e.g. the scorecard's 期别 = 季度), from the dashboard's
    json_metadata (`native_filter_configuration`: `defaultDataMask.extraFormData.filters` and the scope).

    Scope: the whole dashboard (rootPath ROOT_ID) but `scope.excluded`, whose chart ids Superset's import maps to
    the imported charts; `chartsInScope` it leaves with the assets' ids, so it is read only for a narrower rootPath.
    """
    meta = json.loads(json_metadata) if isinstance(json_metadata, str) else (json_metadata or {})
    filters = []
    for item in meta.get("native_filter_configuration") or []:
        scope = item.get("scope") or {}
        if (scope.get("rootPath") or ["ROOT_ID"]) == ["ROOT_ID"]:
            in_scope = chart_id not in (scope.get("excluded") or [])
        else:
            in_scope = chart_id in (item.get("chartsInScope") or [])
        if in_scope:
            filters += ((item.get("defaultDataMask") or {}).get("extraFormData") or {}).get("filters") or []
    return filters


def chart_names(charts_dir: Path = CHARTS_DIR) -> dict[str, str]:
    """Chart UUID → asset file name (e.g. overview_flows_sankey): short, unique names for the report
    (titles are neither: the overview and the scorecard both have a chart called 外借册次 Loans)."""
    names = {}
    for path in sorted(charts_dir.glob("*.yaml")):
        uuid = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("uuid")
        if uuid:
            names[str(uuid)] = path.stem
    return names


def _chart_uuids(client) -> dict[int, str]:
    uuids, page = {}, 0
    while True:
        answer = client.get("/api/v1/chart/", q=f"(columns:!(id,uuid),page:{page},page_size:100)")
        uuids.update({row["id"]: str(row["uuid"]) for row in answer["result"]})
        if not answer["result"] or len(uuids) >= answer.get("count", 0):
            return uuids
        page += 1


# ---------------------------------------------------------------- against a running Superset

@dataclass
class Chart:
    dashboard: str
    id: int
    name: str
    body: dict


def discover(client, slugs: tuple[str, ...] = ()) -> list[Chart]:
    """Every chart of every published dashboard (or of the dashboards named by slug), with its request body."""
    dashboards = client.get("/api/v1/dashboard/", q="(page_size:100)")["result"]
    known = {d["slug"]: d for d in dashboards}
    missing = [slug for slug in slugs if slug not in known]
    if missing:
        raise BenchError(f"no dashboard with slug {', '.join(missing)} in Superset (there are: "
                         f"{', '.join(sorted(s for s in known if s)) or 'none'}); `shuyun superset publish`")
    chosen = [known[slug] for slug in slugs] if slugs else [d for d in dashboards if d.get("published")]
    if not chosen:
        raise BenchError("Superset has no published dashboard: publish them with `shuyun superset publish`")
    names, uuids = chart_names(), _chart_uuids(client)
    charts = []
    for dashboard in sorted(chosen, key=lambda d: d["id"]):
        meta = client.get(f"/api/v1/dashboard/{dashboard['id']}")["result"].get("json_metadata")
        for chart in client.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]:
            name = names.get(uuids.get(chart["id"], "")) or f"chart{chart['id']}"
            form_data = {**chart["form_data"], "extra_form_data": {"filters": default_filters(meta, chart["id"])}}
            charts.append(Chart(dashboard["slug"] or str(dashboard["id"]), chart["id"], name, query_context(form_data)))
    return charts


def _post(client, chart: Chart, body: dict) -> dict:
    resp = client.session.post(f"{client.url}/api/v1/chart/data", json=body, timeout=client.timeout)
    if resp.status_code != 200:
        raise BenchError(f"{chart.dashboard} / {chart.name} (chart {chart.id}): HTTP {resp.status_code} "
                         f"{resp.text[:300]}")
    return resp.json()


def timed_request(client, chart: Chart) -> float:
    started = time.perf_counter()
    answer = _post(client, chart, chart.body)
    elapsed = (time.perf_counter() - started) * 1000
    failed = [r.get("error") for r in answer.get("result", []) if r.get("status") == "failed" or r.get("error")]
    if failed:
        raise BenchError(f"{chart.dashboard} / {chart.name} (chart {chart.id}): the query failed: {failed[0]}")
    return elapsed


def generated_sql(client, chart: Chart) -> list[str]:
    answer = _post(client, chart, {**chart.body, "result_type": "query"})
    return [r["query"] for r in answer.get("result", []) if r.get("query")]


def measure(client, charts: list[Chart], repeat: int, sql_timer: Callable[[str], float] | None = None,
            echo: Callable[[str], None] = print) -> list[ChartTimes]:
    for chart in charts:  # warm-up: first-use imports and connections are not what a reader waits for
        timed_request(client, chart)
    timings: dict[int, list[float]] = {chart.id: [] for chart in charts}
    for round_number in range(repeat):
        for chart in charts:
            timings[chart.id].append(timed_request(client, chart))
        echo(f"  round {round_number + 1}/{repeat} done")
    db: dict[int, list[float]] = {chart.id: [] for chart in charts}
    if sql_timer:
        for chart in charts:
            statements = generated_sql(client, chart)
            for _ in range(repeat):
                db[chart.id].append(sum(sql_timer(statement) for statement in statements))
    return [ChartTimes(chart.dashboard, chart.name, tuple(timings[chart.id]), tuple(db[chart.id]))
            for chart in charts]


def reader_sql_timer():
    """Time one statement in PostgreSQL as the reader role (the role Superset's database connection uses)."""
    from shuyun import warehouse as wh

    conn = wh.connect("reader", autocommit=True)

    def run(statement: str) -> float:
        started = time.perf_counter()
        conn.execute(statement).fetchall()
        return (time.perf_counter() - started) * 1000

    return conn, run


# ---------------------------------------------------------------- province-size marts (--build-province)

def province_row_counts(dbname: str = PROVINCE_DB) -> dict[str, int]:
    """Rows of every `marts.mart_*` table and of the big facts and dimension the dashboards' views read."""
    from shuyun import warehouse as wh

    with wh.connect(dbname=dbname) as conn:
        names = [r[0] for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts' and c.relkind in ('r', 'p')"
            " and (c.relname like 'mart%' or c.relname in ('fct_circulation_events', 'fct_library_daily',"
            " 'fct_holdings_monthly', 'fct_cross_library_flows', 'fct_loans', 'dim_library')) order by 1")]
        return {name: conn.execute(f'select count(*) from marts."{name}"').fetchone()[0] for name in names}


def build_province(events: int = 6_000_000, days: int = PROVINCE_DAYS, echo: Callable[[str], None] = print,
                   ) -> dict[str, int]:
    """Province-shaped marts in their own database (PROVINCE_DB, replaced if it exists): 117 counties in 9
    prefectures, `events` circulation events over `days` days of 2025 from the SQL generator of
    `shuyun bench dbt` (shuyun/transform_bench.py), then `dbt seed` + `dbt run` (no tests) into it.

    Mart sizes, not event counts, drive the charts' latency: 6 M events give the province's 3,627 libraries a
    year of library-days, holdings months and cross-library pairs. About 20 min on 2 cores. Returns the row
    counts of province_row_counts().
    """
    import psycopg

    from shuyun import settings
    from shuyun import transform_bench as tb
    from shuyun import warehouse as wh
    from shuyun.transform import describe_failures, run_dbt

    counties = [county for group in PROVINCE_PREFECTURES.values() for county in group]
    calendar = tb.Calendar(days=days, cycles_per_day=max(1, round(events / days / tb.EVENTS_PER_CYCLE)))
    wh.up()
    conninfo = wh.create_database(PROVINCE_DB).conninfo()
    # our own database and dbt target folder: never the warehouse or the target a running `shuyun dbt` uses
    with tempfile.TemporaryDirectory(prefix="shuyun-bench-dash-") as tmp, settings.environ(
            SHUYUN_WAREHOUSE_DB=PROVINCE_DB, DBT_TARGET_PATH=f"{tmp}/target", DBT_LOG_PATH=f"{tmp}/logs"):
        started = time.perf_counter()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for statement in tb.registry_sql(PROVINCE_PREFECTURES):
                conn.execute(statement)
        lines = tb.deliver(conninfo, calendar, 0, days - 1, counties)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("vacuum (analyze) raw.circulation_events, raw.ingest_batches, raw.holdings_items")
        echo(f"raw: {lines:,} circulation lines over {days} days, {len(counties)} counties in "
             f"{len(PROVINCE_PREFECTURES)} prefectures, in {time.perf_counter() - started:.0f} s "
             f"(load {os.getloadavg()[0]:.1f})")
        for args in (["seed", "--quiet"], ["run", "--quiet"]):
            started = time.perf_counter()
            result = run_dbt(args, check=False)
            echo(f"dbt {args[0]}: {time.perf_counter() - started:.0f} s (load {os.getloadavg()[0]:.1f})"
                 + ("" if result.success else f"; failures: {describe_failures(result)}"))
    return echo_row_counts(echo)


def echo_row_counts(echo: Callable[[str], None] = print) -> dict[str, int]:
    """Print province_row_counts() a table a line; return them."""
    counts = province_row_counts()
    for name, rows in counts.items():
        echo(f"  marts.{name:42} {rows:>12,}")
    return counts


@contextmanager
def published_on(dbname: str, echo: Callable[[str], None] = print):
    """Superset's database connection on another warehouse database for a block (the dashboards re-published with
    the reader's address in `dbname`, its county directors' roles), then the dashboards published back onto the
    configured warehouse (its roles again; the other database's county roles removed)."""
    from dashboards import publish
    from shuyun import settings

    try:
        with settings.environ(SHUYUN_WAREHOUSE_DB=dbname):
            result = publish.publish(start=False)
        echo(f"superset: published onto database {dbname} ({len(result.roles)} roles)")
        yield
    finally:
        result = publish.publish(start=False)
        echo(f"superset: published back onto the warehouse ({len(result.roles)} roles)")


def run_bench(repeat: int, slugs: tuple[str, ...], url: str | None, username: str, password: str | None,
              baseline: bool, echo: Callable[[str], None] = print) -> Summary:
    """Measure and print the per-dashboard lines and the RESULT line; return the overall summary."""
    from dashboards import service
    from dashboards.api import SupersetClient

    conn = None
    try:
        if url is None:
            status = service.status()
            if not status.healthy:
                raise BenchError(f"{status}; start it with `shuyun superset up`")
            url = status.url
        client = SupersetClient(url, username, password or service.admin_password()).login()
        charts = discover(client, slugs)
        echo(f"{len(charts)} charts on {len({c.dashboard for c in charts})} dashboards at {url}, as {username}; "
             f"{repeat} rounds, cache off (load {os.getloadavg()[0]:.1f})")
        timer = None
        if baseline:
            conn, timer = reader_sql_timer()
        started = time.perf_counter()
        times = measure(client, charts, repeat, sql_timer=timer, echo=echo)
        echo(f"measured in {time.perf_counter() - started:.1f} s (load {os.getloadavg()[0]:.1f})")
    finally:
        if conn is not None:
            conn.close()
    for summary in per_dashboard(times):
        echo(summary_line(summary))
    overall = summarize(times)
    echo(summary_line(overall))
    p95 = {chart.chart: chart.p95 for chart in times}
    slow = [f"{name} ({p95[name]:.0f})" for name in overall.over_target]
    echo(f"charts with p95 >= {TARGET_P95_MS:.0f} ms (slowest first): {', '.join(slow) if slow else 'none'}")
    echo(result_line(overall))
    return overall


@click.command("dashboards")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed rounds over every chart (after one untimed warm-up round).")
@click.option("--dashboard", "slugs", multiple=True, help="Only this dashboard (slug; repeatable). Default: every "
              "published dashboard.")
@click.option("--url", help="Superset address (default: the project's running Superset).")
@click.option("--username", default="admin", show_default=True, help="Log in as (county directors see their county).")
@click.option("--password", help="Password (default: the project's admin password).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also time each chart's generated SQL directly in PostgreSQL as the reader role.")
@click.option("--province", is_flag=True, help=f"Bench the province-size marts of database {PROVINCE_DB} (built "
              "first if missing): the project's Superset is published onto it for the run, then back.")
@click.option("--build-province", "build_province_", is_flag=True,
              help=f"(Re)build {PROVINCE_DB} first: 117 counties in 9 prefectures, a year of events from the "
              "`bench dbt` generator, dbt seed + run (~20 min on 2 cores). Implies --province.")
@click.option("--events", type=click.IntRange(min=100_000), default=6_000_000, show_default=True,
              help="Circulation events of the province build.")
@click.option("--drop-province", is_flag=True, help=f"Drop {PROVINCE_DB} at the end.")
def bench_dashboards(repeat: int, slugs: tuple[str, ...], url: str | None, username: str, password: str | None,
                     baseline: bool, province: bool, build_province_: bool, events: int, drop_province: bool) -> None:
    """Chart-data API latency per dashboard with the cache off; ends with one RESULT line."""
    from dashboards import publish, service
    from dashboards.api import SupersetApiError
    from shuyun import settings
    from shuyun import warehouse as wh
    from shuyun.transform import DbtError
    from shuyun.warehouse import WarehouseError

    try:
        if not (province or build_province_):
            run_bench(repeat, slugs, url, username, password, baseline, echo=click.echo)
            return
        if url is not None:
            raise BenchError("--province publishes onto the project's Superset; it takes no --url")
        if not service.status().healthy:
            raise BenchError("Superset is not running; start it with `shuyun superset up`")
        if build_province_ or not wh.database_exists(PROVINCE_DB):
            build_province(events, echo=click.echo)
        else:
            echo_row_counts(click.echo)
        try:
            with published_on(PROVINCE_DB, echo=click.echo), settings.environ(SHUYUN_WAREHOUSE_DB=PROVINCE_DB):
                run_bench(repeat, slugs, None, username, password, baseline, echo=click.echo)
        finally:
            if drop_province:
                wh.drop_database(PROVINCE_DB)
                click.echo(f"dropped database {PROVINCE_DB}")
    except (BenchError, SupersetApiError, service.SupersetError, publish.PublishError, WarehouseError, DbtError,
            OSError) as err:
        raise click.ClickException(f"bench dashboards: {err}") from None
