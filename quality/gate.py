"""Run a quality gate: validate each delivery (raw) or each county (staging, marts), record every result,
hold back what a `block` check failed on, and tell the caller what passed, warned and was blocked.

Gate semantics
  warn   the result is recorded in quality.validation_results; the data flows on.
  block  the delivery is recorded in quality.blocked_batches (batch_id, county_code, feed, reason, ...);
         dbt staging excludes those deliveries. Only that county's delivery is held: every other county flows.
         A staging/marts failure that no delivery can be blamed for holds the county as a whole, with
         batch_id '<layer>:<county_code>' (publishing skips those counties; staging filters ignore them).
Re-running the gate on a delivery (or county) replaces its blocked rows: fixing the data and passing the
gate releases it. A check GX cannot evaluate (SQL error, missing column) counts as failed, never as passed.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from quality import project
from quality.checks import FEED_TABLES, LAYERS, Check, checks_for

log = logging.getLogger(__name__)
DDL = Path(__file__).with_name("sql") / "quality.sql"

# Columns that tell a steward where an offending row is (first ones present win).
WHERE_COLUMNS = {
    "raw.circulation_events": ["library_code", "_line"],
    "raw.visitor_counts": ["library_code", "_line"],
    "raw.holdings_items": ["owning_library", "_line"],
    "raw.monthly_reports": ["library_code", "_line"],
    "raw.activities": ["library_code", "_line"],
    "raw.rotations": ["from_library", "_line"],
}
EXAMPLES = 3


class GateError(RuntimeError):
    """The gate could not run (plain words; the CLI prints it without a traceback)."""


@dataclass(frozen=True)
class Unit:
    """What one validation covers: a delivery (raw) or a county (staging, marts)."""

    key: str  # batch_id (raw) or county_code
    county_code: str
    feed: str | None = None
    batch_id: str | None = None
    file_name: str | None = None
    rows_loaded: int | None = None


@dataclass(frozen=True)
class CheckResult:
    layer: str
    suite: str
    expectation: str
    expectation_type: str
    severity: str
    success: bool
    county_code: str | None
    feed: str | None
    batch_id: str | None
    file_name: str | None
    observed_value: str | None
    unexpected_count: int | None
    message: str


@dataclass
class GateResult:
    """Outcome of one gate run. Units are delivery ids for raw and county codes for staging/marts."""

    layer: str
    run_id: str
    results: list[CheckResult] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # units without any failed check
    warned: list[str] = field(default_factory=list)  # units with failed `warn` checks only
    blocked: list[str] = field(default_factory=list)  # units with a failed `block` check
    blocked_batches: list[str] = field(default_factory=list)  # rows written to quality.blocked_batches
    blocked_counties: list[str] = field(default_factory=list)
    warned_counties: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # requested deliveries not validated, with the reason

    @property
    def results_count(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        """True when nothing was blocked (warnings allowed)."""
        return not self.blocked

    def to_dict(self) -> dict:
        """A JSON-able digest (Airflow XCom): the units and counts, not every result."""
        return {
            "layer": self.layer, "run_id": self.run_id, "ok": self.ok, "results_count": self.results_count,
            "passed": self.passed, "warned": self.warned, "blocked": self.blocked,
            "blocked_batches": self.blocked_batches, "blocked_counties": self.blocked_counties,
            "warned_counties": self.warned_counties, "skipped": self.skipped,
        }

    def failures(self, severity: str | None = None) -> list[CheckResult]:
        return [r for r in self.results if not r.success and (severity is None or r.severity == severity)]

    def summary(self) -> str:
        unit = "deliveries" if self.layer == "raw" else "counties"
        lines = [
            f"quality gate {self.layer} (run {self.run_id}): {len(self.passed) + len(self.warned) + len(self.blocked)}"
            f" {unit} checked, {self.results_count} results; {len(self.passed)} passed, {len(self.warned)} warned,"
            f" {len(self.blocked)} blocked"
        ]
        if self.blocked_counties:
            lines.append(f"  blocked counties: {', '.join(self.blocked_counties)}")
        for key, why in self.skipped.items():
            lines.append(f"  skipped {key}: {why}")
        for r in self.failures("block"):
            lines.append(f"  BLOCK {r.message}")
        for r in self.failures("warn"):
            lines.append(f"  warn  {r.message}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- running


def run_gate(
    layer: str,
    *,
    batch_ids: list[str] | None = None,
    county_codes: list[str] | None = None,
    build_docs: bool = False,
) -> GateResult:
    """Validate `layer` (raw | staging | marts) and record the results.

    raw: the given deliveries (default: every loaded delivery not yet validated), each on its own.
    staging/marts: each county (default: every county present in the layer's tables), each on its own.
    `county_codes` restricts either to those counties. With `build_docs`, Data Docs are rebuilt afterwards.
    """
    if layer not in LAYERS:
        raise GateError(f"unknown layer {layer!r}: expected one of {', '.join(LAYERS)}")
    checks = checks_for(layer)
    by_table: dict[str, list[Check]] = defaultdict(list)
    for check in checks:
        by_table[check.table].append(check)
    run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{layer}-{uuid.uuid4().hex[:6]}"
    result = GateResult(layer=layer, run_id=run_id)

    with _connect() as conn:
        conn.execute(DDL.read_text())
        existing = {t for t in by_table if _table_exists(conn, t)}
        units, skipped = _units(conn, layer, existing, batch_ids, county_codes)
    result.skipped = skipped
    log.info("gate %s: %d units, %d skipped, tables %s", layer, len(units), len(skipped), sorted(existing))

    for table, table_checks in by_table.items():
        if table not in existing:
            result.results.append(_missing_table(layer, table, table_checks))
    if units:
        ctx = project.context()
        # Suites and validation definitions are (re)written from code under an exclusive lock; validations
        # only read them, under a shared lock, so gates of several counties may run side by side.
        with project.gx_lock(exclusive=True):
            vds = {t: project.validation_definition(ctx, layer, t, c) for t, c in by_table.items() if t in existing}
        with project.gx_lock(exclusive=False):
            for unit in units:
                tables = [FEED_TABLES[unit.feed]] if layer == "raw" else list(vds)
                for table in tables:
                    if table in vds:
                        result.results.extend(_validate(vds[table], layer, table, by_table[table], unit))

    _settle(result, units)
    _record(result, units)
    if build_docs:
        project.build_data_docs()
    return result


def _connect() -> psycopg.Connection:
    from shuyun import warehouse

    try:
        return warehouse.connect("transformer", autocommit=True)
    except (psycopg.OperationalError, warehouse.WarehouseError) as err:
        raise GateError(f"cannot reach the warehouse as the transformer role: {err}") from err


def _table_exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def _units(conn, layer, existing, batch_ids, county_codes) -> tuple[list[Unit], dict[str, str]]:
    """What to validate, and the requested deliveries that are skipped (with the reason)."""
    skipped: dict[str, str] = {}
    if layer == "raw":
        sql = "select batch_id, county_code, feed, file_name, rows_loaded, status from raw.ingest_batches where true"
        params: dict = {}
        if batch_ids is not None:
            sql += " and batch_id = any(%(batch_ids)s)"
            params["batch_ids"] = list(batch_ids)
        else:
            sql += (
                " and not exists (select 1 from quality.validation_results v"
                " where v.layer = 'raw' and v.batch_id = raw.ingest_batches.batch_id)"
            )
        if county_codes is not None:
            sql += " and county_code = any(%(counties)s)"
            params["counties"] = list(county_codes)
        rows = conn.execute(sql + " order by county_code, feed, file_name", params).fetchall()
        if batch_ids is not None:
            unknown = set(batch_ids) - {r[0] for r in rows}
            if unknown and county_codes is None:
                raise GateError("deliveries not in the ledger (raw.ingest_batches): " + ", ".join(sorted(unknown)))
        units = []
        for batch_id, county, feed, file_name, rows_loaded, status in rows:
            if feed not in FEED_TABLES:
                if batch_ids is not None:
                    skipped[batch_id] = f"feed {feed} has no raw suite (registry feeds are checked by dbt)"
            elif status != "loaded":
                if batch_ids is not None:
                    skipped[batch_id] = f"delivery is {status}, not loaded: nothing of it is in raw"
            else:
                units.append(Unit(key=batch_id, county_code=county or "?", feed=feed, batch_id=batch_id,
                                  file_name=file_name, rows_loaded=rows_loaded))
        return units, skipped
    counties: set[str] = set()
    for table in existing:
        counties |= {
            r[0] for r in conn.execute(f"select distinct county_code from {table} where county_code is not null")
        }
    if county_codes is not None:
        counties &= set(county_codes)
    return [Unit(key=c, county_code=c) for c in sorted(counties)], skipped


def _missing_table(layer: str, table: str, checks: list[Check]) -> CheckResult:
    return CheckResult(
        layer=layer,
        suite=checks[0].suite,
        expectation="table_exists",
        expectation_type="table_exists",
        severity="warn",
        success=False,
        county_code=None,
        feed=checks[0].feed,
        batch_id=None,
        file_name=None,
        observed_value=None,
        unexpected_count=None,
        message=f"{table} does not exist yet (dbt has not built it): its {len(checks)} checks were not run",
    )


def _validate(vd, layer: str, table: str, checks: list[Check], unit: Unit) -> list[CheckResult]:
    from great_expectations.exceptions.exceptions import NoAvailableBatchesError

    column = project.partition_column(layer)
    result_format: dict = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    if table in WHERE_COLUMNS:
        result_format["unexpected_index_column_names"] = WHERE_COLUMNS[table]
    try:
        suite_result = vd.run(batch_parameters={column: unit.key}, result_format=result_format)
    except NoAvailableBatchesError:
        return [_empty(layer, table, checks, unit)]
    by_name = {c.name: c for c in checks}
    out = []
    for er in suite_result.results:
        check = by_name[er.expectation_config.meta["check"]]
        examples = None
        if not er.success and er.expectation_config.type == "unexpected_rows_expectation":
            examples = _example_rows(er.expectation_config.kwargs["unexpected_rows_query"], table, column, unit.key)
        out.append(_to_result(check, er, unit, table, examples))
    return out


def _example_rows(query: str, table: str, column: str, key: str) -> list[dict] | None:
    """A few offending rows of a failed row-level check, for the message (GX's SUMMARY format keeps only a count).
    The check's own query runs on the same partition GX validated."""
    from psycopg import sql
    from psycopg.rows import dict_row

    try:
        with _connect() as conn:
            batch = sql.SQL("(select * from {} where {} = {}) as subselect").format(
                sql.Identifier(*table.split(".")), sql.Identifier(column), sql.Literal(key)
            ).as_string(conn)
            text = query.format(batch=batch) + f" limit {EXAMPLES}"
            with conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(text).fetchall()
    except (psycopg.Error, GateError) as err:  # the count from GX stands; only the examples are missing
        log.warning("could not fetch example rows of %s: %s", table, err)
        return None


def _empty(layer: str, table: str, checks: list[Check], unit: Unit) -> CheckResult:
    where = _where(unit, table)
    if layer == "raw" and unit.rows_loaded:
        success, message = (
            False,
            (f"BLOCKED {where}: the ledger says {unit.rows_loaded} rows were loaded but {table} has none of them"),
        )
        severity = "block"
    else:
        success, severity = True, "warn"
        message = f"passed {where}: no rows in {table}, nothing to check"
    return CheckResult(
        layer=layer,
        suite=checks[0].suite,
        expectation="rows_present",
        expectation_type="rows_present",
        severity=severity,
        success=success,
        county_code=unit.county_code,
        feed=unit.feed or checks[0].feed,
        batch_id=unit.batch_id,
        file_name=unit.file_name,
        observed_value="0",
        unexpected_count=None,
        message=message,
    )


def _where(unit: Unit, table: str) -> str:
    if unit.batch_id:
        return f"county {unit.county_code} {unit.feed} file {unit.file_name} (delivery {unit.batch_id})"
    return f"county {unit.county_code} {table}"


def _to_result(check: Check, er, unit: Unit, table: str, examples: list[dict] | None = None) -> CheckResult:
    res = er.result or {}
    info = er.exception_info or {}
    raised = info.get("raised_exception") or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    )
    success = bool(er.success) and not raised
    observed = res.get("observed_value")
    unexpected = res.get("unexpected_count")
    if er.expectation_config.type == "unexpected_rows_expectation" and observed is not None:
        unexpected = int(observed)
    verdict = "passed" if success else ("BLOCKED" if check.severity == "block" else "WARNING")
    if success:
        text = f"passed {_where(unit, table)}: {check.rule}"
    elif raised:
        text = (f"{verdict} {_where(unit, table)}: rule \"{check.rule}\" could not be evaluated"
                f" (counted as failed): {_exception_message(info)}")
    else:
        text = f"{verdict} {_where(unit, table)}: rule \"{check.rule}\" broken -- {_detail(res, unexpected, examples)}"
    return CheckResult(
        layer=check.layer,
        suite=check.suite,
        expectation=check.name,
        expectation_type=er.expectation_config.type,
        severity=check.severity,
        success=success,
        county_code=unit.county_code,
        feed=unit.feed or check.feed,
        batch_id=unit.batch_id,
        file_name=unit.file_name,
        observed_value=None if observed is None else str(observed)[:500],
        unexpected_count=None if unexpected is None else int(unexpected),
        message=text,
    )


def _exception_message(info: dict) -> str:
    if info.get("exception_message"):
        return str(info["exception_message"]).splitlines()[0][:300]
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"]).splitlines()[0][:300]
    return "unknown error"


def _detail(res: dict, unexpected: int | None, rows: list[dict] | None = None) -> str:
    if rows:
        examples = "; ".join(_describe_row(r) for r in rows[:EXAMPLES])
        return f"{_rows_word(unexpected)}, e.g. {examples}"
    index = res.get("partial_unexpected_index_list")
    if index:
        examples = "; ".join(_describe_row(r) for r in index[:EXAMPLES])
        return f"{unexpected} of {res.get('element_count')} rows, e.g. {examples}"
    values = res.get("partial_unexpected_list")
    if values:
        shown = ", ".join(repr(v) for v in values[:EXAMPLES])
        pct = res.get("unexpected_percent")
        share = f" ({pct:.1f}%)" if isinstance(pct, int | float) else ""
        return f"{unexpected} of {res.get('element_count')} rows{share}, e.g. {shown}"
    if res.get("observed_value") is not None:
        return f"observed {res['observed_value']}"
    return "failed"


def _rows_word(n: int | None) -> str:
    return "offending rows" if n is None else f"{n} offending row{'' if n == 1 else 's'}"


def _describe_row(row) -> str:
    if not isinstance(row, dict):
        return repr(row)
    row = dict(row)
    parts = []
    library = row.pop("library_code", None) or row.pop("owning_library", None) or row.pop("from_library", None)
    if library:
        parts.append(f"library {library}")
    if row.get("_file"):
        parts.append(f"file {row.pop('_file')}")
    else:
        row.pop("_file", None)
    if row.get("_line") is not None:
        parts.append(f"line {row.pop('_line')}")
    parts += [f"{k}={v}" for k, v in row.items()]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------- recording


def _settle(result: GateResult, units: list[Unit]) -> None:
    failed: dict[str, set[str]] = defaultdict(set)
    for r in result.results:
        if not r.success:
            key = r.batch_id if result.layer == "raw" else r.county_code
            if key:
                failed[key].add(r.severity)
    for unit in units:
        severities = failed.get(unit.key, set())
        (result.blocked if "block" in severities else result.warned if severities else result.passed).append(unit.key)
    by_key = {u.key: u for u in units}
    result.blocked_counties = sorted({by_key[k].county_code for k in result.blocked})
    result.warned_counties = sorted({by_key[k].county_code for k in result.warned} - set(result.blocked_counties))


def _blocked_rows(result: GateResult, units: list[Unit]) -> list[tuple]:
    reasons: dict[str, list[str]] = defaultdict(list)
    for r in result.failures("block"):
        reasons[r.batch_id if result.layer == "raw" else r.county_code].append(r.message)
    rows = []
    for unit in units:
        if unit.key not in reasons:
            continue
        reason = "\n".join(reasons[unit.key])
        if result.layer == "raw":
            rows.append((unit.batch_id, unit.county_code, unit.feed, reason))
        else:
            rows.append((f"{result.layer}:{unit.county_code}", unit.county_code, result.layer, reason))
    return rows


def _record(result: GateResult, units: list[Unit]) -> None:
    now = dt.datetime.now(dt.UTC)
    blocked = _blocked_rows(result, units)
    with _connect() as conn, conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                "insert into quality.validation_results (run_id, validated_at, layer, suite, county_code, feed,"
                " batch_id, file_name, expectation, expectation_type, severity, success, observed_value,"
                " unexpected_count, message) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        result.run_id,
                        now,
                        r.layer,
                        r.suite,
                        r.county_code,
                        r.feed,
                        r.batch_id,
                        r.file_name,
                        r.expectation,
                        r.expectation_type,
                        r.severity,
                        r.success,
                        r.observed_value,
                        r.unexpected_count,
                        r.message,
                    )
                    for r in result.results
                ],
            )
            if result.layer == "raw":
                cur.execute(
                    "delete from quality.blocked_batches where layer = 'raw' and batch_id = any(%s)",
                    ([u.batch_id for u in units],),
                )
            else:
                cur.execute(
                    "delete from quality.blocked_batches where layer = %s and county_code = any(%s)",
                    (result.layer, [u.county_code for u in units]),
                )
            cur.executemany(
                "insert into quality.blocked_batches (batch_id, county_code, feed, reason, layer, run_id, blocked_at)"
                " values (%s, %s, %s, %s, %s, %s, %s)",
                [(*row, result.layer, result.run_id, now) for row in blocked],
            )
    result.blocked_batches = [row[0] for row in blocked]


