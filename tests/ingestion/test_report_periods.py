"""Statistics forms for a month, a quarter or a year: the period from the file name and the title."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from ingestion import ingest_file
from ingestion.api import overlaps
from ingestion.periods import Period, from_file_name, from_title
from ingestion.readers import FORM_COLUMNS
from ingestion.sources import FILE_PATTERNS, file_date
from tests.ingestion.conftest import landing


@pytest.mark.parametrize(("name", "kind", "start"), [
    pytest.param("report_201803.xlsx", "month", "2018-03-01", id="month-xlsx"),
    pytest.param("report_201812.csv", "month", "2018-12-01", id="month-csv"),
    pytest.param("report_2018Q1.csv", "quarter", "2018-01-01", id="quarter"),
    pytest.param("report_2018q4.xlsx", "quarter", "2018-10-01", id="quarter-lowercase"),
    pytest.param("report_2018.xlsx", "year", "2018-01-01", id="year"),
    pytest.param("砚山县报表_2018Q2_终稿.xlsx", "quarter", "2018-04-01", id="quarter-inside-another-name"),
    pytest.param("县报表_20180315.xlsx", "month", "2018-03-01", id="a-date-inside-another-name"),
])
def test_file_names_give_the_period_kind_and_first_day(name, kind, start):
    assert from_file_name(name) == Period(kind, date.fromisoformat(start))
    assert file_date("monthly_report", name) == date.fromisoformat(start)


@pytest.mark.parametrize("name", [
    pytest.param("report.xlsx", id="no-digits"),
    pytest.param("report_2018Q5.csv", id="quarter-5"),
    pytest.param("report_201813.xlsx", id="month-13"),
    pytest.param("report_20181.csv", id="five-digits"),
    pytest.param("report_2018.txt", id="wrong-suffix"),
    pytest.param("季报2018.xlsx", id="bare-year-outside-the-pattern"),
])
def test_a_name_that_is_none_of_the_patterns_has_no_period(name):
    assert from_file_name(name) is None
    assert file_date("monthly_report", name) is None
    assert not FILE_PATTERNS["monthly_report"].match(name)


@pytest.mark.parametrize(("title", "expected"), [
    pytest.param("砚山县服务点月度统计报表 2026年1月", Period("month", date(2026, 1, 1)), id="zh-month"),
    pytest.param("砚山县服务点统计报表 2018年第1季度", Period("quarter", date(2018, 1, 1)), id="zh-quarter"),
    pytest.param("2018年第四季度统计报表", Period("quarter", date(2018, 10, 1)), id="zh-quarter-in-words"),
    pytest.param("AK 公共图书馆年度统计报表 2018年", Period("year", date(2018, 1, 1)), id="zh-year"),
    pytest.param("2018年度统计报表", Period("year", date(2018, 1, 1)), id="zh-nian-du"),
    pytest.param("County service points statistics 2018-Q3", Period("quarter", date(2018, 7, 1)), id="en-quarter"),
    pytest.param("County service points statistics 2018-03", Period("month", date(2018, 3, 1)), id="en-month"),
    pytest.param("砚山县服务点统计报表 2018年4-6月", Period("quarter", date(2018, 4, 1)), id="zh-months-of-a-quarter"),
    pytest.param("砚山县服务点统计报表 2018年1月至12月", Period("year", date(2018, 1, 1)), id="zh-months-of-a-year"),
    pytest.param("砚山县服务点统计报表 2018年2-4月", None, id="zh-months-of-no-period"),
    pytest.param("砚山县2026年服务点月度统计报表（3月）", Period("month", date(2026, 3, 1)), id="zh-year-first"),
    pytest.param("砚山县2026年服务点统计报表 第二季度", Period("quarter", date(2026, 4, 1)), id="zh-year-first-q"),
    pytest.param("XX县服务点统计报表 YYYY年M月", None, id="template-placeholder"),
    pytest.param(None, None, id="no-title"),
])
def test_titles_name_their_period(title, expected):
    assert from_title(title) == expected


def test_period_ends_are_exclusive_and_roll_over_the_year():
    assert Period("month", date(2018, 12, 1)).end == date(2019, 1, 1)
    assert Period("quarter", date(2018, 10, 1)).end == date(2019, 1, 1)
    assert Period("year", date(2018, 1, 1)).end == date(2019, 1, 1)


@pytest.mark.parametrize(("kind", "day", "expected"), [
    pytest.param("quarter", "2018-03-31", True, id="quarter-last-day"),
    pytest.param("quarter", "2018-04-01", False, id="after-the-quarter"),
    pytest.param("year", "2018-11-15", True, id="year-any-day"),
    pytest.param("month", "2018-02-01", False, id="month-next-month"),
])
def test_a_run_for_a_day_takes_the_form_whose_period_holds_it(kind, day, expected):
    first = date.fromisoformat(day)
    span = (first, first + timedelta(days=1))
    assert overlaps("monthly_report", date(2018, 1, 1), span, kind) is expected


# ------------------------------------------------------------------------------------------- loading

ROWS = [["532622117", "新村服务点", 1260, 150, 60, 930, 6, 135, 1600, 90, "不适用", 420.5, 3],
        ["532622003", "第三分馆", 3600, 800, 300, 2850, "", "", 8200, 600, 540, 504, 12]]


def _form(folder: str, name: str, title: str) -> tuple:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([title])
    w.writerow(list(FORM_COLUMNS))
    w.writerows(ROWS)
    totals = [sum(r[i] for r in ROWS if isinstance(r[i], (int, float))) for i in range(2, len(FORM_COLUMNS))]
    w.writerow(["合计", "", *totals])
    return out.getvalue(), folder, name


def _ingest(province, text: str, folder: str, name: str):
    path = landing(province, "c532622", "monthly_report") / "periods" / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8-sig")
    return ingest_file(path, "monthly_report", "c532622")


@pytest.mark.parametrize(("name", "title", "kind", "start"), [
    pytest.param("report_2026Q1.csv", "砚山县服务点统计报表 2026年第1季度", "quarter", "2026-01-01", id="quarter"),
    pytest.param("report_2025.csv", "砚山县服务点年度统计报表 2025年", "year", "2025-01-01", id="year"),
    pytest.param("report_202602.csv", "砚山县服务点月度统计报表 2026年2月", "month", "2026-02-01", id="month"),
    pytest.param("砚山县报表.csv", "砚山县服务点统计报表 2025年第4季度", "quarter", "2025-10-01",
                 id="name-without-period-title-with"),
    pytest.param("report_202603.csv", "砚山县2026年服务点统计报表", "month", "2026-03-01",
                 id="title-names-only-the-same-year"),
])
def test_forms_of_each_period_load_with_their_type_and_first_day(province, pg, name, title, kind, start, request):
    result = _ingest(province, *_form(request.node.callspec.id, name, title))
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 2, 2), result.ledger_line()
    rows = pg.execute("select library_code, period_type, period_start::text, visits, processing_volume "
                      "from raw.monthly_reports where _batch_id = %s order by _line", (result.batch_id,)).fetchall()
    assert rows == [("532622117", kind, start, 1260, None), ("532622003", kind, start, 3600, 540)]


@pytest.mark.parametrize(("name", "title", "rule", "words"), [
    pytest.param("report_202603.csv", "砚山县服务点统计报表 2026年第1季度", "bad_timestamp",
                 ["quarter 2026Q1", "the month 2026-03"], id="title-disagrees-with-name"),
    pytest.param("report_2026.csv", "砚山县服务点统计报表 2025年", "bad_timestamp",
                 ["the year 2025", "the year 2026"], id="other-year"),
    pytest.param("砚山县报表.csv", "砚山县服务点统计报表", "missing_value", ["report_YYYYQn", "YYYY年第N季度"],
                 id="no-period-anywhere"),
])
def test_a_form_without_one_clear_period_is_refused_row_by_row(province, pg, name, title, rule, words, request):
    result = _ingest(province, *_form(request.node.callspec.id, name, title))
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("rejected", 2, 0, 2)
    quarantined = pg.execute("select _line, rule, reason from quarantine.rejected_rows where _batch_id = %s "
                             "order by _line", (result.batch_id,)).fetchall()
    assert [(q[0], q[1]) for q in quarantined] == [(1, rule), (2, rule)]
    assert all(w in quarantined[0][2] for w in words), quarantined[0][2]
    assert name in quarantined[0][2]
