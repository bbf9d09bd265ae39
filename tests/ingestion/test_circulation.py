"""Circulation deliveries in every dialect and encoding, and every rule that can quarantine a line."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingestion import ingest_file
from tests.ingestion.conftest import COUNTIES, KEY, Event, clean_events, landing, render_circulation, write_lines


def _pseudonym(barcode: str) -> str:
    return hmac.new(KEY.encode(), barcode.encode(), hashlib.sha256).hexdigest()[:32]


def _deliver(province, source: str, events: list[Event], name: str, *, encoding: str | None = None,
             final_newline: bool = True, mangle=None, folder: str = ""):
    county, _, dialect, enc = COUNTIES[source]
    lines = render_circulation(dialect, events)
    if mangle:
        lines = mangle(lines)
    return write_lines(landing(province, source, "circulation") / folder / name, lines, encoding or enc,
                       final_newline=final_newline)


def _quarantine(pg, batch_id: str) -> list[tuple]:
    return pg.execute("select _line, rule, reason, record::text from quarantine.rejected_rows "
                      "where _batch_id = %s order by _line", (batch_id,)).fetchall()


@pytest.mark.parametrize("source", [
    pytest.param("c532622", id="interlib-gbk"),
    pytest.param("c532623", id="libsys-utf8-bom"),
    pytest.param("c532624", id="koha-utf8"),
    pytest.param("c532625", id="interlib-gb18030"),
])
def test_clean_file_of_each_dialect_loads_every_event_pseudonymised(province, pg, source):
    # given five clean events of each kind and channel, written in the county's dialect and encoding
    county = COUNTIES[source][0]
    events = clean_events(county, day="20260110", prefix="clean")
    path = _deliver(province, source, events, "circ_20260110.csv")

    # when the file is ingested
    result = ingest_file(path, "circulation", source)

    # then every event is in raw, typed and mapped, with the reader barcode replaced by its pseudonym
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 5, 5, 0), \
        result.ledger_line()
    rows = pg.execute(
        "select library_code, event_type, to_char(event_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'),"
        " item_barcode, reader_key, reader_home_library, due_date::text, channel, county_code, _line "
        "from raw.circulation_events where _batch_id = %s order by _line", (result.batch_id,)).fetchall()
    assert [r[9] for r in rows] == [1, 2, 3, 4, 5]
    for row, e in zip(rows, events, strict=True):
        assert row[:4] == (e.library, e.type, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.item)
        assert row[4] == _pseudonym(e.reader)
        assert row[5] == e.reader[:9]
        assert row[6] == (e.due or None)
        assert (row[7], row[8]) == (e.channel, county)
    ledger = pg.execute("select status, rows_read, rows_loaded, rows_quarantined, archived_path "
                        "from raw.ingest_batches where batch_id = %s", (result.batch_id,)).fetchone()
    assert ledger[:4] == ("loaded", 5, 5, 0)
    assert open(ledger[4], "rb").read() == path.read_bytes()


def _fault(field: str, value, **more):
    def apply(events):
        events[1] = replace(events[1], **{field: value}, **more)
        return events
    return apply


FAULTS = [
    pytest.param(_fault("type", "lost"), None, "unknown_event_code", id="unknown_event_code"),
    pytest.param(_fault("channel", "drone"), None, "unknown_code", id="unknown_channel"),
    pytest.param(_fault("library", "532699999"), None, "unknown_library", id="unknown_library"),
    pytest.param(_fault("reader", "532699000000042"), None, "reader_barcode_out_of_range", id="reader_out_of_range"),
    pytest.param(_fault("reader", "ABC"), None, "reader_barcode_out_of_range", id="reader_not_a_number"),
    pytest.param(_fault("item", "9999000000000001"), None, "item_barcode_out_of_range", id="item_out_of_range"),
    pytest.param(_fault("at", datetime(2026, 1, 16, 0, 0, 1)), None, "event_outside_delivery_interval",
                 id="after_the_files_day"),
    pytest.param(_fault("reader", "", type="loan", due="2026-02-14"), None, "missing_value", id="loan_without_reader"),
    pytest.param(None, lambda lines: lines[:2] + [lines[2].replace(":", "-", 1)] + lines[3:], "bad_timestamp",
                 id="bad_timestamp"),
    pytest.param(None, lambda lines: lines[:2] + [lines[2] + ",extra"] + lines[3:], "malformed_row",
                 id="too_many_fields"),
    pytest.param(None, lambda lines: lines[:2] + [lines[2].rsplit(",", 3)[0]] + lines[3:], "malformed_row",
                 id="too_few_fields"),
]


@pytest.mark.parametrize("source", [pytest.param("c532622", id="interlib"), pytest.param("c532623", id="libsys"),
                                     pytest.param("c532624", id="koha")])
@pytest.mark.parametrize(("event_fault", "line_fault", "rule"), FAULTS)
def test_a_faulty_line_goes_to_quarantine_with_its_rule_and_the_rest_loads(province, pg, source, event_fault,
                                                                            line_fault, rule, request):
    # given a delivery whose second event (data line 2) breaks one rule
    county = COUNTIES[source][0]
    day = "20260112"
    events = clean_events(county, day=day, prefix="fault" + request.node.callspec.id.replace("-", ""))
    if event_fault:
        events = event_fault(events)
    path = _deliver(province, source, events, f"circ_{day}.csv", mangle=line_fault, folder=request.node.callspec.id)

    # when it is ingested
    result = ingest_file(path, "circulation", source)

    # then line 2 is quarantined with the rule and a reason, the other four load, and the counts reconcile
    assert result.status == "loaded", result.ledger_line()
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 4, 1), result.ledger_line()
    quarantined = _quarantine(pg, result.batch_id)
    assert [(q[0], q[1]) for q in quarantined] == [(2, rule)], quarantined
    assert quarantined[0][2]
    assert result.quarantined_by_rule == {rule: 1}
    for e in events:
        if e.reader:
            assert e.reader not in quarantined[0][3]


def test_event_in_the_future_is_outside_the_delivery_interval(province, pg):
    # given today's file (Asia/Shanghai) with an event stamped later today
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    later = now + timedelta(minutes=30)
    if later.date() != now.date():
        pytest.skip("less than 30 minutes of today left in Asia/Shanghai")
    day = now.strftime("%Y%m%d")
    events = clean_events("532624", n=2, day=day, prefix="future")
    events[0] = replace(events[0], at=now.replace(microsecond=0) - timedelta(minutes=1))
    events[1] = replace(events[1], at=later.replace(microsecond=0))
    path = _deliver(province, "c532624", events, f"circ_{day}.csv")

    # when it is ingested
    result = ingest_file(path, "circulation", "c532624")

    # then the future event is quarantined with the reason that it lies in the future
    quarantined = _quarantine(pg, result.batch_id)
    assert [(q[0], q[1]) for q in quarantined] == [(2, "event_outside_delivery_interval")]
    assert "future" in quarantined[0][2]
    assert (result.rows_read, result.rows_loaded) == (2, 1)


def test_truncated_last_line_is_a_malformed_row(province, pg):
    # given a GBK interlib file whose last line is cut in the middle (no line end)
    events = clean_events("532622", day="20260113", prefix="trunc")
    lines = render_circulation("interlib", events)
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    path = write_lines(landing(province, "c532622", "circulation") / "circ_20260113.csv", lines, "gbk",
                       final_newline=False)

    # when it is ingested
    result = ingest_file(path, "circulation", "c532622")

    # then the cut line is quarantined as malformed_row and the other lines load
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [(5, "malformed_row")]


def test_truncated_last_line_cut_inside_a_field_is_still_malformed(province, pg):
    # given a file cut inside the last field of the last line (field count intact, value broken)
    events = clean_events("532622", day="20260114", prefix="trunc2")
    lines = render_circulation("interlib", events)
    lines[-1] = lines[-1][:-1]  # 自助机 → 自助
    path = write_lines(landing(province, "c532622", "circulation") / "circ_20260114.csv", lines, "gbk",
                       final_newline=False)
    result = ingest_file(path, "circulation", "c532622")
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [(5, "malformed_row")]


@pytest.mark.parametrize(("source", "written_as"), [
    pytest.param("c532622", "utf-8", id="utf8-bytes-where-gbk-declared"),
    pytest.param("c532625", "utf-8-sig", id="utf8-bom-bytes-where-gb18030-declared"),
])
def test_wrongly_encoded_file_quarantines_every_line(province, pg, source, written_as):
    # given a file written in another encoding than the registry declares
    events = clean_events(COUNTIES[source][0], day="20260111", prefix="enc")
    path = _deliver(province, source, events, "circ_20260111.csv", encoding=written_as)

    # when it is ingested
    result = ingest_file(path, "circulation", source)

    # then the file is rejected: every data line is quarantined as wrong_encoding, none is loaded
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("rejected", 5, 0, 5)
    quarantined = _quarantine(pg, result.batch_id)
    assert {q[1] for q in quarantined} == {"wrong_encoding"}
    assert [q[0] for q in quarantined] == [1, 2, 3, 4, 5]
    text = " ".join(q[3] + q[2] for q in quarantined)
    for e in events:
        assert e.reader not in text
        assert _pseudonym(e.reader) in text


def test_koha_event_id_is_a_hash_of_the_line_so_exact_duplicates_share_it(province, pg):
    # given a koha file with one line delivered twice
    events = clean_events("532624", n=3, day="20260109", prefix="dup")
    lines = render_circulation("koha", events)
    lines.append(lines[1])
    path = write_lines(landing(province, "c532624", "circulation") / "circ_20260109.csv", lines, "utf-8")

    # when it is ingested
    result = ingest_file(path, "circulation", "c532624")

    # then all four lines load (staging removes duplicates) and the duplicate carries the same id
    assert (result.rows_loaded, result.rows_quarantined) == (4, 0)
    ids = [r[0] for r in pg.execute("select source_event_id from raw.circulation_events where _batch_id = %s "
                                    "order by _line", (result.batch_id,))]
    assert ids[0] == ids[3] and len(set(ids)) == 3
