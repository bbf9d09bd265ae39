"""Visits, activities, rotations, monthly forms (.xlsx) and holdings (MARC) — clean and faulty."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from pymarc import Field, Leader, MARCWriter, Record, Subfield, XMLWriter

from ingestion import ingest_file
from ingestion.readers import FORM_COLUMNS
from tests.ingestion.conftest import csv_lines, landing, write_lines


def _quarantine(pg, batch_id: str) -> list[tuple]:
    return pg.execute("select _line, rule, reason, record::text from quarantine.rejected_rows "
                      "where _batch_id = %s order by _line nulls first", (batch_id,)).fetchall()


# ------------------------------------------------------------------------------------------- visits

VISIT_HEADER = ("device_id", "library_code", "hour_start", "in_count", "out_count")


@pytest.mark.parametrize(("bad_row", "rule"), [
    pytest.param(["G2", "532622003", "2026-01-15 10:00", "-3", "4"], "negative_count", id="negative_in"),
    pytest.param(["G2", "532622003", "2026-01-15 10:00", "3", "-1"], "negative_count", id="negative_out"),
    pytest.param(["G2", "532622003", "2026-01-15 10:00", "many", "4"], "bad_number", id="bad_number"),
    pytest.param(["G2", "532622003", "2026-01-15 10:00", "2.5", "4"], "bad_number", id="fractional_count"),
    pytest.param(["G2", "532622003", "15/01/2026 10h", "3", "4"], "bad_timestamp", id="bad_timestamp"),
    pytest.param(["G2", "532622999", "2026-01-15 10:00", "3", "4"], "unknown_library", id="unknown_library"),
    pytest.param(["G2", "532622003", "2026-01-16 10:00", "3", "4"], "event_outside_delivery_interval",
                 id="next_day"),
    pytest.param(["G2", "532622003", "2026-01-15 10:00", "3"], "malformed_row", id="missing_field"),
])
def test_gate_counts_load_and_each_rule_quarantines(province, pg, bad_row, rule, request):
    # given an hourly gate file with two clean rows and one faulty row (data line 2)
    rows = [["G1", "532622000", "2026-01-15 09:00", "12", "3"], bad_row, ["G1", "532622000", "2026-01-15 10:00",
                                                                        "20", ""]]
    lines = csv_lines(VISIT_HEADER, [])
    lines += [",".join(r) for r in rows]
    folder = landing(province, "c532622", "visits") / request.node.callspec.id
    path = write_lines(folder / "gate_20260115.csv", lines, "utf-8")

    # when it is ingested
    result = ingest_file(path, "visits", "c532622")

    # then the clean rows load (a blank exit count stays null) and line 2 carries the rule
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 3, 2, 1)
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [(2, rule)]
    loaded = pg.execute("select gate_id, entries, exits, period_minutes, "
                        "to_char(period_start at time zone 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') "
                        "from raw.visitor_counts where _batch_id = %s order by _line", (result.batch_id,)).fetchall()
    assert loaded == [("G1", 12, 3, 60, "2026-01-15 09:00"), ("G1", 20, None, 60, "2026-01-15 10:00")]


# ------------------------------------------------------------------------------------------- activities, rotations

def test_activities_map_types_and_joint_libraries(province, pg):
    # given a month of activities, one with a negative participant count and one of an unknown type
    header = ("activity_id", "library_code", "activity_date", "activity_type", "title", "participants", "joint_with")
    rows = [
        ["A1", "532622000", "2026-01-05", "讲座", "滇南历史讲座, 第一讲", "85", ""],
        ["A2", "532622003", "2026-01-10", "阅读推广", "寒假阅读", "40", "532622000;532622117"],
        ["A3", "532622117", "2026-01-12", "培训", "电脑培训", "-4", ""],
        ["A4", "532622117", "2026-01-12", "舞会", "联欢", "30", ""],
        ["A5", "532622117", "2026-02-01", "展览", "春节展", "30", ""],
    ]
    path = write_lines(landing(province, "c532622", "activities") / "activities_202601.csv", csv_lines(header, rows),
                       "utf-8")

    # when the file is ingested
    result = ingest_file(path, "activities", "c532622")

    # then clean rows load with English types and comma-separated joint libraries; the rest are quarantined
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 2, 3)
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [
        (3, "negative_count"), (4, "unknown_code"), (5, "event_outside_delivery_interval")]
    loaded = pg.execute("select activity_id, activity_type, title, participants, joint_with from raw.activities "
                        "where _batch_id = %s order by _line", (result.batch_id,)).fetchall()
    assert loaded == [("A1", "lecture", "滇南历史讲座, 第一讲", 85, None),
                      ("A2", "reading_promotion", "寒假阅读", 40, "532622000,532622117")]


def test_rotations_load_and_unknown_destination_is_quarantined(province, pg):
    header = ("rotation_id", "from_library", "to_library", "shipped_on", "volumes")
    rows = [["R1", "532622000", "532622003", "2026-01-03", "500"],
            ["R2", "532622003", "532622888", "2026-01-04", "120"],
            ["R3", "532622003", "532622117", "2026-01-04", "-5"]]
    path = write_lines(landing(province, "c532622", "rotations") / "rotations_202601.csv", csv_lines(header, rows),
                       "utf-8-sig")
    result = ingest_file(path, "rotations", "c532622")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 1, 2)
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [(2, "unknown_library"), (3, "negative_count")]


# ------------------------------------------------------------------------------------------- monthly forms

HEADERS_ZH = list(FORM_COLUMNS)


def write_form(path: Path, rows: list[list], *, drop: str | None = None, totals: list | None = "auto") -> Path:
    """The statistics form per docs/feeds.md: merged title, merged group headers, Chinese headers, 合计."""
    headers = [h for h in HEADERS_ZH if h != drop]
    wb = Workbook()
    ws = wb.active
    ws.title = "服务点月度统计报表"
    ws["A1"] = "砚山县服务点月度统计报表 2026年1月"
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    for label, a, b in (("基本信息", 1, 2), ("服务", 3, 8), ("资源", 9, 11), ("其他", 12, len(headers))):
        ws.cell(row=2, column=a, value=label)
        ws.merge_cells(start_row=2, start_column=a, end_row=2, end_column=b)
    ws.append(headers)
    for row in rows:
        values = dict(zip(HEADERS_ZH, row, strict=True))
        ws.append([values[h] for h in headers])
    if totals == "auto":
        totals = ["合计", None]
        for i in range(2, len(HEADERS_ZH)):
            nums = [r[i] for r in rows if isinstance(r[i], (int, float))]
            totals.append(sum(nums))
        totals = [t for h, t in zip(HEADERS_ZH, totals, strict=True) if h != drop]
    if totals:
        ws.append(totals)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


FORM_ROWS = [
    ["532622117", "新村服务点", 420, 150, 60, 310, 2, 45, 1600, 30, 30, 140.5, 1],
    [532622003, "第三分馆", 1200, 800, 300, 950, "不适用", None, 8200, 200, 180, 168, 4],
]


def test_monthly_form_loads_with_blank_and_not_applicable_as_null(province, pg, tmp_path):
    # given a form with merged headers, a 不适用 and a blank cell, a numeric library code, and a correct 合计
    path = write_form(landing(province, "c532622", "monthly_report") / "report_202601.xlsx", FORM_ROWS)

    # when it is ingested
    result = ingest_file(path, "monthly_report", "c532622")

    # then both rows load (the totals row is checked and skipped), 不适用/blank are null, not 0
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 2, 2, 0), \
        result.ledger_line()
    rows = pg.execute("select library_code, period_type, period_start::text, visits, activities, participants, "
                      "opening_hours::text, trainings from raw.monthly_reports where _batch_id = %s order by _line",
                      (result.batch_id,)).fetchall()
    assert rows == [("532622117", "month", "2026-01-01", 420, 2, 45, "140.5", 1),
                    ("532622003", "month", "2026-01-01", 1200, None, None, "168.0", 4)]


def test_monthly_form_without_a_required_column_is_rejected_row_by_row(province, pg):
    # given a form that lacks the 外借册次 column
    folder = landing(province, "c532623", "monthly_report")
    path = write_form(folder / "report_202601.xlsx", FORM_ROWS, drop="外借册次")
    result = ingest_file(path, "monthly_report", "c532623")

    # then every data row is quarantined as missing_column and the batch is rejected
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("rejected", 2, 0, 2)
    quarantined = _quarantine(pg, result.batch_id)
    assert [(q[0], q[1]) for q in quarantined] == [(1, "missing_column"), (2, "missing_column")]
    assert "外借册次" in quarantined[0][2]


@pytest.mark.parametrize(("change", "rule"), [
    pytest.param(lambda r: r.__setitem__(2, -5), "negative_count", id="negative_visits"),
    pytest.param(lambda r: r.__setitem__(5, "三百"), "bad_number", id="text_loans"),
    pytest.param(lambda r: r.__setitem__(0, "532622555"), "unknown_library", id="unknown_point"),
])
def test_monthly_form_bad_cells_are_quarantined(province, pg, change, rule, request):
    rows = [list(r) for r in FORM_ROWS]
    change(rows[0])
    folder = landing(province, "c532624", "monthly_report") / request.node.callspec.id
    rows[0][0] = rows[0][0].replace("532622", "532624")
    rows[1][0] = 532624003
    path = write_form(folder / "report_202601.xlsx", rows)
    result = ingest_file(path, "monthly_report", "c532624")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1), result.ledger_line()
    assert [(q[0], q[1]) for q in _quarantine(pg, result.batch_id)] == [(1, rule)]


def test_monthly_form_with_wrong_totals_keeps_rows_and_quarantines_the_totals(province, pg):
    rows = [list(r) for r in FORM_ROWS]
    totals = ["合计", None, 9999, *[None] * 10]
    path = write_form(landing(province, "c532625", "monthly_report") / "report_202601.xlsx",
                      [[str(r[0]).replace("532622", "532625"), *r[1:]] for r in rows], totals=totals)
    result = ingest_file(path, "monthly_report", "c532625")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    quarantined = _quarantine(pg, result.batch_id)
    assert [(q[0], q[1]) for q in quarantined] == [(3, "totals_mismatch")]
    assert "visits" in quarantined[0][2]


def test_a_file_that_is_not_an_xlsx_is_rejected_not_crashed(province, pg):
    path = landing(province, "c532622", "monthly_report") / "broken" / "report_202602.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    result = ingest_file(path, "monthly_report", "c532622")
    assert result.status == "rejected" and result.rows_read == result.rows_quarantined == 1
    assert "xlsx" in result.message


# ------------------------------------------------------------------------------------------- holdings

def _bib(n: int, items: list[dict], *, tag: str = "949", title: str = "边城", children: bool = False) -> Record:
    record = Record(force_utf8=True)
    record.leader = Leader("00000nam a2200000 a 4500")
    f008 = list("260101s2026    cc            000 0 chi d")
    f008[22] = "j" if children else " "
    record.add_field(Field(tag="001", data=f"B{n:06d}"))
    record.add_field(Field(tag="008", data="".join(f008)))
    record.add_field(Field(tag="020", indicators=[" ", " "], subfields=[Subfield("a", "9787020000000 (平装)")]))
    record.add_field(Field(tag="093", indicators=[" ", " "], subfields=[Subfield("a", "I246.5")]))
    record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", f"{title} /")]))
    for item in items:
        record.add_field(Field(tag=tag, indicators=[" ", " "],
                               subfields=[Subfield(k, v) for k, v in item.items()]))
    return record


HOLDINGS = [
    _bib(1, [{"a": "532622000", "b": "532622003", "i": "2622000000000101", "d": "20250301", "s": "available"},
             {"a": "532622003", "b": "532622003", "i": "2622003000000102", "d": "20250302", "s": "on_loan"}]),
    _bib(2, [{"a": "532622000", "i": "2622000000000103", "d": "20240101", "w": "20251231", "s": "withdrawn"}],
         title="小王子", children=True),
    _bib(3, [{"a": "532622000", "i": "9999000000000104", "d": "20240101", "s": "available"},  # item out of range
             {"a": "532622000", "i": "2622000000000105", "d": "2024-01-01", "s": "available"},  # bad date
             {"a": "532622000", "i": "2622000000000106", "d": "20240101", "s": "borrowed"}]),  # unknown status
    _bib(4, []),  # a bibliographic record without items loads nothing
]


@pytest.mark.parametrize("fmt", [pytest.param("mrc", id="iso2709-utf8"), pytest.param("xml", id="marcxml")])
def test_marc_holdings_load_one_row_per_item(province, pg, fmt):
    # given a MARC21 snapshot with items in 949 (three of them faulty)
    path = landing(province, "c532622", "holdings") / fmt / f"holdings_20260115.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = MARCWriter(fh) if fmt == "mrc" else XMLWriter(fh)
        for record in HOLDINGS:
            writer.write(record)
        writer.close(close_fh=False)

    # when it is ingested
    result = ingest_file(path, "holdings", "c532622")

    # then each item is a row, bibliographic fields are copied onto it, and the faulty items are quarantined
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6, 3, 3), result.ledger_line()
    assert sorted(q[1] for q in _quarantine(pg, result.batch_id)) == [
        "bad_timestamp", "item_barcode_out_of_range", "unknown_code"]
    rows = pg.execute("select item_barcode, owning_library, current_library, bib_id, isbn, title, clc_class, "
                      "is_children, acquired_on::text, withdrawn_on::text, status from raw.holdings_items "
                      "where _batch_id = %s order by item_barcode", (result.batch_id,)).fetchall()
    assert rows[0] == ("2622000000000101", "532622000", "532622003", "B000001", "9787020000000", "边城", "I246.5",
                       False, "2025-03-01", None, "available")
    assert rows[1][5:] == ("小王子", "I246.5", True, "2024-01-01", "2025-12-31", "withdrawn")


def test_cnmarc_in_gbk_with_items_in_905_uses_the_sources_forced_encoding(province, pg, tmp_path):
    # given a GBK CNMARC export (leader/09 blank) with items in 905, and a source that says so
    import yaml

    sources = yaml.safe_load((province / "sources.yml").read_text(encoding="utf-8"))
    entry = dict(sources["sources"][0], name="c532622_cnmarc", marc_flavour="cnmarc", marc_encoding="gbk",
                 marc_items={"tag": "905", "owning": "a", "current": "b", "barcode": "d", "acquired": "e",
                             "status": "s"})
    registry = tmp_path / "sources.yml"
    registry.write_text(yaml.safe_dump({"province": sources["province"], "sources": [entry]}, allow_unicode=True),
                        encoding="utf-8")
    record = Record(to_unicode=True)
    record.leader = Leader("00000nam  2200000   450 ")
    record.add_field(Field(tag="001", data="CN0001"))
    record.add_field(Field(tag="010", indicators=[" ", " "], subfields=[Subfield("a", "978-7-02-000000-1")]))
    record.add_field(Field(tag="100", indicators=[" ", " "],
                           subfields=[Subfield("a", "20260101d2026    em y0chiy50      ea")]))
    record.add_field(Field(tag="200", indicators=["1", " "], subfields=[Subfield("a", "红楼梦")]))
    record.add_field(Field(tag="690", indicators=[" ", " "], subfields=[Subfield("a", "I242.4")]))
    record.add_field(Field(tag="905", indicators=[" ", " "], subfields=[
        Subfield("a", "532622000"), Subfield("d", "2622000000000201"), Subfield("e", "20230405"),
        Subfield("s", "available")]))
    path = tmp_path / "holdings_20260115.mrc"
    path.write_bytes(_as_gbk_marc(record))

    # when it is ingested
    result = ingest_file(path, "holdings", "c532622_cnmarc", registry_path=registry)

    # then the Chinese title is decoded from GBK and the item is loaded
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0), result.ledger_line()
    row = pg.execute("select title, clc_class, isbn from raw.holdings_items where _batch_id = %s",
                     (result.batch_id,)).fetchone()
    assert row == ("红楼梦", "I242.4", "978-7-02-000000-1")


def _as_gbk_marc(record: Record) -> bytes:
    """ISO 2709 with GBK field data (lengths and offsets in bytes), as Chinese CNMARC systems write it."""
    fields, directory, offset = b"", b"", 0
    for f in record.fields:
        if f.is_control_field():
            data = f.data.encode("gbk") + b"\x1e"
        else:
            data = "".join(f.indicators).encode("gbk")
            for s in f.subfields:
                data += b"\x1f" + s.code.encode() + s.value.encode("gbk")
            data += b"\x1e"
        directory += f"{f.tag}{len(data):04d}{offset:05d}".encode()
        fields += data
        offset += len(data)
    directory += b"\x1e"
    base = 24 + len(directory)
    total = base + len(fields) + 1
    leader = f"{total:05d}nam  22{base:05d}   450 ".encode()
    return leader + directory + fields + b"\x1d"


# ------------------------------------------------------------------------------------------- templates

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_blank_report_template_once_filled_in_is_ingested(province, pg, lang):
    # given the shipped template with two service points filled in
    from openpyxl import load_workbook

    from ingestion.make_templates import TEMPLATES

    wb = load_workbook(TEMPLATES / f"report_template_{lang}.xlsx")
    ws = wb.active
    for row, values in ((4, FORM_ROWS[0]), (5, FORM_ROWS[1])):
        for col, value in enumerate(values, start=1):
            ws.cell(row=row, column=col, value=value)
    path = landing(province, "c532622", "monthly_report") / f"template_{lang}" / "report_202603.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)

    # when it is ingested
    result = ingest_file(path, "monthly_report", "c532622")

    # then both rows load
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 2, 2), result.ledger_line()


def test_registry_csv_templates_carry_exactly_the_ingested_headers():
    from ingestion.feeds import HEADERS
    from ingestion.make_templates import TEMPLATES

    for feed in ("libraries", "barcode_ranges"):
        assert (TEMPLATES / f"{feed}.csv").read_text(encoding="utf-8").strip() == ",".join(HEADERS[feed])


def test_koha_items_in_952_with_iso_dates_and_a_status_map(province, pg, tmp_path):
    # given a Koha-style export: items in 952 ($a home, $b holding branch, $p barcode, $d YYYY-MM-DD,
    # $1 lost flag) and a source entry that maps them
    import yaml

    sources = yaml.safe_load((province / "sources.yml").read_text(encoding="utf-8"))
    entry = dict(sources["sources"][2], name="c532624_952", marc_items={
        "tag": "952", "owning": "a", "current": "b", "barcode": "p", "acquired": "d", "status": "1",
        "date_format": "%Y-%m-%d", "status_map": {"0": "available", "1": "lost"}})
    registry = tmp_path / "sources.yml"
    registry.write_text(yaml.safe_dump({"province": sources["province"], "sources": [entry]}, allow_unicode=True),
                        encoding="utf-8")
    record = _bib(9, [{"a": "532624000", "b": "532624003", "p": "2624000000000901", "d": "2025-06-30", "1": "0"},
                      {"a": "532624000", "b": "532624000", "p": "2624000000000902", "d": "2025-07-01", "1": "1"}],
                  tag="952")
    path = tmp_path / "holdings_20260115.mrc"
    path.write_bytes(record.as_marc())

    # when it is ingested
    result = ingest_file(path, "holdings", "c532624_952", registry_path=registry)

    # then both items load with their dates and mapped statuses
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0), result.ledger_line()
    rows = pg.execute("select item_barcode, acquired_on::text, status from raw.holdings_items "
                      "where _batch_id = %s order by 1", (result.batch_id,)).fetchall()
    assert rows == [("2624000000000901", "2025-06-30", "available"), ("2624000000000902", "2025-07-01", "lost")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_csv_report_template_once_filled_in_is_ingested_and_its_totals_checked(province, pg, lang):
    # given the CSV template with two rows and a 合计/Total row (one total deliberately wrong in zh)
    import csv
    import io

    from ingestion.make_templates import TEMPLATES

    lines = (TEMPLATES / f"report_template_{lang}.csv").read_text(encoding="utf-8-sig").splitlines()
    title, header, total = lines[0], lines[1], lines[2]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for values in FORM_ROWS:
        writer.writerow(["" if v is None else v for v in values])
    visits_total = 1620 if lang == "en" else 1000
    rows = buf.getvalue()
    text = f"{title}\n{header}\n{rows}{total},,{visits_total}\n"
    path = landing(province, "c532622", "monthly_report") / f"csv_{lang}" / "report_202604.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8-sig")

    # when it is ingested
    result = ingest_file(path, "monthly_report", "c532622")

    # then both rows load; a wrong total is quarantined as totals_mismatch
    assert result.rows_loaded == 2, result.ledger_line()
    rules = [q[1] for q in _quarantine(pg, result.batch_id)]
    assert rules == ([] if lang == "en" else ["totals_mismatch"])
