"""Write the blank templates counties and the province fill in (ingestion/templates/), from the same
column definitions ingestion reads, so a template can never drift from what is accepted.

    python -m ingestion.make_templates            # rewrites ingestion/templates/*

- libraries.csv, barcode_ranges.csv — the registry files exactly as ingested (UTF-8, header only)
- registry_template_zh.xlsx / registry_template_en.xlsx — the same columns with a label row, an example
  row and an instructions sheet, for people who keep the registry in Excel (save each sheet as CSV UTF-8)
- report_template_zh.xlsx / report_template_en.xlsx — the statistics form of service points (服务点统计报表,
  monthly, quarterly or annual), ingestible as is: title, group headers, column headers, 合计/Total row with
  SUM formulas; delivered as report_YYYYMM.xlsx (month), report_YYYYQn.xlsx (quarter) or report_YYYY.xlsx (year),
  and the title, when it names a period (2018年3月, 2018年第1季度, 2018年), must name the same one
- report_template_zh.csv / report_template_en.csv — the same form as CSV (title, headers, 合计/Total row;
  fill the rows in between and the totals), delivered as report_YYYYMM.csv / report_YYYYQn.csv / report_YYYY.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

from ingestion.feeds import HEADERS, LEVELS
from ingestion.readers import FORM_COLUMNS, FORM_COLUMNS_EN

TEMPLATES = Path(__file__).resolve().parent / "templates"

LABELS = {
    "zh": {
        "library_code": "馆代码(9位)", "name_zh": "中文名称", "name_en": "英文名称", "level": "层级",
        "parent_code": "上级馆代码", "division_code": "行政区划代码", "population_served": "服务人口",
        "valid_from": "生效日期", "valid_to": "失效日期(不含)", "floor_area_m2": "面积(平方米)", "seats": "座位数",
        "children_seats": "少儿座位数", "networked_pcs": "联网计算机", "weekly_open_hours": "周开放时长(小时)",
        "staff": "工作人员", "periodicals": "报刊种数", "source_system": "业务系统",
        "kind": "类型(reader读者/item图书)", "first_barcode": "起始条码", "last_barcode": "结束条码",
    },
    "en": {
        "library_code": "Library code (9 digits)", "name_zh": "Chinese name", "name_en": "English name",
        "level": "Level", "parent_code": "Parent library code", "division_code": "Division code (GB/T 2260)",
        "population_served": "Population served", "valid_from": "Valid from", "valid_to": "Valid to (exclusive)",
        "floor_area_m2": "Floor area (m²)", "seats": "Seats", "children_seats": "Children's seats",
        "networked_pcs": "Networked PCs", "weekly_open_hours": "Weekly opening hours", "staff": "Staff",
        "periodicals": "Periodicals", "source_system": "Source system", "kind": "Kind (reader/item)",
        "first_barcode": "First barcode", "last_barcode": "Last barcode",
    },
}
EXAMPLES = {
    "libraries": ["532622003", "砚山县者腊乡分馆", "Zhela Township Branch", "branch", "532622000", "532622103",
                  "30000", "2018-03-01", "", "160", "32", "10", "2", "42", "2", "30", "interlib"],
    "barcode_ranges": ["reader", "532622003000001", "532622003999999", "532622003"],
}
GUIDE = {
    "zh": [
        "填写说明",
        "1. 每个工作表另存为 CSV (UTF-8) 文件: libraries.csv 与 barcode_ranges.csv, 只保留英文列名行和数据行。",
        "2. 日期格式 YYYY-MM-DD; 失效日期为空表示仍有效; 馆迁移、更名、撤销时新增一行 (历史保留)。",
        f"3. 层级取值: {', '.join(LEVELS)}。",
        "4. 馆代码 = 县级行政区划代码(6位) + 3位: 000 总馆, 001-099 分馆, 100-899 服务点, 900-949 流动服务车, "
        "950-999 自助图书馆。",
        "5. 条码段: 读者证 15 位 (馆代码 + 6 位序号); 图书 16 位 (县代码后4位 + 3位 + 9位序号)。",
    ],
    "en": [
        "How to fill in",
        "1. Save each sheet as a CSV (UTF-8) file, libraries.csv and barcode_ranges.csv, keeping only the row of "
        "English column names and the data rows.",
        "2. Dates are YYYY-MM-DD; a blank valid_to means still valid; a library that moves, is renamed or closes "
        "gets a new row (history is kept).",
        f"3. Levels: {', '.join(LEVELS)}.",
        "4. Library code = county division code (6) + 3 digits: 000 main library, 001-099 branches, 100-899 "
        "service points, 900-949 book vans, 950-999 self-service libraries.",
        "5. Barcode ranges: reader cards 15 digits (library code + 6-digit serial); items 16 digits (last 4 digits "
        "of the county code + 3 + 9-digit serial).",
    ],
}
FORM_TEXT = {
    "zh": {"title": "XX县服务点统计报表 YYYY年M月 (月报) / YYYY年第N季度 (季报) / YYYY年 (年报)",
           "groups": ("基本信息", "服务", "资源", "其他"), "total": "合计",
           "columns": list(FORM_COLUMNS), "sheet": "服务点月度统计报表"},
    "en": {"title": "XX County service points statistics YYYY-MM (monthly) / YYYY-Qn (quarterly) / YYYY (annual)",
           "groups": ("Basic information", "Services", "Resources", "Other"), "total": "Total",
           "columns": list(FORM_COLUMNS_EN), "sheet": "Monthly report"},
}


def write_csv_templates() -> None:
    for feed in ("libraries", "barcode_ranges"):
        (TEMPLATES / f"{feed}.csv").write_text(",".join(HEADERS[feed]) + "\n", encoding="utf-8")


def write_report_csv(lang: str) -> Path:
    """The monthly form as CSV (UTF-8 with BOM so Excel shows the Chinese): title, headers, Total row."""
    text = FORM_TEXT[lang]
    path = TEMPLATES / f"report_template_{lang}.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([text["title"]])
        writer.writerow(text["columns"])
        writer.writerow([text["total"]])
    return path


def write_registry_xlsx(lang: str) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    guide = wb.active
    guide.title = "说明" if lang == "zh" else "Instructions"
    for i, line in enumerate(GUIDE[lang], start=1):
        guide.cell(row=i, column=1, value=line).font = Font(bold=(i == 1))
    guide.column_dimensions["A"].width = 120
    for feed in ("libraries", "barcode_ranges"):
        ws = wb.create_sheet(feed)
        columns = HEADERS[feed]
        ws.append([LABELS[lang][c] for c in columns])
        ws.append(list(columns))
        ws.append(EXAMPLES[feed])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for i, _ in enumerate(columns, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = 18
    path = TEMPLATES / f"registry_template_{lang}.xlsx"
    wb.save(path)
    return path


def write_report_xlsx(lang: str, rows: int = 30) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    text = FORM_TEXT[lang]
    columns = text["columns"]
    wb = Workbook()
    ws = wb.active
    ws.title = text["sheet"]
    ws.cell(row=1, column=1, value=text["title"]).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    for label, a, b in zip(text["groups"], (1, 3, 9, 12), (2, 8, 11, len(columns)), strict=True):
        ws.cell(row=2, column=a, value=label).alignment = Alignment(horizontal="center")
        ws.merge_cells(start_row=2, start_column=a, end_row=2, end_column=b)
    ws.append(columns)
    for cell in ws[3]:
        cell.font = Font(bold=True)
    first, last = 4, 3 + rows
    total_row = last + 1
    ws.cell(row=total_row, column=1, value=text["total"]).font = Font(bold=True)
    for col in range(3, len(columns) + 1):
        letter = get_column_letter(col)
        ws.cell(row=total_row, column=col, value=f"=SUM({letter}{first}:{letter}{last})")
    for col in range(1, len(columns) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14
    path = TEMPLATES / f"report_template_{lang}.xlsx"
    wb.save(path)
    return path


def main() -> None:
    TEMPLATES.mkdir(exist_ok=True)
    write_csv_templates()
    for lang in ("zh", "en"):
        write_registry_xlsx(lang)
        write_report_xlsx(lang)
        write_report_csv(lang)
    for path in sorted(TEMPLATES.iterdir()):
        print(path.relative_to(TEMPLATES.parent.parent))


if __name__ == "__main__":
    main()
