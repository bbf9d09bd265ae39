"""Render the reports: the county scorecard (HTML, and PDF through headless Chromium) and the quarterly
statistics report (.xlsx in a fixed template)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from reports import data
from reports.periods import Period

TEMPLATES = Path(__file__).parent / "templates"
STATUS_ZH = {"pass": "达标", "fail": "未达标", "on_track": "进度正常", "behind": "进度落后",
             "no_target": "—", "not_computable": "不可计算"}
SOURCE_ZH = {"logs": "业务日志", "forms": "统计报表", "holdings": "馆藏数据", "registry": "登记册",
             "holdings+logs": "馆藏+日志", "forms+logs": "日志+报表", "forms+holdings": "馆藏+报表"}


def fmt(value, digits: int = 2) -> str:
    """Numbers as a Chinese report prints them: thousands separators, at most `digits` decimals; None → 不可计算."""
    if value is None:
        return "不可计算"
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    text = f"{value:,.{digits if abs(value) >= 1 else max(digits, 4)}f}".rstrip("0").rstrip(".")
    return text


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["num"] = fmt
    env.globals.update(STATUS_ZH=STATUS_ZH, SOURCE_ZH=SOURCE_ZH)
    return env


def now_local() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def scorecard_html(conn, county_code: str, period: Period) -> str:
    rows = data.scorecard(conn, county_code, period)
    first = rows[0]
    branches = data.branch_compliance(conn, county_code, period.start.year)
    libraries: dict[str, dict] = {}
    for b in branches:
        lib = libraries.setdefault(b["library_code"], {
            "code": b["library_code"], "name": b["library_name_zh"], "level": b["library_level_zh"],
            "met": 0, "judged": 0, "gaps": [], "not_computable": 0, "days_covered": b["days_covered"]})
        if b["status"] in ("pass", "on_track"):
            lib["met"] += 1
        if b["status"] == "not_computable":
            lib["not_computable"] += 1
        else:
            lib["judged"] += 1
        if b["status"] in ("fail", "behind"):
            lib["gaps"].append(f"{b['indicator_name_zh']} {b['gap_text_zh']}")
    summary = {s: sum(1 for r in rows if r["status"] == s) for s in STATUS_ZH}
    return _env().get_template("scorecard.html.j2").render(
        county_name=first["area_name_zh"] or county_code, county_code=county_code,
        prefecture_name=first["prefecture_name_zh"] or "", province_name=data.province_name(conn),
        period=period, rows=rows, first=first, libraries=list(libraries.values()), summary=summary,
        generated_at=now_local())


def html_to_pdf(html_path: Path, pdf_path: Path) -> bool:
    """Print the HTML to PDF with headless Chromium when it is installed; False when it is not."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        return False
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    f"--user-data-dir={pdf_path.parent / '.chromium-profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    shutil.rmtree(pdf_path.parent / ".chromium-profile", ignore_errors=True)
    return pdf_path.exists()


# ---------------------------------------------------------------- quarterly statistics report (.xlsx)

THIN = Side(style="thin", color="999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
RATIO_ITEMS = {"visits_per_capita", "loans_per_capita", "collection_turnover", "cross_library_return_share"}
LEVEL_ZH = {"county": "县", "prefecture": "市小计", "province": "全省合计"}


def quarterly_rows(conn, period: Period) -> list[dict]:
    """Areas in the template's order: each prefecture's counties, then the prefecture subtotal; the province last."""
    areas = data.quarterly(conn, period.start)
    if not areas:
        raise data.ReportError(f"no quarterly figures for {period.label} (no data delivered for that quarter)")
    ordered = []
    prefectures = sorted({a["prefecture_code"] for a in areas if a["area_level"] == "prefecture"})
    for pref in prefectures:
        ordered += sorted((a for a in areas if a["area_level"] == "county" and a["prefecture_code"] == pref),
                          key=lambda a: a["area_code"])
        ordered += [a for a in areas if a["area_level"] == "prefecture" and a["area_code"] == pref]
    ordered += [a for a in areas if a["area_level"] == "province"]
    return ordered


def quarterly_xlsx(conn, period: Period, path: Path) -> Path:
    rows = quarterly_rows(conn, period)
    province = data.province_name(conn)
    wb = Workbook()
    ws = wb.active
    ws.title = "季度统计报表"
    headers = ["地区代码", "地区", "层级", "数据覆盖天数"] + [label for _, label in data.QUARTERLY_ITEMS] + ["数据来源"]
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws.cell(1, 1, f"{province}公共图书馆季度统计报表 {period.label_zh}").font = Font(size=14, bold=True)
    ws.cell(1, 1).alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(headers))
    ws.cell(2, 1, f"报送链：县 → 市 → 省。生成于 {now_local()}（北京时间）。空白 = 不可计算（见“说明”页），不是 0。")
    for col, header in enumerate(headers, start=1):
        cell = ws.cell(3, col, header)
        cell.font, cell.border = Font(bold=True), BOX
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for r, area in enumerate(rows, start=4):
        values = [area["area_code"], area["area_name_zh"], LEVEL_ZH[area["area_level"]], area["days_covered"]]
        values += [None if area.get(item) is None else float(area[item]) for item, _ in data.QUARTERLY_ITEMS]
        values.append("、".join(SOURCE_ZH.get(s, s) for s in sorted(area["sources"])))
        for col, value in enumerate(values, start=1):
            cell = ws.cell(r, col, value)
            cell.border = BOX
            if 5 <= col < 5 + len(data.QUARTERLY_ITEMS):
                item = data.QUARTERLY_ITEMS[col - 5][0]
                cell.number_format = "0.0000" if item in RATIO_ITEMS else "#,##0"
            if area["area_level"] != "county":
                cell.font = Font(bold=True)
                cell.fill = PatternFill("solid", fgColor="F2F2F2")
    for col in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14 if col > 2 else 12
    ws.column_dimensions["B"].width = 18
    ws.freeze_panes = "C4"

    notes = wb.create_sheet("说明")
    notes.append(["指标", "计算方法", "出处"])
    dictionary = {r["indicator_id"]: r for r in conn.execute(
        "select indicator_id, name_zh, formula_zh, standard from marts.dim_indicator").fetchall()}
    for item, label in data.QUARTERLY_ITEMS:
        d = dictionary.get(item, {})
        notes.append([label, d.get("formula_zh", ""), d.get("standard", "")])
    notes.append([])
    notes.append(["数据覆盖天数少于季度天数的地区，数值只含已报送的天数。市小计、全省合计为所辖县之和；比率为分子之和除以分母之和。"])
    notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 22, 80
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