def release(batch_id: str, *, reason: str, released_by: str) -> int:
    """A data steward lets a held delivery (or a '<layer>:<county>' hold) flow despite its failed checks.

    The hold is removed and the decision is kept in quality.validation_results (expectation `manual_release`),
    so the audit trail says who released what and why. Returns the number of holds removed; an id that is not
    held is an error (a typo must not look like a release).
    """
    if not reason.strip():
        raise GateError("a release needs a reason (it is kept for the audit trail)")
    with _connect() as conn, conn.transaction():
        conn.execute(DDL.read_text())
        held = conn.execute(
            "delete from quality.blocked_batches where batch_id = %s returning county_code, feed, layer", (batch_id,)
        ).fetchall()
        if not held:
            raise GateError(f"{batch_id} is not held in quality.blocked_batches: nothing to release")
        now = dt.datetime.now(dt.UTC)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-release-{uuid.uuid4().hex[:6]}"
        for county, feed, layer in held:
            conn.execute(
                "insert into quality.validation_results (run_id, validated_at, layer, suite, county_code, feed,"
                " batch_id, expectation, expectation_type, severity, success, message)"
                " values (%s, %s, %s, 'manual', %s, %s, %s, 'manual_release', 'manual_release', 'warn', true, %s)",
                (run_id, now, layer, county, feed, batch_id,
                 f"released by {released_by}: county {county} {feed} delivery {batch_id} flows despite its failed"
                 f" {layer} checks -- {reason.strip()}"),
            )
    return len(held)
